"""`cvat_nb.cvat` against the stand-in CVAT server with the REAL cvat-sdk client: connect, find_task, preflight (pure),
fix_for_task, upload (replace, backup, manifest, append, refusal) and download."""
from __future__ import annotations
import copy, json
from pathlib import Path

import pytest

pytest.importorskip("cvat_sdk")
from cvat_nb.coco import Dataset
from cvat_nb.cvat_xml import read_cvat_xml
from cvat_nb.errors import CvatNbError
from cvat_nb.standin import StandIn
from cvat_nb.cvat import connect, preflight, fix_for_task, match_frames, upload_format, Cvat

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples/coco/instances_default.json"
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


def shapes(server, tid):
    return server.annotations(tid)["shapes"]


# ---------------------------------------------------------------------------------------------------------------
# connect

def test_connect_token_and_password(server):
    with connect(server.url, token=TOKEN) as c:
        assert isinstance(c, Cvat) and c.user == USER
        assert repr(c) == f"Cvat(url='{server.url}', user='{USER}')"
    with connect(server.url, username=USER, password=PASSWORD) as c:
        assert c.user == USER and PASSWORD not in repr(c) and TOKEN not in repr(c)


def test_connect_from_environment(server, monkeypatch):
    monkeypatch.setenv("CVAT_URL", server.url)
    monkeypatch.setenv("CVAT_USERNAME", USER)
    monkeypatch.setenv("CVAT_PASSWORD", PASSWORD)
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    with connect() as c: assert c.user == USER
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", TOKEN)
    with connect() as c: assert c.user == USER


@pytest.mark.parametrize("auth", [dict(token="bad-" + TOKEN), dict(username=USER, password=PASSWORD + "x")])
def test_bad_credentials_one_line_without_secret(server, auth):
    with pytest.raises(CvatNbError) as e: connect(server.url, **auth)
    msg = str(e.value)
    assert "\n" not in msg and "refused" in msg
    for s in auth.values():
        if s != USER: assert s not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_missing_settings_and_unreachable(monkeypatch):
    for k in ("CVAT_URL", "CVAT_ACCESS_TOKEN", "CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ORG"): monkeypatch.delenv(k, raising=False)
    with pytest.raises(CvatNbError, match="CVAT_URL"): connect()
    with pytest.raises(CvatNbError, match="no credentials"): connect("http://127.0.0.1:9")
    with pytest.raises(CvatNbError, match="cannot reach") as e: connect("http://127.0.0.1:9", token=TOKEN, retries=0)
    assert TOKEN not in str(e.value)
    with pytest.raises(CvatNbError, match="http://"): connect("127.0.0.1:9", token=TOKEN, retries=0)


# ---------------------------------------------------------------------------------------------------------------
# find_task, task_info

def test_find_task(cv, server, tid):
    assert cv.find_task(tid).id == tid
    assert cv.find_task(str(tid)).id == tid
    assert cv.find_task("street").id == tid
    assert cv.find_task(f"{server.url}/tasks/{tid}").id == tid
    assert cv.find_task(f"{server.url}/tasks/{tid}/jobs/1").id == tid
    with pytest.raises(CvatNbError, match=r"no task 999"): cv.find_task(999)


def test_find_task_missing_and_ambiguous(cv, server, tid):
    with pytest.raises(CvatNbError, match=r"no task named 'Street'.*near: 'street'"): cv.find_task("Street")
    other = server.add_task("street", LABELS)
    with pytest.raises(CvatNbError, match=rf"2 tasks are named 'street' on http:.* \(ids .*{other}"): cv.find_task("street")


def test_task_info(cv, server, tid):
    sk = server.add_task("pose", [{"name": "person", "type": "skeleton",
                                    "sublabels": [{"name": "nose", "type": "points"}, {"name": "eye", "type": "points"}]}])
    server.add_frames(sk, FRAMES[:1])
    info = cv.task_info(sk)
    assert info["labels"] == [dict(name="person", type="skeleton", attributes=[], sublabels=["nose", "eye"],
                                   sublabel_attributes={})]
    info = cv.task_info("street")
    assert info["frames"] == FRAMES and info["size"] == 4 and len(info["jobs"]) == 1
    assert [l["name"] for l in info["labels"]] == ["car", "person", "sign"]


# ---------------------------------------------------------------------------------------------------------------
# preflight: pure, no server

FR = [dict(name="a.jpg", width=4, height=3), dict(name="b.jpg", width=4, height=3)]
LB = [dict(name="car", type="polygon"), dict(name="person", type="skeleton", sublabels=[dict(name="nose"), dict(name="eye")])]


def good(**over):
    d = {"info": {}, "licenses": [], "categories": [dict(id=1, name="car")],
         "images": [dict(id=1, file_name="a.jpg", width=4, height=3), dict(id=2, file_name="b.jpg", width=4, height=3)],
         "annotations": [dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 2, 2], segmentation=[[0, 0, 2, 0, 2, 2]],
                              area=2, iscrowd=0)]}
    d.update(over)
    return Dataset(copy.deepcopy(d))


def codes(ds, frames=FR, labels=LB):
    return set(preflight(ds, frames, labels).codes())


def test_preflight_clean():
    r = preflight(good(), FR, LB)
    assert r.ok and len(r) == 0


@pytest.mark.parametrize("name,ok", [("a.png", True), ("a", True), ("A.jpg", False), ("train/a.jpg", False),
                                     ("images/default/a.jpg", False), ("c.jpg", False)])
def test_preflight_frame_matching(name, ok):
    ds = good()
    ds.images[0]["file_name"] = name
    assert ("no-frame" not in codes(ds)) == ok


def test_preflight_numeric_name_and_duplicates():
    ds = good()
    ds.images[1]["file_name"] = "1.jpg"
    r = preflight(ds, FR, LB)
    assert r.ok and r.codes()["numeric-name"] == 1
    ds = good()
    ds.images[1]["file_name"] = "a.png"
    assert {"same-stem", "duplicate-frame"} <= codes(ds)


def test_preflight_common_prefix_rule():
    frames = [dict(name="d/x/a.jpg", width=4, height=3), dict(name="d/x/b.jpg", width=4, height=3)]
    ds = good()
    ds.images[0]["file_name"], ds.images[1]["file_name"] = "x/a.jpg", "x/b.jpg"
    assert "no-frame" not in codes(ds, frames)


def test_preflight_labels():
    ds = good(categories=[dict(id=1, name="Car"), dict(id=5, name="unused")])
    r = preflight(ds, FR, LB)
    assert r.codes() == {"unknown-label": 1}  # unused categories are fine
    assert "near: 'car'" in str(r)
    ds = good()
    ds.annotations[0]["category_id"] = 7
    assert "undeclared-category" in codes(ds)


def test_preflight_keypoints():
    "CONTRACT (COCO Keypoints 1.0, real 2.73 server): the standard layout imports; names are matched by name."
    kp = dict(id=2, name="person", keypoints=["nose", "eye"], skeleton=[[1, 2]])
    ann = dict(id=2, image_id=1, category_id=2, keypoints=[1, 1, 2, 2, 2, 2], num_keypoints=2, iscrowd=0)
    ds = good(categories=[dict(id=1, name="car", keypoints=[], skeleton=[]), kp]).replace(annotations=[ann])
    assert upload_format(ds) == "COCO Keypoints 1.0" and preflight(ds, FR, LB).ok
    ds.categories[1]["keypoints"] = ["eye", "nose"]  # another order than the task's: fine
    assert preflight(ds, FR, LB).ok
    ds.categories[1]["keypoints"] = ["nose", "ear"]
    assert "keypoint-names" in codes(ds)  # 'ear' is not registered: the import fails
    assert "not-skeleton" in codes(ds, FR, [dict(name="car"), dict(name="person", type="points")])
    fewer = ds.replace(categories=[ds.categories[0], {**kp, "keypoints": ["nose"]}],
                       annotations=[{**ann, "keypoints": [1, 1, 2]}])
    r = preflight(fewer, FR, LB)
    assert r.ok and r.codes() == {"keypoint-missing": 1} and "lost, not marked absent" in str(r)


def test_preflight_format_traps():
    "Each layout the real server refused (CONTRACT.md, COCO Keypoints 1.0 table) is an error before anything is sent."
    kp = dict(id=2, name="person", keypoints=["nose", "eye"], skeleton=[[1, 2]])
    car = dict(id=1, name="car", keypoints=[], skeleton=[])
    per_point = [dict(id=3, name="nose", supercategory="person"), dict(id=4, name="eye", supercategory="person")]
    ann = dict(id=2, image_id=1, category_id=2, keypoints=[1, 1, 2, 2, 2, 2], num_keypoints=2, iscrowd=0)
    mixed = good(categories=[car, kp])
    mixed.annotations.append(ann)
    assert upload_format(mixed) == "COCO Keypoints 1.0"
    r = preflight(mixed, FR, LB)
    assert r.codes() == {"not-keypoints": 1} and "'car'" in str(r) and "mode='append'" in str(r)
    assert "at least one required for skeleton shape" in str(r)
    assert preflight(mixed, FR, LB, format="COCO 1.0").codes() == {"keypoints-dropped": 1}
    poses = mixed.replace(annotations=[ann], categories=[car, kp, *per_point])
    r = preflight(poses, FR, LB)
    assert r.codes() == {"keypoint-layout": 2} and "Label 'person' 'nose' already exists" in str(r)
    poses = mixed.replace(annotations=[ann], categories=[dict(id=1, name="car"), kp])
    assert preflight(poses, FR, LB).codes() == {"keypoints-field": 2}  # car lacks both lists
    poses = mixed.replace(annotations=[{**ann, "keypoints": [1, 1, 3, 2, 2, 2]}])
    assert preflight(poses, FR, LB).codes() == {"bad-visibility": 1}
    poses = mixed.replace(annotations=[{**ann, "keypoints": [1, 1, 2]}])
    assert preflight(poses, FR, LB).codes() == {"keypoint-count": 1}
    poses = mixed.replace(annotations=[{**ann, "keypoints": [1, 1, 2] * 3}])
    r = preflight(poses, FR, LB)
    assert r.codes() == {"keypoint-count": 1} and "list indices must be integers or slices, not NoneType" in str(r)
    merged = mixed.replace(annotations=[{**ann, "category_id": 1}])  # CVAT's own export of a box grouped with a pose
    r = preflight(merged, FR, LB)
    assert r.codes() == {"keypoint-names": 1} and "split_merged_poses" in str(r)
    with pytest.raises(ValueError, match="format must be one of"): preflight(poses, FR, LB, format="YOLO 1.1")


def test_preflight_rle_ids_iscrowd_sections_orphans():
    ds = good()
    ds.annotations[0]["segmentation"] = {"size": [4, 3], "counts": [12]}
    assert "rle-size" in codes(ds)
    ds.annotations[0]["segmentation"] = {"size": [3, 4], "counts": [12]}
    assert "rle-size" not in codes(ds)
    ds = good()
    ds.images[0]["id"] = ds.annotations[0]["image_id"] = 0
    assert "bad-id" in codes(ds)
    ds = good()
    del ds.annotations[0]["iscrowd"]
    r = preflight(ds, FR, LB)
    assert r.ok and r.codes() == {"no-iscrowd": 1}
    ds = good()
    del ds.data["licenses"], ds.data["info"]
    assert preflight(ds, FR, LB).codes()["missing-section"] == 2
    ds = good()
    ds.annotations[0]["image_id"] = 42
    r = preflight(ds, FR, LB)
    assert r.codes() == {"unknown-image": 1} and "SILENTLY" in str(r)


def test_fix_for_task():
    ds = good()
    ds.images[0]["file_name"] = "train/a.png"
    ds.images.append(dict(id=3, file_name="train/zz.png", width=4, height=3))
    ds.annotations.append(dict(id=2, image_id=3, category_id=1, bbox=[0, 0, 1, 1], segmentation=[], iscrowd=0))
    fixed, changes = fix_for_task(ds, FR)
    assert [im["file_name"] for im in fixed.images] == ["a.jpg", "b.jpg"]
    assert [a["id"] for a in fixed.annotations] == [1]
    assert changes == ["renamed 'train/a.png' → 'a.jpg'", "dropped 'train/zz.png' and its 1 annotation(s): the task has no such frame"]
    assert preflight(fixed, FR, LB).ok
    assert ds.images[0]["file_name"] == "train/a.png"  # the input is not changed
    assert fix_for_task(good(), FR)[1] == []


def test_match_frames_numbers():
    assert match_frames(["0", "1", "2"], FR) == [(0, "number"), (1, "number"), (None, None)]


# ---------------------------------------------------------------------------------------------------------------
# upload, download

def test_backup_keeps_what_coco_cannot_and_restore_puts_it_back(cv, server, tid, tmp_path):
    "Work done in CVAT that COCO has no place for (a polyline, an ellipse, a rotated box, a tag, a group) survives a "
    "careless replace: the backup is CVAT's XML, and restore imports it as CVAT 1.1."
    lab = {l["name"]: l["id"] for l in server.tasks[tid]["labels"]}
    def shape(type, label, points, **kw):
        return {**dict(type=type, frame=0, label_id=lab[label], group=0, source="manual", occluded=False,
                       outside=False, z_order=0, rotation=0.0, points=points, attributes=[], elements=[]), **kw}
    work = [shape("polyline", "sign", [1.0, 1.0, 50.5, 20.25, 90.0, 3.0]),
            shape("ellipse", "car", [100.0, 80.0, 130.0, 60.0], occluded=True),
            shape("rectangle", "car", [10.0, 10.0, 40.0, 30.0], rotation=30.0, group=4, z_order=2),
            shape("polygon", "car", [5.0, 5.0, 25.0, 5.0, 25.0, 20.0], group=4, frame=2)]
    tags = [dict(frame=1, label_id=lab["sign"], group=0, source="manual", attributes=[])]
    server.set_shapes(tid, work, tags=tags)
    before = server.annotations(tid)
    man = cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    assert man["backup_format"] == "CVAT for images 1.1" and server.annotations(tid)["tags"] == []
    (mf,) = tmp_path.glob(f"task{tid}_upload_*.json")
    assert cv.restore(tid, mf, out_dir=tmp_path / "before", progress=False) == tid  # the manifest names its backup
    after = server.annotations(tid)
    strip = lambda xs: [{k: v for k, v in x.items() if k != "id"} for x in xs]
    assert strip(after["shapes"]) == strip(before["shapes"]) and strip(after["tags"]) == strip(before["tags"])
    with pytest.raises(CvatNbError, match="no backup file here"): cv.restore(tid, tmp_path / "nope.zip")


def test_upload_replace_backup_manifest_download(cv, server, tid, tmp_path):
    server.set_shapes(tid, [dict(type="rectangle", frame=0, label_id=server.tasks[tid]["labels"][0]["id"], group=0,
                                 source="manual", occluded=False, outside=False, z_order=0, rotation=0.0,
                                 points=[1.0, 1.0, 5.0, 5.0], attributes=[], elements=[])])
    ds = sample()
    man = cv.upload(ds, "street", out_dir=tmp_path)
    assert len(shapes(server, tid)) == len(ds.annotations)
    assert man["task_id"] == tid and man["mode"] == "replace" and man["format"] == "COCO 1.0"
    assert man["annotations"] == len(ds.annotations) and man["server_version"] == "2.73.0"
    backup = Path(man["backup"])
    assert backup.parent == tmp_path and backup.exists()
    assert len(read_cvat_xml(backup)[0].annotations) == 1  # the old rectangle
    written = [p for p in tmp_path.glob("*.json")]
    assert len(written) == 1 and json.loads(written[0].read_text()) == man
    text = written[0].read_text()
    assert TOKEN not in text and PASSWORD not in text
    back = cv.download(tid, tmp_path / "out.zip")
    assert (tmp_path / "out.zip").exists()
    assert len(back.annotations) == len(ds.annotations)
    masks = lambda d: sum(isinstance(a.get("segmentation"), dict) for a in d.annotations)
    assert masks(back) == masks(ds) > 0


def test_upload_append(cv, server, tid, tmp_path):
    n = len(sample().annotations)
    cv.upload(sample(), tid, out_dir=tmp_path)
    man = cv.upload(sample(), tid, mode="append", out_dir=tmp_path)
    assert man["mode"] == "append" and man["backup"] is None
    assert len(shapes(server, tid)) == 2 * n
    with pytest.raises(CvatNbError, match="mode must be"): cv.upload(sample(), tid, mode="merge", out_dir=tmp_path)


def test_rejected_upload_is_not_sent(cv, server, tid, tmp_path):
    cv.upload(sample(), tid, out_dir=tmp_path)
    before, files = server.annotations(tid), set(tmp_path.iterdir())
    n_requests = len(server.requests)
    ds = sample()
    ds.images[0]["file_name"] = "Street_01.jpg"
    with pytest.raises(CvatNbError, match="not uploaded") as e: cv.upload(ds, tid, out_dir=tmp_path)
    assert "matches no frame" in str(e.value) and e.value.report.codes()["no-frame"] == 1
    assert server.annotations(tid) == before and len(server.requests) == n_requests
    assert set(tmp_path.iterdir()) == files  # no backup, no manifest


def test_server_failure_becomes_error_with_hint(cv, server, tid, tmp_path, monkeypatch):
    import cvat_nb.cvat as m
    monkeypatch.setattr(m, "preflight", lambda *a, **k: m.Report([]))  # let a bad file through to the server
    ds = sample()
    ds.images[0]["file_name"] = "Street_01.jpg"
    before = server.annotations(tid)
    with pytest.raises(CvatNbError, match=r"Could not match item id: 'Street_01'.*fix_for_task") as e:
        cv.upload(ds, tid, out_dir=tmp_path, backup=False)
    assert "\n" not in str(e.value)
    assert server.annotations(tid)["shapes"] == before["shapes"]


def test_cvat_preflight_and_fix_round_trip(cv, server, tid, tmp_path):
    ds = sample().rename(lambda n: f"train/{n[:-4]}.png")
    assert cv.preflight(ds, tid).codes()["no-frame"] == 4
    fixed, changes = fix_for_task(ds, cv.task_info(tid)["frames"])
    assert len(changes) == 4 and cv.preflight(fixed, tid).ok
    cv.upload(fixed, tid, out_dir=tmp_path)
    assert len(shapes(server, tid)) == len(ds.annotations)


def test_validate_accepts_point_names_shared_by_two_skeletons():
    "CVAT scopes a skeleton's points to it: 'nose' under 'person' and under 'dog' are two labels, not a clash."
    from cvat_nb.export import for_cvat
    from cvat_nb.validate import validate
    ds = Dataset({"images": [], "annotations": [], "categories": [
        dict(id=1, name="person", keypoints=["nose", "tail"]), dict(id=2, name="dog", keypoints=["nose", "tail"]),
        dict(id=3, name="tail")]})  # and a top-level category with a point's name
    r = validate(for_cvat(ds), target="cvat")
    assert "duplicate-category-name" not in r.codes() and "cvat-keypoint-layout" not in r.codes(), str(r)
    dup = ds.replace(categories=ds.categories + [dict(id=4, name="tail")])
    assert validate(dup, target="cvat").codes()["duplicate-category-name"] == 1  # two top-level 'tail's still clash
