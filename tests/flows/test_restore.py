"""A backup puts back exactly what was there: every field of every shape, track and tag (scores, attributes, groups,
skeleton elements, z-order, sources), through the server's own annotations API."""
from __future__ import annotations
import json

import pytest
from cvat_sdk import models

from cvat_nb.coco import Dataset
from cvat_nb.cvat import annotation_differences
from cvat_nb.errors import CvatNbError
from cvat_nb.skeleton import Skeleton
from .conftest import STREET, label_ids

BODY = Skeleton("person", ["nose", "hand_l", "hand_r"], [("nose", "hand_l"), ("nose", "hand_r")])
LABELS = [{"name": "car", "type": "rectangle",
           "attributes": [{"name": "parked", "input_type": "checkbox", "mutable": False, "default_value": "false",
                           "values": ["false"]},
                          {"name": "colour", "input_type": "select", "mutable": False, "default_value": "red",
                           "values": ["red", "blue"]}]},
          {"name": "sign", "type": "polygon"}, {"name": "scene", "type": "tag"}, BODY.cvat_label()]


def everything(t) -> dict:
    "One of each thing a task holds, with the fields a COCO file cannot carry."
    ids = label_ids(t)
    specs = {a.name: a.id for l in t.get_labels() if l.name == "car" for a in l.attributes}
    box = dict(type="rectangle", frame=0, label_id=ids["car"], points=[10.5, 20, 110, 90], score=0.85, z_order=2,
               occluded=True, rotation=15.0, group=4, source="auto",
               attributes=[dict(spec_id=specs["parked"], value="true"), dict(spec_id=specs["colour"], value="blue")])
    poly = dict(type="polygon", frame=1, label_id=ids["sign"], points=[1, 1, 40, 1, 40, 30], score=0.6, group=4)
    pose = dict(type="skeleton", frame=2, label_id=ids["person"], points=[], score=0.93,
                elements=[dict(type="points", frame=2, label_id=ids[f"person/{n}"], points=[50.0 + 5 * i, 60.0],
                               outside=n == "hand_r", occluded=n == "hand_l") for i, n in enumerate(BODY.keypoints)])
    line = dict(type="polyline", frame=3, label_id=ids["sign"], points=[1.0, 1.0, 50.5, 20.25, 90.0, 3.0])
    ellipse = dict(type="ellipse", frame=3, label_id=ids["car"], points=[100.0, 80.0, 130.0, 60.0], occluded=True)
    tag = dict(frame=0, label_id=ids["scene"], source="manual")
    track = dict(frame=0, label_id=ids["car"], group=0, source="manual",
                 shapes=[dict(type="rectangle", frame=0, points=[5, 5, 50, 50]),
                         dict(type="rectangle", frame=2, points=[15, 5, 60, 50]),
                         dict(type="rectangle", frame=3, points=[15, 5, 60, 50], outside=True)])
    return dict(shapes=[box, poly, pose, line, ellipse], tags=[tag], tracks=[track])


def test_backup_and_restore_put_back_every_field(cv, made, tmp_path):
    t = made.task(LABELS, STREET)
    t.set_annotations(models.LabeledDataRequest(**everything(t)))
    before = cv.annotations(t.id)
    assert len(before["shapes"]) == 5 and len(before["tags"]) == 1 and len(before["tracks"]) == 1
    assert sorted(s["score"] for s in before["shapes"]) == [0.6, 0.85, 0.93, 1.0, 1.0]
    empty = Dataset({"images": [{"id": i + 1, "file_name": p.name, "width": 480, "height": 320}
                                for i, p in enumerate(STREET)], "annotations": [], "categories": [{"id": 1, "name": "car"}]})
    man = cv.upload(empty, t.id, out_dir=tmp_path, progress=False)  # a careless replace wipes the task
    assert cv.annotations(t.id)["shapes"] == [] and man["backup"].endswith(".json")
    (mf,) = tmp_path.glob(f"task{t.id}_upload_*.json")
    r = cv.restore(t.id, mf, out_dir=tmp_path / "now", progress=False)  # the manifest names the backup
    after = cv.annotations(t.id)
    assert r["checked"] and (r["shapes"], r["tags"], r["tracks"]) == (5, 1, 1)
    assert annotation_differences(before, after) == []
    got = {s["type"]: s for s in after["shapes"]}
    assert (got["rectangle"]["score"], got["rectangle"]["rotation"], got["rectangle"]["z_order"]) == (0.85, 15.0, 2)
    assert {(e["outside"], e["occluded"]) for e in got["skeleton"]["elements"]} == {(False, False), (True, False),
                                                                                   (False, True)}
    kept = json.loads(next((tmp_path / "now").glob(f"task{t.id}_backup_*.json")).read_text())
    assert kept["annotations"]["shapes"] == []  # what the task held just before the restore: the wiped state


def test_restore_into_another_task_matches_labels_by_name(cv, made, tmp_path):
    src, dst = made.task(LABELS, STREET), made.task(list(reversed(LABELS)), STREET)
    src.set_annotations(models.LabeledDataRequest(**everything(src)))
    bk = cv._backup(cv.find_task(src.id), tmp_path / "src.json")
    with pytest.raises(CvatNbError, match=f"a backup of task {src.id}, not of task {dst.id}"): cv.restore(dst.id, bk)
    assert cv.annotations(dst.id)["shapes"] == []  # nothing was changed
    r = cv.restore(dst.id, bk, keep=False, force=True)
    assert r["checked"] and r["shapes"] == 5
    names = lambda task, ann: sorted((s["type"], {v: k for k, v in label_ids(task).items()}[s["label_id"]], s["score"])
                                     for s in ann["shapes"])
    assert names(dst, cv.annotations(dst.id)) == names(src, cv.annotations(src.id))
    bare = made.task([{"name": "car"}], STREET)
    with pytest.raises(CvatNbError, match="is not a label of task"): cv.restore(bare.id, bk, keep=False, force=True)


def test_an_older_xml_backup_still_restores(cv, made, tmp_path):
    "Backups written before were CVAT for images 1.1 zips: restored as CVAT 1.1 (their XML holds no score)."
    t = made.task(LABELS, STREET)
    t.set_annotations(models.LabeledDataRequest(**everything(t)))
    old = t.export_dataset("CVAT for images 1.1", tmp_path / f"task{t.id}_backup_old.zip", include_images=False)
    t.remove_annotations()
    r = cv.restore(t.id, old, keep=False, progress=False)
    back = sorted(s["type"] for s in cv.annotations(t.id)["shapes"])
    assert not r["checked"] and back == ["ellipse", "polygon", "polyline", "rectangle", "skeleton"], back


def test_restore_refuses_what_is_not_a_backup(cv, made, tmp_path):
    t = made.task(LABELS, STREET[:1])
    (tmp_path / "x.json").write_text('{"task_id": 1}')
    with pytest.raises(CvatNbError, match="names no backup"): cv.restore(t.id, tmp_path / "x.json")
    (tmp_path / "y.json").write_text("[1, 2]")
    with pytest.raises(CvatNbError, match="neither a task backup nor an upload manifest"): cv.restore(t.id, tmp_path / "y.json")
    with pytest.raises(CvatNbError, match="no backup file here"): cv.restore(t.id, tmp_path / "nope.json")


def test_restore_into_a_task_whose_labels_have_more_attributes(cv, made, tmp_path):
    "The server fills in the default of an attribute the backup does not name: that is not a difference."
    src = made.task(LABELS, STREET)
    src.set_annotations(models.LabeledDataRequest(**everything(src)))
    bk = cv._backup(cv.find_task(src.id), tmp_path / "src.json")
    more = [{**LABELS[0], "attributes": LABELS[0]["attributes"] + [
        {"name": "dented", "input_type": "checkbox", "mutable": False, "default_value": "false", "values": ["false"]}]},
        *LABELS[1:]]
    dst = made.task(more, STREET)
    r = cv.restore(dst.id, bk, keep=False, force=True)
    assert r["checked"] and r["shapes"] == 5


def test_restore_into_a_shorter_task_is_refused_before_anything_changes(cv, made, tmp_path):
    src, short = made.task(LABELS, STREET), made.task(LABELS, STREET[:2])
    src.set_annotations(models.LabeledDataRequest(**everything(src)))
    bk = cv._backup(cv.find_task(src.id), tmp_path / "src.json")
    short.set_annotations(models.LabeledDataRequest(shapes=[dict(type="rectangle", frame=0, points=[1, 1, 9, 9],
                                                                 label_id=label_ids(short)["sign"])]))
    with pytest.raises(CvatNbError, match="has 2 frames: CVAT would drop them; nothing was changed"):
        cv.restore(short.id, bk, keep=False, force=True)
    assert len(cv.annotations(short.id)["shapes"]) == 1


def test_broken_backups_and_manifests_are_one_clear_error(cv, made, tmp_path):
    t = made.task(LABELS, STREET[:1])
    loop = tmp_path / "loop.json"
    loop.write_text(json.dumps({"task_id": t.id, "backup": "loop.json"}))  # a manifest naming itself
    (tmp_path / "five.json").write_text(json.dumps({"task_id": t.id, "backup": 5}))
    (tmp_path / "bare.json").write_text(json.dumps({"kind": "cvat_nb task backup"}))
    (tmp_path / "odd.json").write_text(json.dumps({"kind": "cvat_nb task backup", "task_id": t.id,
                                                   "labels": [{"no": "name"}], "annotations": {"shapes": [{}]}}))
    for f, why in (("loop.json", "neither a task backup nor an upload manifest"), ("five.json", "not a file name"),
                   ("bare.json", "without its task id"), ("odd.json", "not as cvat_nb writes them")):
        with pytest.raises(CvatNbError, match=why) as e: cv.restore(t.id, tmp_path / f, keep=False)
        assert "\n" not in str(e.value) and f in str(e.value)
