"""Annotation attributes into CVAT and back, as users of FiftyOne's CVAT backend expect: create_task declares label
attributes from the dataset, uploads carry them (CVAT keeps only keys a label declares, CONTRACT.md §7), the
pre-flight warns about keys that would vanish, and the round trip compares them; scores stay in CVAT's score field."""
from __future__ import annotations

from cvat_nb.coco import Dataset
from .conftest import STREET


def parked_cars() -> Dataset:
    ds = Dataset()
    for i, p in enumerate(STREET[:2]):
        img = ds.add_image(p.name, 480, 320)
        ds.add_box(img, "car", [40 + 60 * i, 50, 80, 40], score=0.85 - 0.1 * i,
                   attributes={"parked": i == 0, "colour": ["red", "blue"][i], "doors": 2 + 2 * i})
    return ds


def test_attributes_are_declared_carried_and_compared(cv, made, tmp_path):
    ds = parked_cars()
    tid, _ = cv.create_task(made.name("attributes"), ds, STREET[0].parent, out_dir=tmp_path, progress=False)
    made.adopt(tid)
    (car,) = [l for l in cv.task_info(tid)["labels"] if l["name"] == "car"]
    assert [(a["name"], a["input_type"]) for a in car["attributes"]] == \
        [("parked", "checkbox"), ("colour", "select"), ("doors", "number")]
    assert cv.preflight(ds, tid).ok
    cv.upload(ds, tid, out_dir=tmp_path, progress=False, backup=False)
    specs = {a.id: a.name for l in cv.client.tasks.retrieve(tid).get_labels() for a in l.attributes}
    shapes = cv.annotations(tid)["shapes"]
    assert len(shapes) == 2
    got = sorted((round(s["score"], 3), {specs[a["spec_id"]]: a["value"] for a in s["attributes"]}) for s in shapes)
    assert got == [(0.75, {"parked": "false", "colour": "blue", "doors": "4"}),
                   (0.85, {"parked": "true", "colour": "red", "doors": "2"})]
    r = cv.review(tid, ds)
    assert r["ok"] and r["returned"] == 2, r["changed"]


def test_keys_the_label_lacks_are_a_warning_and_a_changed_value_is_seen(cv, made, tmp_path):
    ds = parked_cars()
    t = made.task([{"name": "car", "type": "rectangle", "attributes": [
        {"name": "parked", "input_type": "checkbox", "mutable": False, "default_value": "false", "values": ["false"]}]}],
        STREET[:2])
    r = cv.preflight(ds, t.id)
    assert r.ok and r.codes() == {"attribute-dropped": 2} and "drops it silently" in str(r)
    cv.upload(ds, t.id, out_dir=tmp_path, progress=False, backup=False)
    flipped = ds.replace(annotations=[{**a, "attributes": {**a["attributes"], "parked": not a["attributes"]["parked"]}}
                                      for a in ds.annotations])
    r = cv.review(t.id, flipped)
    notes = sorted(c["status"] for c in r["changed"])
    assert len(notes) == 2 and all("attribute parked" in n for n in notes) and all("attribute colour lost" in n
                                                                                  for n in notes), notes
