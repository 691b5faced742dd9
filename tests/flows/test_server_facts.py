"""What a real CVAT 2.73 server was seen answering (tests/data/cvat/observed.json, from CONTRACT.md and the run against
a real server), checked against the server these tests run on: the stand-in by default, or `--cvat-url`."""
from __future__ import annotations
import json, zipfile
from pathlib import Path

import pytest
from cvat_sdk import models
from cvat_sdk.api_client.exceptions import ApiException

from cvat_nb.skeleton import Skeleton
from .conftest import LABELS, STREET, label_ids

OBSERVED = json.loads((Path(__file__).resolve().parents[1] / "data/cvat/observed.json").read_text())
POSE = Skeleton("person", ["nose", "eye_l", "eye_r"], [("eye_l", "eye_r"), ("nose", "eye_l"), ("nose", "eye_r")])
KP_LABELS = [POSE.cvat_label(), {"name": "ball", "type": "rectangle"}]


def put(task, shapes=(), tags=()):
    task.set_annotations(models.LabeledDataRequest(shapes=list(shapes), tags=list(tags)))


def refused(call) -> tuple:
    with pytest.raises(ApiException) as e: call()
    return e.value.status, json.loads(e.value.body)


def skeleton(ids, frame=0, **kw):
    return dict(type="skeleton", frame=frame, label_id=ids["person"], points=[],
                elements=[dict(type="points", frame=frame, label_id=ids[f"person/{n}"], points=[10.0 + i, 20.0])
                          for i, n in enumerate(POSE.keypoints)], **kw)


def test_annotations_carry_every_field_whatever_was_sent(cv, made):
    "A shape sent with four fields comes back with all of them; elements and tags too (the schema's list is laxer)."
    t = made.task(KP_LABELS, STREET[:1])
    ids = label_ids(t)
    put(t, [dict(type="rectangle", frame=0, label_id=ids["ball"], points=[1, 2, 30, 40]), skeleton(ids)],
        [dict(frame=0, label_id=ids["ball"])])
    got = cv.annotations(t.id)
    assert sorted(got) == OBSERVED["annotations_keys"]
    assert len(got["shapes"]) == 2 and len(got["tags"]) == 1
    assert any(s["elements"] for s in got["shapes"])  # the skeleton's: the element check below has work to do
    for s in got["shapes"]:
        assert sorted(s) == OBSERVED["shape_keys"], s
        for e in s["elements"]: assert sorted(e) == OBSERVED["element_keys"], e
    assert sorted(got["tags"][0]) == OBSERVED["tag_keys"]
    box = next(s for s in got["shapes"] if s["type"] == "rectangle")
    assert (box["score"], box["group"], box["occluded"], box["elements"]) == (1.0, 0, False, [])


def test_coordinates_come_back_as_32_bit_floats(cv, made):
    t = made.task(LABELS, STREET[:1])
    put(t, [dict(type="rectangle", frame=0, label_id=label_ids(t)["sign"],
                 points=[OBSERVED["coordinate_sent"], 2, 30, 40])])
    (s,) = cv.annotations(t.id)["shapes"]
    assert s["points"][0] == OBSERVED["coordinate_returned"]  # 100.8 as the 32-bit float nearest to it


def test_unknown_label_is_refused_and_a_frame_outside_the_task_dropped(cv, made):
    t = made.task(LABELS, STREET[:2])
    bad = OBSERVED["unknown_label"]
    box = dict(type="rectangle", frame=0, label_id=label_ids(t)["sign"], points=[1, 2, 30, 40])
    assert refused(lambda: put(t, [{**box, "label_id": bad["label_id"]}])) == (bad["status"], bad["body"])
    put(t, [box, {**box, "frame": 7}])  # frame 7 of a 2-frame task: dropped, not stored, no error
    assert [s["frame"] for s in cv.annotations(t.id)["shapes"]] == [0]


def test_patch_create_update_delete(cv, made):
    t = made.task(LABELS, STREET[:1])
    sign = label_ids(t)["sign"]
    box = dict(type="rectangle", frame=0, label_id=sign, points=[1, 2, 30, 40])
    put(t, [box])
    t.update_annotations(models.PatchedLabeledDataRequest(shapes=[{**box, "points": [5, 5, 9, 9]}]),
                         action=_action("create"))
    shapes = cv.annotations(t.id)["shapes"]
    assert sorted(s["points"][0] for s in shapes) == [1.0, 5.0]
    first = next(s for s in shapes if s["points"][0] == 1.0)
    t.update_annotations(models.PatchedLabeledDataRequest(shapes=[dict(box, id=first["id"], points=[2, 2, 8, 8],
                                                                       score=0.5)]), action=_action("update"))
    after = {s["id"]: s for s in cv.annotations(t.id)["shapes"]}
    assert after[first["id"]]["points"] == [2.0, 2.0, 8.0, 8.0] and after[first["id"]]["score"] == 0.5
    t.remove_annotations(ids=[first["id"]])
    assert [s["points"][0] for s in cv.annotations(t.id)["shapes"]] == [5.0]


def _action(name):
    from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
    return AnnotationUpdateAction(name)


def test_preview_frames_and_chunk_without_number(cv, made):
    t = made.task(LABELS, STREET[:2])
    api = cv.client.api_client.tasks_api
    _, r = api.retrieve_preview(t.id, _parse_response=False)
    assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg" and r.data[:2] == b"\xff\xd8"
    _, r = api.retrieve_data(t.id, type="frame", number=1, quality="compressed", _parse_response=False)
    assert r.status == 200 and r.headers["Content-Type"].startswith("image/") and len(r.data) > 1000
    want = OBSERVED["chunk_without_number"]
    with pytest.raises(ApiException) as e: api.retrieve_data(t.id, type="chunk", _parse_response=False)
    assert (e.value.status, json.loads(e.value.body)) == (want["status"], want["body"])


def test_task_without_data_has_no_size(cv, made):
    t = made.empty_task()
    _, r = cv.client.api_client.tasks_api.retrieve(t.id, _parse_response=False)
    body = json.loads(r.data)
    assert not set(OBSERVED["task_without_data_lacks"]) & set(body)
    listed = cv.list_tasks(name=t.name)
    assert [(x["id"], x["size"]) for x in listed] == [(t.id, None)]


def test_coco_exports_attributes_and_keypoint_categories(cv, made, tmp_path):
    "COCO 1.0: rotation on rectangles only; COCO Keypoints 1.0: top-level categories, ids counting sublabels."
    t = made.task(KP_LABELS + [{"name": "car", "type": "polygon"}], STREET[:1])
    ids = label_ids(t)
    put(t, [dict(type="rectangle", frame=0, label_id=ids["ball"], points=[1, 2, 30, 40]),
            dict(type="polygon", frame=0, label_id=ids["car"], points=[50, 50, 90, 50, 90, 80]), skeleton(ids)])
    out = t.export_dataset("COCO 1.0", tmp_path / "c.zip", include_images=False)
    with zipfile.ZipFile(out) as z: coco = json.loads(z.read("annotations/instances_default.json"))
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by = {names[a["category_id"]]: a for a in coco["annotations"]}
    assert by["ball"]["attributes"] == OBSERVED["coco_export_rectangle_attributes"]
    assert sorted(by["car"]["attributes"]) == OBSERVED["coco_export_polygon_attribute_keys"]
    out = t.export_dataset("COCO Keypoints 1.0", tmp_path / "k.zip", include_images=False)
    with zipfile.ZipFile(out) as z: kp = json.loads(z.read("annotations/person_keypoints_default.json"))
    want = OBSERVED["coco_keypoints_export_categories"]
    got = [{**c, "skeleton": sorted(c["skeleton"])} for c in kp["categories"][:2]]
    assert got == [{**c, "skeleton": sorted(c["skeleton"])} for c in want]
    (pose,) = [a for a in kp["annotations"] if a["category_id"] == 1]
    assert pose["attributes"] == OBSERVED["coco_keypoints_export_pose_attributes"] and pose["segmentation"] == []
