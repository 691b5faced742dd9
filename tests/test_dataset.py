"""Tests of `cvat_nb.coco.Dataset` beyond the notebook's examples: real files round-trip byte for byte, unknown fields
survive, and the set operations (merge, subset, filter, remap_categories, rename) keep a dataset consistent."""
import copy, json, os, stat, zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cvat_nb import codecs
from cvat_nb.coco import Dataset
from cvat_nb.errors import CocoError
from cvat_nb.validate import validate

PEER = Path(__file__).parent / "data" / "peer" / "datumaro_instances_val.json"
# pycocotools 2.0.11 under numpy 2 warns on every decode; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
SETTINGS = settings(max_examples=int(os.environ.get("CVAT_NB_EXAMPLES", 200)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

def same(a, b):
    "Equal values of the same JSON types all the way down (so 2.0 stays a float and 1 an int)."
    if type(a) is not type(b): return False
    if isinstance(a, dict): return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list): return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    return a == b

# ---------------------------------------------------------------------------------------------------------------
# Real files round-trip

def test_peer_file_loads_and_validates_for_cvat():
    ds = Dataset.load(PEER)
    assert ds.source == str(PEER)
    assert (len(ds.images), len(ds.annotations), len(ds.categories)) == (1, 2, 3)
    assert ds.annotations[0]["attributes"] == {"x": 1, "y": "hello"}
    assert not ds.annotations[1]["segmentation"]["counts"] == []
    rep = validate(ds, target="cvat")
    assert rep.errors == [], str(rep)
    assert validate(PEER).errors == []

def test_peer_file_save_load_round_trip(tmp_path):
    original = json.loads(PEER.read_text())
    ds = Dataset.load(PEER)
    ds.save(tmp_path / "a.json")
    again = Dataset.load(tmp_path / "a.json")
    assert same(again.data, original)
    assert again.annotations[0]["attributes"] == {"x": 1, "y": "hello"}  # unknown fields survive
    assert same(json.loads((tmp_path / "a.json").read_bytes()), original)
    # saving twice, and saving what was loaded back, give the same bytes
    ds.save(tmp_path / "b.json")
    again.save(tmp_path / "c.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes() == (tmp_path / "c.json").read_bytes()
    # indented output holds the same data
    ds.save(tmp_path / "d.json", indent=True)
    assert same(json.loads((tmp_path / "d.json").read_text()), original)
    assert b"\n  " in (tmp_path / "d.json").read_bytes()

SEED2_WITH_ANNS = {
    "info": {"description": "seed 002, preannotations", "version": "1"},
    "licenses": [],
    "images": [
        {"id": 1, "image_source_path": "/mnt/nas/tmp/i8y6v/P2_516.jpg", "file_name": "trip02/P2_516.jpg",
         "width": 4176, "height": 2784, "classifications": []},
        {"id": 2, "image_source_path": "/mnt/nas/tmp/i8y6v/P2_517.jpg", "file_name": "trip02/Überführung_517.jpg",
         "width": 4176, "height": 2784, "classifications": [{"label": "night", "score": 0.61}]},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1012.5, 640.0, 300.25, 120.0], "area": 36030.0,
         "segmentation": [], "iscrowd": 0, "score": 0.87, "classifications": []},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [10.0, 20.0, 30.0, 40.0], "area": 1200.0,
         "segmentation": [], "iscrowd": 0, "score": 0.3333333333333333,
         "classifications": [{"label": "severe", "score": 1e-07}]},
        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [0.0, 0.0, 4176.0, 2784.0], "area": 11625984.0,
         "segmentation": [], "iscrowd": 0, "score": 1.0, "classifications": [{"label": "mild", "score": 0.5}]},
    ],
    "categories": [{"id": 1, "name": "damaged_display", "supercategory": ""},
                   {"id": 2, "name": "rust", "supercategory": ""}],
}
SEED2_NO_ANNS = {
    "images": [{"id": 1, "image_source_path": "/mnt/nas/tmp/i8y6v/P2_516.jpg", "file_name": "trip02/P2_516.jpg",
                "width": 4176, "height": 2784, "classifications": []}],
    "categories": [{"id": 1, "name": "damaged_display"}, {"id": 2, "name": "rust"}],
}

@pytest.mark.parametrize("data", [SEED2_WITH_ANNS, SEED2_NO_ANNS], ids=["with-annotations", "no-annotations-key"])
def test_seed2_files_round_trip_and_validate(tmp_path, data):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    ds = Dataset.load(src)
    assert same(ds.data, data)
    ds.save(tmp_path / "out.json")
    assert same(json.loads((tmp_path / "out.json").read_bytes()), data)
    assert same(Dataset.load(tmp_path / "out.json").data, data)
    assert ("annotations" in Dataset.load(tmp_path / "out.json").data) == ("annotations" in data)
    Dataset.load(tmp_path / "out.json").save(tmp_path / "again.json")
    assert (tmp_path / "out.json").read_bytes() == (tmp_path / "again.json").read_bytes()
    for target in ("coco", "cvat"):
        rep = validate(ds, target=target)
        assert rep.errors == [], str(rep)
    assert ds.annotations == data.get("annotations", [])
    assert [a["id"] for a in ds.anns("trip02/P2_516.jpg")] == [a["id"] for a in data.get("annotations", [])
                                                              if a["image_id"] == 1]

def test_numpy_values_are_written_as_plain_json(tmp_path):
    ds = Dataset()
    i = ds.add_image("a.jpg", np.int64(8), np.uint16(6))
    ds.add_annotation(i, "cat", bbox=np.array([1, 2, 3, 4], np.float32), area=np.float64(12), iscrowd=np.int8(0),
                      score=np.float32(0.5))
    ds.save(tmp_path / "np.json")
    back = json.loads((tmp_path / "np.json").read_bytes())
    assert back["annotations"][0]["bbox"] == [1.0, 2.0, 3.0, 4.0]
    assert back["annotations"][0]["score"] == 0.5 and back["annotations"][0]["iscrowd"] == 0
    assert type(back["images"][0]["width"]) is int

# ---------------------------------------------------------------------------------------------------------------
# Loading from zips and dicts; saving safely

def test_load_from_zip_member_and_dict(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("annotations/instances_default.json", json.dumps(SEED2_WITH_ANNS))
        zf.writestr("annotations/person_keypoints_default.json", json.dumps(SEED2_NO_ANNS))
        zf.writestr("images/", "")
    ds = Dataset.load(z, member="annotations/instances_default.json")
    assert same(ds.data, SEED2_WITH_ANNS)
    assert ds.source == f"{z}:annotations/instances_default.json"
    assert same(Dataset.load(z, member="annotations/person_keypoints_default.json").data, SEED2_NO_ANNS)
    with pytest.raises(CocoError, match="name the member"): Dataset.load(z)
    with pytest.raises(CocoError, match="has no member"): Dataset.load(z, member="nope.json")
    # a zip with one JSON member needs no name
    z1 = tmp_path / "one.zip"
    with zipfile.ZipFile(z1, "w") as zf: zf.writestr("a/b.json", json.dumps(SEED2_NO_ANNS))
    assert same(Dataset.load(z1).data, SEED2_NO_ANNS)
    # a dict is kept, not copied; a Dataset is returned as is
    d = copy.deepcopy(SEED2_WITH_ANNS)
    ds = Dataset.load(d)
    assert ds.data is d and ds.source == "<dict>"
    assert Dataset.load(ds) is ds
    assert ds.image("trip02/P2_516.jpg")["id"] == 1

def test_save_overwrite(tmp_path):
    ds = Dataset.load(copy.deepcopy(SEED2_WITH_ANNS))
    p = tmp_path / "out.json"
    assert ds.save(p) == p
    first = p.read_bytes()
    small = Dataset.load(copy.deepcopy(SEED2_NO_ANNS))
    with pytest.raises(CocoError, match="exists already"): small.save(p)
    assert p.read_bytes() == first  # the refused save left the file alone
    os.chmod(p, 0o640)
    small.save(p, overwrite=True)
    assert same(json.loads(p.read_bytes()), SEED2_NO_ANNS)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640  # the replaced file keeps its mode
    assert sorted(os.listdir(tmp_path)) == ["out.json"]  # no temporary files left behind

def test_save_new_file_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try: Dataset().save(tmp_path / "new.json")
    finally: os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644

def test_save_into_missing_folder_or_onto_a_folder(tmp_path):
    ds = Dataset()
    with pytest.raises(CocoError, match="folder to write into does not exist"): ds.save(tmp_path / "nope" / "a.json")
    assert not (tmp_path / "nope").exists()
    with pytest.raises(CocoError, match="is a directory"): ds.save(tmp_path)
    with pytest.raises(CocoError, match="is a directory"): ds.save(tmp_path, overwrite=True)

# ---------------------------------------------------------------------------------------------------------------
# Random datasets built with the builders

NAMES = ["a.jpg", "b.jpg", "dir/c.png", "d.jpg", "Ünï cödé.jpg", "x/y/z.jpeg"]
CATS = ["cat", "dog", "Cat", "person", "rust", "sign board"]

def size_of(name):
    "One size per file name, so that the same name in two datasets is the same image."
    return 8 + len(name) % 5, 6 + sum(map(ord, name)) % 4

def _free_id(taken):
    return st.none() | st.integers(1, 12).filter(lambda i: i not in taken)

@st.composite
def datasets(draw, min_images=0):
    ds = Dataset()
    for n in draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=min_images, max_size=5)):
        ds.add_image(n, *size_of(n), id=draw(_free_id(ds.index.img_by_id)), license=0)
    for c in draw(st.lists(st.sampled_from(CATS), unique=True, max_size=4)):
        ds.add_category(c, id=draw(_free_id(ds.index.cat_by_id)))
    if ds.images:
        for _ in range(draw(st.integers(0, 8))):
            img = draw(st.sampled_from(ds.images))
            h, w = img["height"], img["width"]
            cat = draw(st.sampled_from(CATS))  # a name not yet a category is added by the builder
            kind = draw(st.sampled_from(["box", "box", "polygon", "mask"]))
            if kind == "box":
                x, y = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
                ds.add_box(img["id"], cat, [x, y, draw(st.integers(1, w - x)), draw(st.integers(1, h - y))],
                           score=draw(st.none() | st.floats(0, 1)))
            elif kind == "polygon":
                x1, y1 = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
                x2, y2 = draw(st.integers(x1 + 1, w)), draw(st.integers(y1 + 1, h))
                ds.add_polygon(img["id"], cat, [x1, y1, x2, y1, x2, y2, x1, y2], attributes={"k": 1})
            else:
                m = np.zeros((h, w), np.uint8); m[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = 1
                ds.add_mask(img["id"], cat, m)
    return ds

def assert_consistent(ds):
    "Unique ids and names; every annotation points at an image and a category that exist; the index agrees."
    img_ids, cat_ids, ann_ids = ([r["id"] for r in ds.images], [r["id"] for r in ds.categories],
                                 [r["id"] for r in ds.annotations])
    for ids in (img_ids, cat_ids, ann_ids): assert len(set(ids)) == len(ids), ids
    names = [i["file_name"] for i in ds.images]
    assert len(set(names)) == len(names), names
    cnames = [c["name"] for c in ds.categories]
    assert len(set(cnames)) == len(cnames), cnames
    for a in ds.annotations:
        assert a["image_id"] in img_ids and a["category_id"] in cat_ids, a
    fresh = Dataset(ds.data)
    for n in names: assert ds.anns(n) == fresh.anns(n)

@SETTINGS
@given(datasets())
def test_built_datasets_are_valid(ds):
    assert_consistent(ds)
    rep = validate(ds, target="cvat")
    assert rep.errors == [], str(rep)

@SETTINGS
@given(datasets(), datasets())
def test_merge(a, b):
    before_a, before_b = copy.deepcopy(a.data), copy.deepcopy(b.data)
    out = a.merge(b)
    assert a.data == before_a and b.data == before_b  # the inputs are left unchanged
    assert out.data is not a.data and out.data is not b.data
    assert_consistent(out)
    assert len(out.annotations) == len(a.annotations) + len(b.annotations)
    assert {i["file_name"] for i in out.images} == {i["file_name"] for i in a.images + b.images}
    assert {c["name"] for c in out.categories} == {c["name"] for c in a.categories + b.categories}
    # `a`'s records come first, unchanged
    assert out.images[:len(a.images)] == a.images
    assert out.categories[:len(a.categories)] == a.categories
    assert out.annotations[:len(a.annotations)] == a.annotations
    # `b`'s annotations land on the image and category of the same name, every other field kept
    for ob, oo in zip(b.annotations, out.annotations[len(a.annotations):]):
        assert out.image(oo["image_id"])["file_name"] == b.image(ob["image_id"])["file_name"]
        assert out.category(oo["category_id"])["name"] == b.category(ob["category_id"])["name"]
        drop = ("id", "image_id", "category_id")
        assert {k: v for k, v in oo.items() if k not in drop} == {k: v for k, v in ob.items() if k not in drop}
    # `b`'s new images and categories keep their fields but their id
    for i in b.images:
        assert {k: v for k, v in out.image(i["file_name"]).items() if k != "id"} == \
               {k: v for k, v in i.items() if k != "id"}
    for c in b.categories:
        if c["name"] not in {x["name"] for x in a.categories}:
            assert {k: v for k, v in out.category(c["name"]).items() if k != "id"} == \
                   {k: v for k, v in c.items() if k != "id"}
    rep = validate(out, target="cvat")
    assert rep.errors == [], str(rep)
    # merging a dict or a saved file gives the same
    assert a.merge(b.data).data == out.data

def test_merge_refuses_same_name_other_size():
    a = Dataset(); a.add_image("a.jpg", 8, 6)
    b = Dataset(); b.add_image("a.jpg", 8, 7)
    with pytest.raises(CocoError, match="a.jpg"): a.merge(b)

def test_merge_from_file(tmp_path):
    b = Dataset.load(PEER)
    a = Dataset(); i = a.add_image("b.jpg", 5, 10); a.add_box(i, "b", [0, 0, 1, 1])
    out = a.merge(PEER)
    assert out.data == a.merge(b).data
    assert [c["name"] for c in out.categories] == ["b", "a", "c"]
    assert [(x["image_id"], out.category(x["category_id"])["name"]) for x in out.annotations] == \
           [(1, "b"), (1, "a"), (1, "b")]
    assert out.annotations[1]["attributes"] == {"x": 1, "y": "hello"}

# ---------------------------------------------------------------------------------------------------------------
# subset, filter, remap_categories, rename

@SETTINGS
@given(datasets(min_images=1), st.data())
def test_subset_by_images(ds, data):
    before = copy.deepcopy(ds.data)
    keep = data.draw(st.lists(st.sampled_from(ds.images), unique_by=lambda i: i["id"]))
    by_name = data.draw(st.booleans())
    out = ds.subset(images=[i["file_name"] if by_name else i["id"] for i in keep])
    ids = {i["id"] for i in keep}
    assert out.images == keep
    assert out.annotations == [a for a in ds.annotations if a["image_id"] in ids]
    assert out.categories == ds.categories
    assert ds.data == before
    for k in ("info", "licenses"): assert out.data[k] == ds.data[k]
    # the records are copies: changing them leaves the original alone
    for r in out.images + out.annotations + out.categories: r["changed"] = True
    assert ds.data == before

@SETTINGS
@given(datasets(min_images=1), st.data())
def test_subset_by_categories(ds, data):
    keep = data.draw(st.lists(st.sampled_from(ds.categories), unique_by=lambda c: c["id"])) if ds.categories else []
    out = ds.subset(categories=[c["name"] for c in keep])
    ids = {c["id"] for c in keep}
    assert out.categories == keep and out.images == ds.images
    assert out.annotations == [a for a in ds.annotations if a["category_id"] in ids]
    assert ds.subset().data == ds.data

# subset() used to copy a record once per time it was named (duplicate ids); fixed in the working tree
@pytest.mark.parametrize("images,categories", [(["a.jpg", "a.jpg"], None), ([1, "a.jpg"], None),
                                               (None, ["cat", 1])])
def test_subset_with_repeated_keys_keeps_each_record_once(images, categories):
    ds = Dataset(); i = ds.add_image("a.jpg", 8, 6); ds.add_box(i, "cat", [0, 0, 1, 1])
    out = ds.subset(images=images, categories=categories)
    assert_consistent(out)
    assert (len(out.images), len(out.categories), len(out.annotations)) == (1, 1, 1)

def test_subset_unknown_key_raises():
    ds = Dataset(); ds.add_image("a.jpg", 8, 6)
    with pytest.raises(KeyError, match="no image 'b.jpg'"): ds.subset(images=["b.jpg"])
    with pytest.raises(KeyError, match="no category 'cat'"): ds.subset(categories=["cat"])

@SETTINGS
@given(datasets(), st.sampled_from([lambda a: True, lambda a: False, lambda a: a.get("score", 1) > 0.5,
                                    lambda a: codecs.is_rle(a["segmentation"]), lambda a: a["id"] % 2 == 0]))
def test_filter(ds, keep):
    before = copy.deepcopy(ds.data)
    out = ds.filter(keep)
    assert out.annotations == [a for a in ds.annotations if keep(a)]
    assert out.images == ds.images and out.categories == ds.categories
    assert ds.data == before
    assert_consistent(out)

@SETTINGS
@given(datasets(), st.data())
def test_remap_categories(ds, data):
    before = copy.deepcopy(ds.data)
    old = [c["id"] for c in ds.categories]
    mapping = data.draw(st.dictionaries(st.sampled_from(old), st.integers(1, 8)) if old else st.just({}))
    out = ds.remap_categories(mapping)
    assert ds.data == before
    new = lambda i: mapping.get(i, i)
    assert [c["id"] for c in out.categories] == list(dict.fromkeys(new(i) for i in old))
    # ids mapped together merge into the first's record
    for c in out.categories:
        first = next(x for x in ds.categories if new(x["id"]) == c["id"])
        assert {k: v for k, v in c.items() if k != "id"} == {k: v for k, v in first.items() if k != "id"}
    assert [a["category_id"] for a in out.annotations] == [new(a["category_id"]) for a in ds.annotations]
    assert [{k: v for k, v in a.items() if k != "category_id"} for a in out.annotations] == \
           [{k: v for k, v in a.items() if k != "category_id"} for a in ds.annotations]
    assert out.images == ds.images
    assert_consistent(out)
    # a one-to-one mapping is undone by its inverse
    if len(set(map(new, old))) == len(old):
        inverse = {new(i): i for i in old}
        assert ds.remap_categories(mapping).remap_categories(inverse).data == ds.data

@SETTINGS
@given(datasets(min_images=1), st.data())
def test_rename(ds, data):
    before = copy.deepcopy(ds.data)
    names = [i["file_name"] for i in ds.images]
    targets = data.draw(st.lists(st.sampled_from(names), unique=True))
    new_names = data.draw(st.lists(st.text(min_size=1, max_size=8), min_size=len(targets), max_size=len(targets)))
    mapping = dict(zip(targets, new_names))
    mapping["not-in-the-dataset.jpg"] = "whatever.jpg"
    after = [mapping.get(n, n) for n in names]
    if len(set(after)) < len(after):
        with pytest.raises(CocoError, match="two images the name"): ds.rename(mapping)
        assert ds.data == before
        return
    out = ds.rename(mapping)
    assert [i["file_name"] for i in out.images] == after
    for i, o in zip(ds.images, out.images):
        assert {k: v for k, v in o.items() if k != "file_name"} == {k: v for k, v in i.items() if k != "file_name"}
    assert out.annotations == ds.annotations and out.categories == ds.categories
    assert ds.data == before
    assert_consistent(out)
    for old, new in zip(names, after): assert out.anns(new) == ds.anns(old)

def test_rename_swap_and_collisions():
    ds = Dataset(); ds.add_image("a.jpg", 8, 6); ds.add_image("b.jpg", 8, 6); ds.add_image("c.jpg", 8, 6)
    assert [i["file_name"] for i in ds.rename({"a.jpg": "b.jpg", "b.jpg": "a.jpg"}).images] == \
           ["b.jpg", "a.jpg", "c.jpg"]
    with pytest.raises(CocoError, match="two images the name 'c.jpg'"): ds.rename({"a.jpg": "c.jpg"})
    with pytest.raises(CocoError, match="two images the name 'x.jpg'"): ds.rename({"a.jpg": "x.jpg", "b.jpg": "x.jpg"})
    with pytest.raises(CocoError, match="two images the name 'same'"): ds.rename(lambda n: "same")
    assert [i["file_name"] for i in ds.rename(lambda n: "train/" + n).images] == \
           ["train/a.jpg", "train/b.jpg", "train/c.jpg"]

# ---------------------------------------------------------------------------------------------------------------
# Builders fed numpy values, as a detector hands them out

def test_builders_accept_numpy_where_they_do_today():
    ds = Dataset(); i = ds.add_image("a.jpg", np.int64(8), np.int64(6))
    ds.add_box(i, "x", [1.0, 2.0, 3.0, 2.0], score=np.float32(0.25))
    ds.add_polygon(i, "x", [np.array([0, 0, 2, 0, 2, 2, 0, 2], float)])
    ds.add_mask(i, "x", np.eye(6, 8, dtype=bool))
    ds.add_category("p", keypoints=["a", "b"])
    ds.add_keypoints(i, "p", np.array([[1, 1, 2], [3, 2, 1]]))
    assert [a["area"] for a in ds.annotations] == [6.0, 4.0, 6.0, 2.0]
    assert ds.annotations[-1]["keypoints"] == [1.0, 1.0, 2, 3.0, 2.0, 1]
    assert_consistent(ds)
    assert validate(ds).errors == []  # target "cvat" also wants one category per keypoint name

@pytest.mark.parametrize("points", [[[1, 1, 2], [2, 2, 0]], [[1, 1, 2], [1, 5, 2]]], ids=["one labelled", "same x"])
def test_add_keypoints_default_bbox_validates(points):
    ds = Dataset(); i = ds.add_image("a.jpg", 8, 6)
    ds.add_category("p", keypoints=["a", "b"])
    ds.add_keypoints(i, "p", points)
    rep = validate(ds)
    assert rep.errors == [], str(rep)

def test_add_keypoints_none_labelled_needs_a_box():
    ds = Dataset(); i = ds.add_image("a.jpg", 8, 6)
    ds.add_category("p", keypoints=["a", "b"])
    with pytest.raises(CocoError, match="give the bbox"): ds.add_keypoints(i, "p", [[0, 0, 0], [0, 0, 0]])
    ds.add_keypoints(i, "p", [[0, 0, 0], [0, 0, 0]], bbox=[1, 1, 4, 3])
    assert validate(ds).errors == []

@pytest.mark.parametrize("box", [np.array([1.0, 2.0, 3.0, 2.0]), [np.int64(1), 2, 3, 2], [np.float32(1), 2, 3, 2]],
                         ids=["ndarray", "np.int64", "np.float32"])
def test_add_box_accepts_numpy(box):
    ds = Dataset(); i = ds.add_image("a.jpg", 8, 6)
    ds.add_box(i, "x", box)
    assert ds.annotations[0]["bbox"] == [1.0, 2.0, 3.0, 2.0] and ds.annotations[0]["area"] == 6.0

@pytest.mark.parametrize("poly", [np.array([0, 0, 2, 0, 2, 2, 0, 2], float), [np.array([0, 0, 2, 0, 2, 2, 0, 2])],
                                  np.array([[0, 0, 2, 0, 2, 2, 0, 2]], float)],
                         ids=["1-D float ndarray", "list of int ndarray", "2-D float ndarray"])
def test_add_polygon_accepts_numpy(poly):
    ds = Dataset(); i = ds.add_image("a.jpg", 8, 6)
    ds.add_polygon(i, "x", poly)
    assert ds.annotations[0]["segmentation"] == [[0.0, 0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0]]
    assert ds.annotations[0]["area"] == 4.0
