"""`cvat_nb.cvat` without a server: preflight, fix_for_task, match_frames and task_labels on plain data, and the
subcommands' help. The flows against a server (connect, find, create, upload, download, restore, review, keypoints,
attributes, the command line) are in tests/flows/, which speak to the server only through its API."""
from __future__ import annotations
import contextlib, copy, io, json
from pathlib import Path

import pytest

pytest.importorskip("cvat_sdk")
from cvat_nb.coco import Dataset
from cvat_nb.errors import CvatNbError
from cvat_nb.cvat import preflight, fix_for_task, match_frames, task_labels, upload_format

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples/coco/instances_default.json"
LABELS = [{"name": "car", "type": "polygon"}, {"name": "person", "type": "mask"}, {"name": "sign", "type": "any"}]
FRAMES = [dict(name=f"street_0{i}.jpg", width=480, height=320) for i in range(1, 5)]



def sample() -> Dataset:
    return Dataset(json.loads(SAMPLE.read_text()))


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
# backup and restore against the stand-in (upload, download: tests/flows/test_tasks.py)

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


def test_task_labels_plain_and_skeleton():
    ds = Dataset({"images": [], "annotations": [], "categories": [
        dict(id=1, name="car"), dict(id=2, name="person", keypoints=["nose", "tail"], skeleton=[[1, 2]]),
        dict(id=3, name="nose", supercategory="person"), dict(id=4, name="tail", supercategory="person")]})
    labels = task_labels(ds)
    assert [(l["name"], l["type"]) for l in labels] == [("car", "any"), ("person", "skeleton")]
    assert [s["name"] for s in labels[1]["sublabels"]] == ["nose", "tail"]
    assert all(s["type"] == "points" for s in labels[1]["sublabels"]) and "data-label-name" in labels[1]["svg"]


@pytest.mark.parametrize("name", ["tasks", "check", "upload", "download", "create-task", "standin", "restore"])
def test_cli_help_has_example(name):
    with contextlib.redirect_stdout(io.StringIO()) as o, pytest.raises(SystemExit) as e:
        from cvat_nb.cli import main
        main([name, "--help"])
    assert e.value.code == 0 and "example:" in o.getvalue()
