"""The whole CVAT flow against the stand-in server with the REAL cvat-sdk: create a task from local images, upload,
review the round trip, and the `cvat-nb` subcommands that talk to a server (tasks, check, upload, download)."""
from __future__ import annotations
import contextlib, io, json, shutil
from pathlib import Path

import pytest

pytest.importorskip("cvat_sdk")
from cvat_nb.coco import Dataset
from cvat_nb.errors import CvatNbError
from cvat_nb.standin import StandIn
from cvat_nb.cvat import connect, roundtrip, task_labels
from cvat_nb.export import for_cvat

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
SAMPLE, IMAGES = REPO / "samples/coco/instances_default.json", REPO / "samples/images"
USER, PASSWORD, TOKEN = "django", "Pw-s3cret-9", "pat-s3cret-123"
LABELS = [{"name": "car", "type": "polygon"}, {"name": "person", "type": "mask"}, {"name": "sign", "type": "any"}]
FRAMES = [dict(name=f"street_0{i}.jpg", width=480, height=320) for i in range(1, 5)]


@pytest.fixture
def server():
    with StandIn(users={USER: PASSWORD}, tokens={TOKEN: USER}) as s:
        yield s


@pytest.fixture
def cv(server):
    with connect(server.url, token=TOKEN, poll=0.02) as c:
        yield c


@pytest.fixture
def tid(server):
    t = server.add_task("street", LABELS)
    server.add_frames(t, FRAMES)
    return t


def sample() -> Dataset:
    return Dataset(json.loads(SAMPLE.read_text()))


def reordered() -> Dataset:
    "The sample with its images in a non-lexicographic order, to see that the task keeps the dataset's order."
    ds = sample()
    order = ["street_03.jpg", "street_01.jpg", "street_04.jpg", "street_02.jpg"]
    return ds.replace(images=sorted(ds.images, key=lambda im: order.index(im["file_name"])))


# ---------------------------------------------------------------------------------------------------------------
# create_task

def test_task_labels_plain_and_skeleton():
    ds = Dataset({"images": [], "annotations": [], "categories": [
        dict(id=1, name="car"), dict(id=2, name="person", keypoints=["nose", "tail"], skeleton=[[1, 2]]),
        dict(id=3, name="nose", supercategory="person"), dict(id=4, name="tail", supercategory="person")]})
    labels = task_labels(ds)
    assert [(l["name"], l["type"]) for l in labels] == [("car", "any"), ("person", "skeleton")]
    assert [s["name"] for s in labels[1]["sublabels"]] == ["nose", "tail"]
    assert all(s["type"] == "points" for s in labels[1]["sublabels"]) and "data-label-name" in labels[1]["svg"]


def test_create_task_frames_in_dataset_order(cv, server, tmp_path):
    ds = reordered()
    task, path = cv.create_task("street-new", ds, IMAGES, out_dir=tmp_path)
    names = [im["file_name"] for im in ds.images]
    assert [f["name"] for f in server.tasks[task]["frames"]] == names
    assert server.tasks[task]["image_quality"] == 95
    assert [l["name"] for l in server.tasks[task]["labels"]] == ["car", "person", "sign"]
    m = json.loads(Path(path).read_text())
    assert Path(path).parent == tmp_path and m["task"] == task
    assert m["frames"] == [dict(frame=i, name=n, file_name=n) for i, n in enumerate(names)]
    assert [f["name"] for f in cv.task_info(task)["frames"]] == names


def test_create_task_keeps_file_names_with_folders(cv, server, tmp_path):
    (tmp_path / "imgs/a").mkdir(parents=True)
    shutil.copy(IMAGES / "street_01.jpg", tmp_path / "imgs/a/street_01.jpg")
    shutil.copy(IMAGES / "street_02.jpg", tmp_path / "imgs/street_02.jpg")
    ds = sample().subset(["street_01.jpg", "street_02.jpg"]).rename({"street_01.jpg": "a/street_01.jpg"})
    task, path = cv.create_task("folders", ds, tmp_path / "imgs", out_dir=tmp_path)
    m = json.loads(Path(path).read_text())
    assert [(f["name"], f["file_name"]) for f in m["frames"]] == [("street_01.jpg", "a/street_01.jpg"),
                                                                   ("street_02.jpg", "street_02.jpg")]


def test_create_task_refuses_duplicate_basenames_before_sending(cv, server, tmp_path):
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    for d in "ab": shutil.copy(IMAGES / "street_01.jpg", tmp_path / d / "street_01.jpg")
    ds = sample().subset(["street_01.jpg", "street_02.jpg"])
    ds = ds.rename({"street_01.jpg": "a/street_01.jpg", "street_02.jpg": "b/street_01.jpg"})
    with pytest.raises(CvatNbError, match="base name"):
        cv.create_task("dup", ds, tmp_path, out_dir=tmp_path)
    assert server.tasks == {}  # nothing was created
    assert not list(tmp_path.glob("*.json"))


def test_create_task_missing_image_refused(cv, server, tmp_path):
    ds = sample().rename({"street_04.jpg": "nowhere.jpg"})
    with pytest.raises(CvatNbError, match="not found"): cv.create_task("missing", ds, IMAGES, out_dir=tmp_path)
    assert server.tasks == {}


# ---------------------------------------------------------------------------------------------------------------
# upload → review

def test_create_upload_review_everything_matched(cv, server, tmp_path):
    ds = sample()
    task, _ = cv.create_task("flow", ds, IMAGES, out_dir=tmp_path)
    cv.upload(ds, task, out_dir=tmp_path, backup=False)
    r = cv.review(task, ds)
    assert r["ok"], r["changed"]
    assert r["changed"] == [] and r["missing_images"] == []
    assert r["sent"] == r["returned"] == len(ds.annotations)
    per = {c["name"]: sum(a["category_id"] == c["id"] for a in ds.annotations) for c in ds.categories}
    for name, n in per.items(): assert r["counts"][name]["matched"] == n, (name, r["counts"][name])
    n_masks = sum(isinstance(a["segmentation"], dict) for a in ds.annotations)
    assert n_masks and r["counts"]["person"]["masks_kept"] == n_masks
    assert not any("masks_lost" in c for c in r["counts"].values())


POSES = REPO / "samples/coco/person_keypoints_default.json"


def test_keypoints_go_as_coco_keypoints_without_being_told(cv, server, tmp_path):
    "A pose file is uploaded as COCO Keypoints 1.0 (COCO 1.0 would drop every pose silently), downloaded and reviewed."
    poses = Dataset.load(POSES)
    task, _ = cv.create_task("poses", poses, REPO / "samples/people", out_dir=tmp_path, progress=False)
    man = cv.upload(poses, task, out_dir=tmp_path, progress=False)
    assert man["format"] == "COCO Keypoints 1.0" and man["annotations"] == len(poses.annotations)
    assert [f["file_name"] for f in man["files"]] == [im["file_name"] for im in poses.images]
    assert [f["frame"] for f in man["files"]] == list(range(len(poses.images)))
    back = cv.download(task, tmp_path, progress=False)  # a task of skeletons: COCO Keypoints 1.0 by default
    assert len([a for a in back.annotations if a.get("keypoints")]) == len(poses.annotations)
    r = cv.review(task, poses)
    assert r["ok"] and r["returned"] == len(poses.annotations), r["changed"]
    with pytest.raises(CvatNbError, match="keypoints-dropped|drops SILENTLY"):
        cv.upload(poses, task, out_dir=tmp_path, format="COCO 1.0", progress=False)


def test_poses_and_objects_in_one_file_are_refused_with_advice(cv, server, tmp_path):
    poses, street = Dataset.load(POSES), sample()
    task, _ = cv.create_task("poses", poses, REPO / "samples/people", out_dir=tmp_path, progress=False)
    car = next(c for c in street.categories if c["name"] == "car")
    mixed = poses.replace(categories=poses.categories + [{**car, "id": 99}])
    mixed.add_box(mixed.images[0]["id"], "car", [1, 1, 5, 5])
    before = server.annotations(task)["shapes"]
    with pytest.raises(CvatNbError, match="no keypoints.*mode='append'|'car'"):
        cv.upload(mixed, task, out_dir=tmp_path, progress=False)
    assert server.annotations(task)["shapes"] == before and not list(tmp_path.glob("*upload*.json"))


def test_append_refused_on_a_server_without_import_mode(cv, server, tid, tmp_path):
    server.version = "2.60.0"
    with pytest.raises(CvatNbError, match=r"CVAT 2.60.0 .* has no import_mode=append .*nothing was sent"):
        cv.upload(sample(), tid, out_dir=tmp_path, mode="append", progress=False)
    assert server.annotations(tid)["shapes"] == [] and list(tmp_path.iterdir()) == []
    assert cv.upload(sample(), tid, out_dir=tmp_path, progress=False)["status"] == "imported"  # replace still works


def test_review_sees_missing_and_lost_masks(cv, server, tid, tmp_path):
    from cvat_nb.codecs import decode_rle, mask_to_polygons
    ds = sample()
    cv.upload(ds, tid, out_dir=tmp_path, backup=False)
    back = cv.download(tid, tmp_path / "back.zip")
    mask = next(a for a in back.annotations if isinstance(a["segmentation"], dict))
    drop = next(a for a in back.annotations if not isinstance(a["segmentation"], dict))
    as_poly = {**mask, "iscrowd": 0, "segmentation":
               mask_to_polygons(decode_rle(mask["segmentation"])).outer}
    changed = back.replace(annotations=[as_poly if a is mask else a for a in back.annotations if a is not drop])
    r = roundtrip(ds, changed)
    assert not r["ok"]
    assert sorted(c["status"] for c in r["changed"]) == ["mask lost", "missing"]
    assert r["counts"]["person"]["masks_lost"] == 1 and r["counts"]["person"]["matched"] == 4


# ---------------------------------------------------------------------------------------------------------------
# the command line (imports cvat_nb.cli: needs the exported notebook)

def run(*argv):
    from cvat_nb.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def env(server, monkeypatch):
    monkeypatch.setenv("CVAT_URL", server.url)
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", TOKEN)
    for k in ("CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ORG"): monkeypatch.delenv(k, raising=False)
    return server


def no_secret(*texts):
    for t in texts: assert TOKEN not in t and PASSWORD not in t


def test_cli_tasks(env, tid):
    env.add_task("other", LABELS)
    code, out, err = run("tasks")
    assert code == 0, err
    assert "street" in out and "other" in out and str(tid) in out
    assert "other\tno data" in out  # CONTRACT: a task without data has no `size` in the server's answer
    code, out, err = run("tasks", "--name", "street")
    assert code == 0 and "street" in out and "other" not in out
    no_secret(out, err)


def test_cli_tasks_password_login(env, tid, monkeypatch):
    monkeypatch.delenv("CVAT_ACCESS_TOKEN")
    monkeypatch.setenv("CVAT_USERNAME", USER); monkeypatch.setenv("CVAT_PASSWORD", PASSWORD)
    code, out, err = run("tasks")
    assert code == 0 and "street" in out
    no_secret(out, err)


def test_cli_bad_token_one_line(env, tid, monkeypatch):
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", "wrong-" + TOKEN)
    code, out, err = run("tasks")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    no_secret(out, err)


def test_cli_check(env, tid, tmp_path):
    code, out, err = run("check", SAMPLE, "--task", tid)
    assert code == 0, out + err
    bad = sample().rename({"street_01.jpg": "train/street_01.png"})
    bad.save(tmp_path / "bad.json")
    code, out, err = run("check", tmp_path / "bad.json", "--task", tid)
    assert code == 1 and "matches no frame" in out + err
    no_secret(out, err)


def test_cli_upload_and_download(env, tid, tmp_path):
    code, out, err = run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path)
    assert code == 0, err
    assert len(env.annotations(tid)["shapes"]) == len(sample().annotations)
    assert list(tmp_path.glob(f"task{tid}_backup_*.zip")) and list(tmp_path.glob(f"task{tid}_upload_*.json"))
    code, out, err = run("upload", SAMPLE, "--task", "street", "--mode", "append", "--no-backup", "--out-dir", tmp_path / "b")
    assert code == 0, err
    assert len(env.annotations(tid)["shapes"]) == 2 * len(sample().annotations)
    assert not list((tmp_path / "b").glob("*backup*"))
    code, out, err = run("download", "--task", tid, "--out", tmp_path / "got.zip")
    assert code == 0, err
    assert len(Dataset.load(tmp_path / "got.zip").annotations) == 2 * len(sample().annotations)
    no_secret(out, err)


def test_cli_upload_refused(env, tid, tmp_path):
    sample().rename({"street_01.jpg": "x/nope.jpg"}).save(tmp_path / "bad.json")
    code, out, err = run("upload", tmp_path / "bad.json", "--task", tid, "--out-dir", tmp_path)
    assert code == 1 and "not uploaded" in err and len(err.strip().splitlines()) == 1
    assert env.annotations(tid)["shapes"] == []


def test_cli_create_task(env, tmp_path):
    code, out, err = run("create-task", "fresh", SAMPLE, "--images", IMAGES, "--out-dir", tmp_path)
    assert code == 0, err
    (task,) = env.tasks
    assert env.tasks[task]["name"] == "fresh" and len(env.tasks[task]["frames"]) == 4
    assert (tmp_path / f"task{task}_frames.json").exists()


def test_cli_url_flag_overrides_env(env, tid, monkeypatch):
    monkeypatch.setenv("CVAT_URL", "http://127.0.0.1:9")
    code, out, err = run("tasks", "--url", env.url)
    assert code == 0 and "street" in out


@pytest.mark.parametrize("name", ["tasks", "check", "upload", "download", "create-task", "standin"])
def test_cli_help_has_example(name):
    with contextlib.redirect_stdout(io.StringIO()) as o, pytest.raises(SystemExit) as e:
        from cvat_nb.cli import main
        main([name, "--help"])
    assert e.value.code == 0 and "example:" in o.getvalue()


def test_review_sees_a_dragged_keypoint_and_a_moved_box(cv, server, tmp_path):
    "Edits made in CVAT after the upload (a point dragged, one marked occluded, a box moved) show up in the review."
    poses = Dataset.load(POSES)
    task, _ = cv.create_task("poses", poses, REPO / "samples/people", out_dir=tmp_path, progress=False)
    cv.upload(poses, task, out_dir=tmp_path, backup=False, progress=False)
    view = server.annotations(task)
    shapes = view["shapes"]
    first = shapes[0]["elements"]
    visible = [e for e in first if not e["outside"] and not e["occluded"]]
    visible[0]["points"] = [visible[0]["points"][0] + 20, visible[0]["points"][1]]
    visible[1]["occluded"] = True
    server.set_shapes(task, [{k: v for k, v in s.items() if k != "id"} for s in shapes])
    r = cv.review(task, poses)
    (c,) = r["changed"]
    assert "keypoints moved" in c["status"] and "20.0 px" in c["status"] and "visibility changed" in c["status"]
    assert "2→1" in c["status"] and not r["ok"]

    street = sample()
    t2, _ = cv.create_task("street", street, IMAGES, out_dir=tmp_path, progress=False)
    cv.upload(street, t2, out_dir=tmp_path, backup=False, progress=False)
    shapes = server.annotations(t2)["shapes"]
    box = next(s for s in shapes if s["type"] == "rectangle")
    x1, y1, x2, y2 = box["points"]
    box["points"] = [x1 + (x2 - x1) / 4, y1, x2 + (x2 - x1) / 4, y2]
    server.set_shapes(t2, [{k: v for k, v in s.items() if k != "id"} for s in shapes])
    (c,) = cv.review(t2, street)["changed"]
    assert c["status"].startswith("moved (IoU 0.6") and c["iou"] < 0.95


def test_pose_boxes_larger_than_their_points_still_pair_in_review(cv, server, tmp_path):
    "A file's pose boxes are often bigger than the points; CVAT rebuilds them from the points. Review pairs by points."
    poses = Dataset.load(POSES)
    def grow(a, f=1.7):
        x, y, w, h = a["bbox"]
        return {**a, "bbox": [x + w / 2 - f * w / 2, y + h / 2 - f * h / 2, f * w, f * h]}
    big = poses.replace(annotations=[grow(a) for a in poses.annotations])
    task, _ = cv.create_task("poses", big, REPO / "samples/people", out_dir=tmp_path, progress=False)
    cv.upload(big, task, out_dir=tmp_path, backup=False, progress=False)
    r = cv.review(task, big)
    assert r["ok"] and r["changed"] == [], r["changed"]
    assert r["counts"]["person"] == {"matched": len(poses.annotations)}


def test_two_skeletons_sharing_point_names(cv, server, tmp_path):
    "A 'person' and a 'statue' skeleton both with 'nose', ...: each skeleton's category names its own points."
    poses = Dataset.load(POSES)
    person = next(c for c in poses.categories if c.get("keypoints"))
    statue = {**person, "id": 500, "name": "statue"}
    moved = lambda k: [v + 3 if i % 3 != 2 else v for i, v in enumerate(k)]
    both = poses.replace(categories=poses.categories + [statue],
                         annotations=poses.annotations + [{**a, "id": 1000 + a["id"], "category_id": 500,
                                                           "keypoints": moved(a["keypoints"])}
                                                          for a in poses.annotations])
    task, _ = cv.create_task("two skeletons", both, REPO / "samples/people", out_dir=tmp_path, progress=False)
    assert sorted(l["name"] for l in cv.task_info(task)["labels"]) == ["person", "statue"]
    assert cv.preflight(both, task).ok  # CONTRACT: the standard layout, points matched by name within a skeleton
    man = cv.upload(both, task, out_dir=tmp_path, backup=False, progress=False)
    assert man["format"] == "COCO Keypoints 1.0" and man["annotations"] == 2 * len(poses.annotations)
    r = cv.review(task, both)
    assert r["ok"], r["changed"]
