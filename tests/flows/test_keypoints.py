"""Poses into a skeleton task and back, as a real CVAT 2.73 server took them (CONTRACT.md, COCO Keypoints 1.0): the
standard layout imports, each layout it refused is refused, before sending by the pre-flight and by the server
itself when sent anyway, and CVAT's own export is read back as it was sent."""
from __future__ import annotations
import json

import numpy as np
import pytest
from cvat_sdk import models
from cvat_sdk.core.exceptions import BackgroundRequestException

from cvat_nb import codecs
from cvat_nb.errors import CvatNbError
from cvat_nb.export import for_cvat
from cvat_nb.skeleton import Skeleton
from .conftest import PEOPLE, label_ids, poses

PERSON = Skeleton.from_coco(poses().category("person"))


@pytest.fixture
def pose_task(made):
    return made.task([PERSON.cvat_label(), {"name": "ball", "type": "rectangle"}], PEOPLE)


def import_raw(task, coco:dict, tmp_path) -> str:
    "Send a file as it is (no for_cvat, no pre-flight), as COCO Keypoints 1.0; the server's failure message."
    p = tmp_path / "raw.json"
    p.write_text(json.dumps(coco))
    with pytest.raises(BackgroundRequestException) as e: task.import_annotations("COCO Keypoints 1.0", str(p))
    return str(e.value)


def test_every_pose_comes_back_where_it_was_sent(cv, made, tmp_path):
    "Tutorial 02's round trip: create the task from the poses, upload, download, compare point by point."
    ds = poses()
    tid, _ = cv.create_task(made.name("poses"), ds, PEOPLE[0].parent, out_dir=tmp_path, progress=False)
    made.adopt(tid)
    man = cv.upload(ds, tid, out_dir=tmp_path, progress=False)
    assert (man["format"], man["annotations"]) == ("COCO Keypoints 1.0", 4)
    back = cv.download(tid, tmp_path, progress=False)
    r = cv.review(tid, ds)
    assert r["ok"] and r["returned"] == r["sent"] == 4, r
    for im in ds.images:
        sent, got = ds.anns(im["file_name"]), back.anns(im["file_name"])
        assert len(got) == len(sent) > 0
        for a in sent:
            s = codecs.keypoints_array(a["keypoints"])
            assert any((s[:, 2] == g[:, 2]).all() and np.allclose(s[:, :2], g[:, :2], atol=1e-3)
                       for g in (codecs.keypoints_array(b["keypoints"]) for b in got))
    scores = sorted(round(s["score"], 3) for s in cv.annotations(tid)["shapes"])  # CVAT's own score field
    assert scores == [0.81, 0.81, 0.93, 0.93]


def test_older_per_point_layout_is_turned_into_the_standard_one(cv, pose_task, tmp_path):
    ds = poses()
    old = ds.replace(categories=ds.categories + [dict(id=100 + i, name=k, supercategory="person")
                                                 for i, k in enumerate(PERSON.keypoints)])
    coco = for_cvat(ds).data | {"categories": old.categories}
    assert "\"Label 'person' 'nose' already exists\"" in import_raw(pose_task, coco, tmp_path)  # the server refuses it
    assert cv.upload(old, pose_task.id, out_dir=tmp_path, progress=False)["status"] == "imported"  # for_cvat mends it
    assert len(cv.annotations(pose_task.id)["shapes"]) == 4


def test_more_triplets_than_names_and_boxes_in_a_keypoints_file(cv, pose_task, tmp_path):
    ds = for_cvat(poses())
    more = json.loads(ds.to_json())
    more["annotations"][0]["keypoints"] += [1, 1, 2]
    with pytest.raises(CvatNbError, match="list indices must be integers or slices, not NoneType"):
        cv.upload(more, pose_task.id, out_dir=tmp_path, progress=False)  # the pre-flight, nothing sent
    assert "list indices must be integers or slices, not NoneType" in import_raw(pose_task, more, tmp_path)
    boxed = json.loads(ds.to_json())
    boxed["categories"].append({"id": 9, "name": "ball", "supercategory": "", "keypoints": [], "skeleton": []})
    boxed["annotations"].append({"id": 99, "image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5], "area": 25,
                                 "iscrowd": 0, "segmentation": [], "keypoints": []})
    with pytest.raises(CvatNbError, match="at least one required for skeleton shape"):
        cv.upload(boxed, pose_task.id, out_dir=tmp_path, progress=False, format="COCO Keypoints 1.0")
    assert "at least one required for skeleton shape" in import_raw(pose_task, boxed, tmp_path)
    assert cv.annotations(pose_task.id)["shapes"] == []  # every failed import left the task as it was


def test_fewer_names_than_the_skeleton_is_a_warning_and_those_points_are_lost(cv, pose_task, tmp_path):
    ds = poses()
    keep = PERSON.keypoints[:5]
    cut = ds.replace(categories=[{**ds.category("person"), "keypoints": keep, "skeleton": []}],
                     annotations=[{**a, "keypoints": a["keypoints"][:15]} for a in ds.annotations])
    r = cv.preflight(cut, pose_task.id)
    assert r.ok and r.codes() == {"keypoint-missing": 1}
    cv.upload(cut, pose_task.id, out_dir=tmp_path, progress=False)
    shapes = cv.annotations(pose_task.id)["shapes"]
    assert len(shapes) == 4 and {len(s["elements"]) for s in shapes} == {5}


def test_a_box_grouped_with_a_pose_is_split_back_on_download(cv, pose_task, tmp_path):
    "CVAT's COCO Keypoints export merges a grouped box into its pose's record, which it cannot import again."
    cv.upload(poses(), pose_task.id, out_dir=tmp_path, progress=False, backup=False)
    pose = cv.annotations(pose_task.id)["shapes"][0]
    ids = label_ids(pose_task)
    pose_task.update_annotations(models.PatchedLabeledDataRequest(shapes=[
        dict(type="rectangle", frame=pose["frame"], label_id=ids["ball"], points=[1, 2, 30, 40], group=7)]))
    elements = [{k: e[k] for k in ("id", "type", "frame", "label_id", "points", "outside", "occluded")}
                for e in pose["elements"]]
    pose_task.update_annotations(models.PatchedLabeledDataRequest(shapes=[
        dict(id=pose["id"], type="skeleton", frame=pose["frame"], label_id=pose["label_id"], points=[], group=7,
             score=pose["score"], elements=elements)]))
    raw = pose_task.export_dataset("COCO Keypoints 1.0", tmp_path / "raw.zip", include_images=False)
    assert "list indices must be integers or slices, not NoneType" in import_raw(
        pose_task, json.loads(__import__("zipfile").ZipFile(raw).read("annotations/person_keypoints_default.json")),
        tmp_path)
    back = cv.download(pose_task.id, tmp_path, format="COCO Keypoints 1.0", progress=False)
    names = {c["id"]: c["name"] for c in back.categories}
    kinds = sorted((names[a["category_id"]], bool(a.get("keypoints"))) for a in back.annotations)
    assert kinds == [("ball", False)] + [("person", True)] * 4
    assert cv.preflight(back, pose_task.id, format="COCO Keypoints 1.0").codes().get("keypoint-names") is None


def new_pose_task(cv, made, ds, tmp_path, what="poses"):
    tid, _ = cv.create_task(made.name(what), ds, PEOPLE[0].parent, out_dir=tmp_path, progress=False)
    return made.adopt(tid)


def test_keypoints_go_as_coco_keypoints_without_being_told(cv, made, tmp_path):
    "A pose file is uploaded as COCO Keypoints 1.0 (COCO 1.0 would drop every pose silently), downloaded and reviewed."
    ds = poses()
    task = new_pose_task(cv, made, ds, tmp_path)
    man = cv.upload(ds, task, out_dir=tmp_path, progress=False)
    assert man["format"] == "COCO Keypoints 1.0" and man["annotations"] == len(ds.annotations) > 0
    assert [f["file_name"] for f in man["files"]] == [im["file_name"] for im in ds.images]
    assert [f["frame"] for f in man["files"]] == list(range(len(ds.images)))
    back = cv.download(task, tmp_path, progress=False)  # a task of skeletons: COCO Keypoints 1.0 by default
    assert len([a for a in back.annotations if a.get("keypoints")]) == len(ds.annotations)
    with pytest.raises(CvatNbError, match="drops SILENTLY"):
        cv.upload(ds, task, out_dir=tmp_path, format="COCO 1.0", progress=False)


def test_poses_and_objects_in_one_file_are_refused_with_advice(cv, made, tmp_path):
    ds = poses()
    task = new_pose_task(cv, made, ds, tmp_path)
    mixed = ds.replace(categories=ds.categories + [{"id": 99, "name": "car"}])
    mixed.add_box(mixed.images[0]["id"], "car", [1, 1, 5, 5])
    with pytest.raises(CvatNbError, match="split_keypoints") as e: cv.upload(mixed, task, out_dir=tmp_path, progress=False)
    assert "'car'" in str(e.value) and "mode='append'" in str(e.value)
    assert cv.annotations(task)["shapes"] == [] and not list(tmp_path.glob("*upload*.json"))


def test_review_sees_a_dragged_keypoint_and_an_occluded_one(cv, made, tmp_path):
    "Edits made in CVAT after the upload (a point dragged by 20 px, one marked occluded) show up in the review."
    ds = poses()
    task = new_pose_task(cv, made, ds, tmp_path)
    cv.upload(ds, task, out_dir=tmp_path, backup=False, progress=False)
    pose = cv.annotations(task)["shapes"][0]
    visible = [e for e in pose["elements"] if not e["outside"] and not e["occluded"]]
    assert len(visible) >= 2
    visible[0]["points"] = [visible[0]["points"][0] + 20, visible[0]["points"][1]]
    visible[1]["occluded"] = True
    cv.client.tasks.retrieve(task).update_annotations(models.PatchedLabeledDataRequest(shapes=[pose]))
    r = cv.review(task, ds)
    (c,) = r["changed"]
    assert "keypoints moved" in c["status"] and "20.0 px" in c["status"] and "visibility changed" in c["status"]
    assert "2→1" in c["status"] and not r["ok"]


def test_pose_boxes_larger_than_their_points_still_pair_in_review(cv, made, tmp_path):
    "A file's pose boxes are often bigger than the points; CVAT rebuilds them from the points. Review pairs by points."
    ds = poses()
    def grow(a, f=1.7):
        x, y, w, h = a["bbox"]
        return {**a, "bbox": [x + w / 2 - f * w / 2, y + h / 2 - f * h / 2, f * w, f * h]}
    big = ds.replace(annotations=[grow(a) for a in ds.annotations])
    task = new_pose_task(cv, made, big, tmp_path)
    cv.upload(big, task, out_dir=tmp_path, backup=False, progress=False)
    r = cv.review(task, big)
    assert r["ok"] and r["changed"] == [], r["changed"]
    assert r["counts"]["person"] == {"matched": len(ds.annotations)} and len(ds.annotations) > 0


def test_two_skeletons_sharing_point_names(cv, made, tmp_path):
    "A 'person' and a 'statue' skeleton both with 'nose', ...: each skeleton's category names its own points."
    ds = poses()
    person = ds.category("person")
    moved = lambda k: [v + 3 if i % 3 != 2 else v for i, v in enumerate(k)]
    both = ds.replace(categories=ds.categories + [{**person, "id": 500, "name": "statue"}],
                      annotations=ds.annotations + [{**a, "id": 1000 + a["id"], "category_id": 500,
                                                     "keypoints": moved(a["keypoints"])} for a in ds.annotations])
    task = new_pose_task(cv, made, both, tmp_path, "two skeletons")
    assert sorted(l["name"] for l in cv.task_info(task)["labels"]) == ["person", "statue"]
    assert cv.preflight(both, task).ok  # CONTRACT: the standard layout, points matched by name within a skeleton
    man = cv.upload(both, task, out_dir=tmp_path, backup=False, progress=False)
    assert man["format"] == "COCO Keypoints 1.0" and man["annotations"] == 2 * len(ds.annotations)
    r = cv.review(task, both)
    assert r["ok"] and r["returned"] == 2 * len(ds.annotations), r["changed"]
