"""Tests of `cvat_nb.export` and the CLI subcommands built on it (archive, split, merge, rename, check-archive).

What the project writes is re-read with PyPI Datumaro (the engine under CVAT's COCO import) as an oracle: item,
annotation and label counts, and mask areas, must equal what was written. Splits must partition the input;
archives must have seed 000's layout and be written all-or-nothing."""
import csv, json, os, re, shutil, zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cvat_nb import __version__
from cvat_nb.cli import main
from cvat_nb.coco import Dataset
from cvat_nb.convert import masks_to_coco
from cvat_nb.errors import CvatNbError
from cvat_nb.export import (check_archive, check_partition, for_cvat, standard_keypoints, read_mapping,
                            rename_for_task, split_by_prefix, split_by_ratio, split_by_table, write_archive,
                            write_cvat_zip)
from cvat_nb.skeleton import Skeleton, add_poses

SAMPLES = Path(__file__).parent.parent / "samples"
SPLITS3 = ("train", "val", "test")
# pycocotools 2.0.11 under numpy 2 warns on every decode; not ours to fix
# and PyPI Datumaro 1.13 calls the deprecated `logging.warn`
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The 'warn' function is deprecated:DeprecationWarning")]

# ---------------------------------------------------------------------------------------------------------------
# Datasets

def instances_ds() -> Dataset:
    "The bundled masks as RLE (masks_to_coco), plus a box and a polygon: every instance kind the project writes."
    ds = masks_to_coco(SAMPLES / "masks", SAMPLES / "images", categories=SAMPLES / "categories.csv",
                       progress=False).dataset
    ds.add_box(1, "car", [1, 2, 10, 20])
    ds.add_polygon(2, "sign", [10, 10, 30, 10, 30, 30, 10, 30])
    return ds

SKEL = Skeleton("person", ["nose", "eye_l", "eye_r"], [(1, 2), (1, 3)])

def keypoints_ds() -> Dataset:
    "Two images, three poses, built with Skeleton + add_poses in CVAT's layout (one category per keypoint)."
    ds = Dataset()
    a, b = ds.add_image("a.jpg", 100, 80), ds.add_image("b.jpg", 100, 80)
    add_poses(ds, a, SKEL, np.array([[[10, 10, 2], [20, 20, 1], [30, 30, 0]], [[40, 40, 2], [50, 50, 2], [60, 60, 2]]]))
    add_poses(ds, b, SKEL, np.array([[[10, 10, 2], [20, 20, 2], [30, 30, 2]]]))
    return ds

def synthetic_ds(n=20, rare=3) -> Dataset:
    "`n` images with boxes of 'common' (every image) and 'other'; 'rare' on the first `rare` images only."
    ds = Dataset()
    for c in ("common", "other", "rare"): ds.add_category(c)
    for k in range(n):
        i = ds.add_image(f"img_{k:03d}.jpg", 64, 48)
        ds.add_box(i, "common", [1, 1, 5, 5])
        if k % 2: ds.add_box(i, "other", [2, 2, 6, 6])
        if k < rare: ds.add_box(i, "rare", [3, 3, 4, 4])
    return ds

def save(ds, path) -> Path:
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    return ds.save(path)

# ---------------------------------------------------------------------------------------------------------------
# The Datumaro oracle

def dm_import(raw:bytes, kind:str, root:Path, subset:str="default"):
    "Import one COCO file with PyPI Datumaro, laid out as it needs: `annotations/<kind>_<subset>.json` + `images/`."
    dm = pytest.importorskip("datumaro")
    (root / "annotations").mkdir(parents=True); (root / "images").mkdir()
    (root / "annotations" / f"{kind}_{subset}.json").write_bytes(raw)
    fmt = "coco_person_keypoints" if kind == "person_keypoints" else "coco_instances"
    return dm.Dataset.import_from(str(root), fmt)

def dm_summary(data):
    "Items, annotations (distinct COCO ids: Datumaro adds a Bbox beside each polygon/mask), labels, mask areas."
    dm = pytest.importorskip("datumaro")
    ids, areas = Counter(), {}
    for it in data:
        for a in it.annotations:
            ids[a.id] += 0 if (it.id, a.id) in areas else 1
            areas.setdefault((it.id, a.id), None)
            if isinstance(a, dm.Mask): areas[(it.id, a.id)] = int(np.asarray(a.image).sum())
    labels = data.categories().get(dm.AnnotationType.label)
    return {"items": {it.id for it in data}, "annotations": sorted(ids.elements()),
            "labels": [l.name for l in labels] if labels is not None else [],
            "mask_areas": {k[1]: v for k, v in areas.items() if v is not None}}

def expected(ds:Dataset) -> dict:
    return {"items": {str(Path(i["file_name"]).with_suffix("")) for i in ds.images},
            "annotations": sorted(a["id"] for a in ds.annotations),
            "labels": [c["name"] for c in ds.categories],
            "mask_areas": {a["id"]: int(a["area"]) for a in ds.annotations if isinstance(a.get("segmentation"), dict)}}

def zip_json(path, member) -> bytes:
    with zipfile.ZipFile(path) as z: return z.read(member)

# ---------------------------------------------------------------------------------------------------------------
# write_cvat_zip, re-read by Datumaro

def test_instances_zip_reads_back_in_datumaro(tmp_path):
    ds = instances_ds()
    kinds = Counter("mask" if isinstance(a["segmentation"], dict) else "polygon" if a["segmentation"] else "box"
                    for a in ds.annotations)
    assert kinds == {"mask": 12, "polygon": 1, "box": 1}
    z = write_cvat_zip(ds, tmp_path / "inst.zip")
    assert zipfile.ZipFile(z).namelist() == ["annotations/instances_default.json"]
    raw = zip_json(z, "annotations/instances_default.json")
    written = Dataset(json.loads(raw))
    got = dm_summary(dm_import(raw, "instances", tmp_path / "dm"))
    assert got == expected(written)
    assert len(got["items"]) == 4 and len(got["annotations"]) == 14 and len(got["labels"]) == 3
    # the mask areas Datumaro decodes are the areas masks_to_coco computed from the PNGs
    assert got["mask_areas"] == {a["id"]: int(a["area"]) for a in ds.annotations if isinstance(a["segmentation"], dict)}

def test_instances_zip_for_cvat_fields(tmp_path):
    raw = zip_json(write_cvat_zip(instances_ds(), tmp_path / "i.zip"), "annotations/instances_default.json")
    d = json.loads(raw)
    assert "info" in d and "licenses" in d  # CVAT's streaming importer needed both
    assert all("iscrowd" in a for a in d["annotations"])
    assert min(c["id"] for c in d["categories"]) >= 1

def test_keypoints_zip_is_cvat_layout_and_reads_back_in_datumaro(tmp_path):
    ds = keypoints_ds()
    z = write_cvat_zip(ds, tmp_path / "kp.zip")
    assert zipfile.ZipFile(z).namelist() == ["annotations/person_keypoints_default.json"]
    raw = zip_json(z, "annotations/person_keypoints_default.json")
    d = json.loads(raw)
    # CONTRACT: the layout CVAT 2.73 reads and writes: one category per skeleton, no point as a category of its own
    assert [(c["name"], c["keypoints"], c["skeleton"]) for c in d["categories"]] == \
        [("person", SKEL.keypoints, [[1, 2], [1, 3]])]
    data = dm_import(raw, "person_keypoints", tmp_path / "dm")
    got = dm_summary(data)
    assert got["items"] == {"a", "b"} and got["annotations"] == [1, 2, 3] and got["labels"] == ["person"]
    dm = pytest.importorskip("datumaro")
    pts = {a.id: a for it in data for a in it.annotations if isinstance(a, dm.Points)}
    assert set(pts) == {1, 2, 3}
    assert [int(v) for v in pts[1].visibility] == [2, 1, 0] and pts[1].points == [10, 10, 20, 20, 30, 30]
    assert data.categories()[dm.AnnotationType.points][0].labels == SKEL.keypoints

def test_per_point_layout_fails_in_datumaro_and_for_cvat_repairs_it(tmp_path):
    "Points declared again as categories (CVAT's COCO 1.0 export, older tools) fail Datumaro as they fail CVAT 2.73."
    dm = pytest.importorskip("datumaro")
    ds = keypoints_ds()
    old = ds.replace(categories=ds.categories + [dict(id=10 + i, name=k, supercategory="person")
                                                 for i, k in enumerate(SKEL.keypoints)])
    with pytest.raises(dm.components.errors.DatasetImportError):
        dm_import(old.to_json(), "person_keypoints", tmp_path / "dm")
    assert standard_keypoints(old).categories == ds.categories
    raw = zip_json(write_cvat_zip(old, tmp_path / "kp.zip"), "annotations/person_keypoints_default.json")
    assert dm_summary(dm_import(raw, "person_keypoints", tmp_path / "dm2"))["labels"] == ["person"]

def test_write_cvat_zip_refuses_overwrite(tmp_path):
    z = write_cvat_zip(instances_ds(), tmp_path / "i.zip")
    before = z.read_bytes()
    with pytest.raises(CvatNbError, match="exists already"): write_cvat_zip(keypoints_ds(), z)
    assert z.read_bytes() == before
    write_cvat_zip(keypoints_ds(), z, overwrite=True)
    assert zipfile.ZipFile(z).namelist() == ["annotations/person_keypoints_default.json"]
    assert sorted(os.listdir(tmp_path)) == ["i.zip"]

# ---------------------------------------------------------------------------------------------------------------
# check_archive

def test_check_archive_instances_zip_no_errors(tmp_path):
    pytest.importorskip("datumaro")
    ds = for_cvat(instances_ds())
    [(name, rep, counts)] = check_archive(write_cvat_zip(ds, tmp_path / "i.zip"))
    assert name == "annotations/instances_default.json" and rep.errors == []
    assert "error" not in counts
    assert (counts["items"], counts["categories"]) == (len(ds.images), len(ds.categories))

def test_check_archive_instances_annotation_count_equals_written(tmp_path):
    pytest.importorskip("datumaro")
    ds = for_cvat(instances_ds())
    [(_, _, counts)] = check_archive(write_cvat_zip(ds, tmp_path / "i.zip"))
    assert counts == {"items": 4, "annotations": len(ds.annotations), "categories": 3}

def test_check_archive_keypoints_zip_no_errors(tmp_path):
    pytest.importorskip("datumaro")
    [(_, rep, counts)] = check_archive(write_cvat_zip(keypoints_ds(), tmp_path / "kp.zip"))
    assert rep.errors == [] and "error" not in counts
    assert counts["items"] == 2

def test_check_archive_archive_folder_and_zip(tmp_path):
    pytest.importorskip("datumaro")
    src = save(instances_ds(), tmp_path / "in" / "Street_coco.json")
    arch = write_archive(src, out_dir=tmp_path / "out", splits="train=.5,val=.25,test=.25", zip=True)
    for target in (arch, arch.with_suffix(".zip")):
        res = check_archive(target)
        # the folder keeps seed 000's names; the zip, which is uploaded, names its members as CVAT's importer wants
        names = [f"Street_{s}.json" for s in ("test", "train", "val")] if target == arch else \
            [f"instances_{s}.json" for s in ("test", "train", "val")]
        assert sorted(n.split("/")[-1] for n, _, _ in res) == names
        for name, rep, counts in res:
            split = re.search(r"_(\w+)\.json$", name)[1]
            d = Dataset.load(arch / "annotations" / f"Street_{split}.json")
            assert rep.errors == [] and "error" not in counts, (name, counts)
            assert (counts["items"], counts["categories"]) == (len(d.images), len(d.categories))

def test_check_archive_errors(tmp_path):
    with pytest.raises(CvatNbError, match="no such file"): check_archive(tmp_path / "nope.zip")
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(CvatNbError, match="not a readable zip"): check_archive(tmp_path / "bad.zip")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CvatNbError, match="no COCO JSON"): check_archive(tmp_path / "empty")

# ---------------------------------------------------------------------------------------------------------------
# write_archive split files, re-read by Datumaro

@pytest.mark.parametrize("make,kind", [(instances_ds, "instances"), (keypoints_ds, "person_keypoints")])
def test_archive_split_files_read_back_in_datumaro(tmp_path, make, kind):
    ds = make()
    src = save(ds, tmp_path / "in" / "Thing_coco.json")
    splits = "train=.5,val=.25,test=.25" if kind == "instances" else "train=.5,val=.5"
    arch = write_archive(src, out_dir=tmp_path / "out", splits=splits)
    files = sorted((arch / "annotations").glob("*.json"))
    assert files
    total_imgs = total_anns = 0
    for f in files:
        split = re.fullmatch(r"Thing_(\w+)\.json", f.name)[1]
        written = Dataset.load(f)
        got = dm_summary(dm_import(f.read_bytes(), kind, tmp_path / "dm" / split, subset=split))
        want = expected(written)
        assert got == want, f.name
        assert all(i.startswith(f"{split}/") for i in got["items"])
        total_imgs += len(got["items"]); total_anns += len(got["annotations"])
    assert (total_imgs, total_anns) == (len(ds.images), len(ds.annotations))

def test_archive_zip_is_what_cvat_coco_importer_detects(tmp_path):
    "CVAT's COCO importer wants annotations/instances_<subset>.json (person_keypoints_ for keypoints) in an uploaded zip."
    dm = pytest.importorskip("datumaro")
    src = save(instances_ds(), tmp_path / "in" / "Street_coco.json")
    arch = write_archive(src, out_dir=tmp_path / "out", splits="train=.5,val=.5", zip=True)
    z = arch.with_suffix(".zip")
    with zipfile.ZipFile(z) as f:
        assert sorted(n for n in f.namelist() if n.endswith(".json")) == ["annotations/instances_train.json",
                                                                          "annotations/instances_val.json"]
        f.extractall(tmp_path / "unzipped")
    (tmp_path / "unzipped" / "images").mkdir()
    assert "coco_instances" in dm.Environment().detect_dataset(str(tmp_path / "unzipped"))
    data = dm.Dataset.import_from(str(tmp_path / "unzipped"), "coco_instances")
    assert sorted(data.subsets()) == ["train", "val"] and len(data) == len(Dataset.load(src).images)
    kp = write_archive(save(keypoints_ds(), tmp_path / "in" / "Pose_coco.json"), out_dir=tmp_path / "out",
                       splits="train=.5,val=.5", zip=True)
    assert sorted(n for n in zipfile.ZipFile(kp.with_suffix(".zip")).namelist() if n.endswith(".json")) == \
        ["annotations/person_keypoints_train.json", "annotations/person_keypoints_val.json"]

def test_keypoints_get_segmentation_so_datumaro_does_not_warn(tmp_path, caplog):
    "CVAT writes segmentation [] on keypoints; without it Datumaro warns once per annotation."
    pytest.importorskip("datumaro")
    assert all(a["segmentation"] == [] for a in keypoints_ds().annotations)  # add_poses writes it
    sample = Dataset.load(SAMPLES / "coco" / "person_keypoints_default.json")  # as other tools write it: no segmentation
    sample = sample.replace(annotations=[{k: v for k, v in a.items() if k != "segmentation"} for a in sample.annotations])
    fixed = for_cvat(sample)
    assert all(a["segmentation"] == [] for a in fixed.annotations)
    for name, ds in (("raw", sample), ("fixed", fixed)):
        caplog.clear()
        with caplog.at_level("WARNING"): dm_import(ds.to_json(), "person_keypoints", tmp_path / name)
        missing = [r for r in caplog.records if "Missing annotation field 'segmentation'" in r.getMessage()]
        assert len(missing) == (len(sample.annotations) if name == "raw" else 0), name

# ---------------------------------------------------------------------------------------------------------------
# Splits

def ids(parts): return {s: sorted(i["id"] for i in d.images) for s, d in parts.items()}

@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_is_a_partition(seed, stratify):
    ds = synthetic_ds()
    parts = split_by_ratio(ds, "train=.6,val=.2,test=.2", seed=seed, stratify=stratify)
    assert list(parts) == list(SPLITS3)
    check_partition(ds, parts)
    imgs = Counter(i["id"] for d in parts.values() for i in d.images)
    anns = Counter(a["id"] for d in parts.values() for a in d.annotations)
    assert imgs == Counter(i["id"] for i in ds.images) and set(imgs.values()) == {1}
    assert anns == Counter(a["id"] for a in ds.annotations) and set(anns.values()) == {1}
    for d in parts.values():  # annotations stay with their image; categories all kept
        own = {i["id"] for i in d.images}
        assert all(a["image_id"] in own for a in d.annotations)
        assert d.categories == ds.categories
    if not stratify: assert {s: len(v) for s, v in ids(parts).items()} == {"train": 12, "val": 4, "test": 4}

def test_split_counts_add_up_for_awkward_sizes():
    for n in (3, 7, 11, 13):
        parts = split_by_ratio(synthetic_ds(n, rare=0), "train=.34,val=.33,test=.33")
        assert sum(len(d.images) for d in parts.values()) == n

def test_split_seed_determinism():
    ds = synthetic_ds()
    assert ids(split_by_ratio(ds, seed=3)) == ids(split_by_ratio(ds, seed=3))
    assert ids(split_by_ratio(ds, seed=3, stratify=True)) == ids(split_by_ratio(ds, seed=3, stratify=True))
    assert ids(split_by_ratio(ds, seed=0)) != ids(split_by_ratio(ds, seed=1))

def test_split_accepts_dict_ratios():
    assert ids(split_by_ratio(synthetic_ds(), {"a": .5, "b": .5}, seed=2)) == \
        ids(split_by_ratio(synthetic_ds(), "a=.5,b=.5", seed=2))

def rare_in(parts): return {s: any(a["category_id"] == 3 for a in d.annotations) for s, d in parts.items()}

@pytest.mark.parametrize("seed", range(5))
def test_stratify_keeps_rare_category_in_every_split(seed):
    ds = synthetic_ds(20, rare=3)
    assert ds.category(3)["name"] == "rare"
    assert all(rare_in(split_by_ratio(ds, "train=.5,val=.25,test=.25", seed=seed, stratify=True)).values())

def test_without_stratify_rare_category_can_miss_a_split():
    "The contrast that makes the test above meaningful: plain shuffling loses the rare category somewhere."
    ds = synthetic_ds(20, rare=3)
    assert not all(all(rare_in(split_by_ratio(ds, "train=.5,val=.25,test=.25", seed=s)).values()) for s in range(20))

def test_stratify_rare_category_in_every_split_with_default_ratios():
    ds = synthetic_ds(30, rare=3)
    assert all(rare_in(split_by_ratio(ds, seed=0, stratify=True)).values())

@pytest.mark.parametrize("ratios,msg", [
    ("train=.5,val=.2", "sum to 0.7, not 1"),
    ({"train": .8, "val": .1, "test": .2}, "sum to 1.1"),
    ("train=1,val=0", "positive ratio"),
    ("train=1.2,val=-.2", "positive ratio"),
    ({}, "positive ratio"),
    ("train:.8", "must look like train=.8"),
])
def test_split_bad_ratios(ratios, msg):
    with pytest.raises(CvatNbError, match=re.escape(msg)): split_by_ratio(synthetic_ds(), ratios)

def test_split_left_empty_and_empty_dataset():
    with pytest.raises(CvatNbError, match=r"split\(s\) val, test would get no image of the 2"):
        split_by_ratio(synthetic_ds(2, rare=0))
    with pytest.raises(CvatNbError, match="no images to split"): split_by_ratio(Dataset())

def test_check_partition_detects_loss_and_repeat():
    ds = synthetic_ds()
    parts = split_by_ratio(ds, "train=.5,val=.5")
    with pytest.raises(CvatNbError, match="do not add up"): check_partition(ds, {"train": parts["train"]})
    with pytest.raises(CvatNbError, match="do not add up"):
        check_partition(ds, {**parts, "again": parts["val"]})
    dropped = parts["train"].filter(lambda a: a["id"] != parts["train"].annotations[0]["id"])
    with pytest.raises(CvatNbError, match="do not add up"): check_partition(ds, {**parts, "train": dropped})

def prefixed_ds():
    ds = Dataset()
    for n in ("train/a.jpg", "train/b.jpg", "val/c.jpg", "test/sub/d.jpg"):
        ds.add_box(ds.add_image(n, 10, 10), "x", [1, 1, 2, 2])
    return ds

def test_split_by_prefix():
    ds = prefixed_ds()
    parts = split_by_prefix(ds)
    assert {s: [i["file_name"] for i in d.images] for s, d in parts.items()} == \
        {"train": ["a.jpg", "b.jpg"], "val": ["c.jpg"], "test": ["sub/d.jpg"]}
    check_partition(ds, parts)
    kept = split_by_prefix(ds, strip=False)
    assert [i["file_name"] for i in kept["test"].images] == ["test/sub/d.jpg"]
    ds.add_image("loose.jpg", 10, 10)
    with pytest.raises(CvatNbError, match="'loose.jpg' starts with no folder"): split_by_prefix(ds)

def test_split_by_table(tmp_path):
    ds = synthetic_ds(4, rare=0)
    t = tmp_path / "t.csv"
    t.write_text("file_name,part\nimg_000.jpg,train\nimg_001.jpg,val\nimg_002.jpg,train\nimg_003.jpg,test\n")
    parts = split_by_table(ds, t, column="part")
    assert ids(parts) == {"train": [1, 3], "val": [2], "test": [4]}
    check_partition(ds, parts)
    with pytest.raises(CvatNbError, match="needs the columns file_name and split"): split_by_table(ds, t)
    t.write_text("file_name,split\nimg_000.jpg,train\n")
    with pytest.raises(CvatNbError, match=r"3 image\(s\) have no row, e.g. 'img_001.jpg'"): split_by_table(ds, t)
    with pytest.raises(CvatNbError, match="cannot be read"): split_by_table(ds, tmp_path / "missing.csv")

# ---------------------------------------------------------------------------------------------------------------
# write_archive: layout

def listing(folder:Path): return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

def test_archive_layout_as_seed_000(tmp_path):
    ds = synthetic_ds(8, rare=2)
    src = save(ds, tmp_path / "in" / "QuadrupedFoot_coco.json")
    out = tmp_path / "out"
    arch = write_archive(src, out_dir=out, splits="train=.5,val=.25,test=.25", zip=True)
    assert arch == out / "QuadrupedFoot_archive"
    files = ["annotations/QuadrupedFoot_test.json", "annotations/QuadrupedFoot_train.json",
             "annotations/QuadrupedFoot_val.json", "dataset_info.txt"]
    assert listing(arch) == files
    assert sorted(os.listdir(out)) == ["QuadrupedFoot_archive", "QuadrupedFoot_archive.zip"]  # no temporaries
    with zipfile.ZipFile(out / "QuadrupedFoot_archive.zip") as z:  # the same bytes, JSON named for CVAT's importer
        zipped = {f: f.replace("QuadrupedFoot_", "instances_") for f in files}
        assert sorted(z.namelist()) == sorted(zipped.values())
        assert all(z.read(m) == (arch / f).read_bytes() for f, m in zipped.items())
    sizes = {}
    for s in SPLITS3:
        d = Dataset.load(arch / "annotations" / f"QuadrupedFoot_{s}.json")
        assert all(i["file_name"] == f"{s}/{Path(i['file_name']).name}" for i in d.images)
        assert {Path(i["file_name"]).name for i in d.images} <= {i["file_name"] for i in ds.images}
        assert "info" in d.data and "licenses" in d.data
        sizes[s] = (len(d.images), len(d.annotations), Counter(a["category_id"] for a in d.annotations))
    assert [v[0] for v in sizes.values()] == [4, 2, 2]
    info = (arch / "dataset_info.txt").read_text()
    assert info.startswith("Dataset: QuadrupedFoot\n")
    assert f"Source: {src}\n" in info and f"Written by: cvat_nb {__version__}\n" in info
    assert re.search(r"^Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", info, re.M)
    names = {c["id"]: c["name"] for c in ds.categories}
    for s, (ni, na, per) in sizes.items():
        block = info.split(f"{s}: {ni} images, {na} annotations\n")[1].split("\n\n")[0]
        for cid, n in per.items(): assert f"  {names[cid]}: {n}\n" in block + "\n"
    # the split matches split_by_ratio with the same seed
    ref = split_by_ratio(for_cvat(src), "train=.5,val=.25,test=.25", seed=0)
    for s in SPLITS3:
        got = Dataset.load(arch / "annotations" / f"QuadrupedFoot_{s}.json")
        assert [Path(i["file_name"]).name for i in got.images] == [i["file_name"] for i in ref[s].images]

def test_archive_name_and_split_dirs_options(tmp_path):
    src = save(synthetic_ds(4, rare=0), tmp_path / "in" / "plain.json")
    arch = write_archive(src, name="Other", out_dir=tmp_path / "o", splits="train=.5,val=.5", split_dirs=False)
    assert listing(arch) == ["annotations/Other_train.json", "annotations/Other_val.json", "dataset_info.txt"]
    assert all("/" not in i["file_name"] for i in Dataset.load(arch / "annotations/Other_val.json").images)
    assert write_archive(src, out_dir=tmp_path / "o2", splits="train=.5,val=.5").name == "plain_archive"

def test_archive_prefix_and_given_splits(tmp_path):
    arch = write_archive(prefixed_ds(), name="P", out_dir=tmp_path / "o", splits="prefix")
    d = Dataset.load(arch / "annotations/P_test.json")
    assert [i["file_name"] for i in d.images] == ["test/d.jpg"]
    ds = synthetic_ds(4, rare=0)
    given = {"a": ds.subset(images=[1, 2]), "b": ds.subset(images=[3, 4])}
    arch = write_archive(ds, name="G", out_dir=tmp_path / "o", splits=given)
    assert listing(arch) == ["annotations/G_a.json", "annotations/G_b.json", "dataset_info.txt"]
    with pytest.raises(CvatNbError, match="do not add up"):
        write_archive(ds, name="H", out_dir=tmp_path / "o", splits={"a": ds.subset(images=[1])})
    assert not (tmp_path / "o" / "H_archive").exists()

def test_full_archive_with_images(tmp_path):
    ds = instances_ds()
    src = save(ds, tmp_path / "in" / "Street_coco.json")
    arch = write_archive(src, out_dir=tmp_path / "out", splits="train=.5,val=.25,test=.25", images_dir=SAMPLES / "images",
                         zip=True)
    imgs = [f for f in listing(arch) if f.startswith("images/")]
    assert len(imgs) == 4
    for s in SPLITS3:
        d = Dataset.load(arch / "annotations" / f"Street_{s}.json")
        for i in d.images:
            assert (arch / "images" / i["file_name"]).read_bytes() == (SAMPLES / "images" / Path(i["file_name"]).name).read_bytes()
            assert f"images/{i['file_name']}" in imgs
    assert sorted(zipfile.ZipFile(arch.with_suffix(".zip")).namelist()) == \
        sorted(f.replace("annotations/Street_", "annotations/instances_") for f in listing(arch))

def test_archive_refuses_overwrite_and_overwrite_replaces(tmp_path):
    src = save(synthetic_ds(8, rare=0), tmp_path / "in" / "X_coco.json")
    out = tmp_path / "out"
    arch = write_archive(src, out_dir=out, splits="train=.5,val=.5", zip=True)
    (arch / "marker").write_text("old")
    zbefore = arch.with_suffix(".zip").read_bytes()
    with pytest.raises(CvatNbError, match="exists already"): write_archive(src, out_dir=out, splits="train=.5,val=.5")
    with pytest.raises(CvatNbError, match="exists already"):
        write_archive(src, out_dir=out, splits="train=.5,val=.5", zip=True)
    assert (arch / "marker").exists() and arch.with_suffix(".zip").read_bytes() == zbefore
    arch.rename(out / "moved")  # the zip alone also blocks a zip=True write
    with pytest.raises(CvatNbError, match="X_archive.zip: exists already"):
        write_archive(src, out_dir=out, splits="train=.5,val=.5", zip=True)
    assert not arch.exists()
    shutil.rmtree(out / "moved"); arch.with_suffix(".zip").unlink()
    write_archive(src, out_dir=out, splits="train=.5,val=.5", zip=True)
    write_archive(src, out_dir=out, splits="train=.25,val=.75", zip=True, overwrite=True)
    assert len(Dataset.load(arch / "annotations/X_train.json").images) == 2
    assert sorted(os.listdir(out)) == ["X_archive", "X_archive.zip"]
    with zipfile.ZipFile(arch.with_suffix(".zip")) as z:
        assert len(json.loads(z.read("annotations/instances_train.json"))["images"]) == 2

def test_archive_failure_midway_leaves_nothing(tmp_path):
    imgs = tmp_path / "imgs"
    shutil.copytree(SAMPLES / "images", imgs)
    (imgs / "street_03.jpg").unlink()
    src = save(instances_ds(), tmp_path / "in" / "Street_coco.json")
    out = tmp_path / "out"; out.mkdir()
    with pytest.raises(CvatNbError, match="street_03.jpg: no such image file"):
        write_archive(src, out_dir=out, splits="train=.5,val=.25,test=.25", images_dir=imgs, zip=True)
    assert os.listdir(out) == []
    # an existing archive survives a failed overwrite
    arch = write_archive(src, out_dir=out, splits="train=.5,val=.25,test=.25", zip=True)
    before = {f: (arch / f).read_bytes() for f in listing(arch)}
    zbefore = arch.with_suffix(".zip").read_bytes()
    with pytest.raises(CvatNbError, match="no such image file"):
        write_archive(src, out_dir=out, splits="train=.5,val=.25,test=.25", images_dir=imgs, zip=True, overwrite=True)
    assert {f: (arch / f).read_bytes() for f in listing(arch)} == before
    assert arch.with_suffix(".zip").read_bytes() == zbefore
    assert sorted(os.listdir(out)) == ["Street_archive", "Street_archive.zip"]

def test_archive_output_dir_is_a_file(tmp_path):
    src = save(synthetic_ds(4, rare=0), tmp_path / "in" / "X.json")
    f = tmp_path / "out"; f.write_text("keep")
    with pytest.raises(CvatNbError, match="out: is a file, not a folder"):
        write_archive(src, out_dir=f, splits="train=.5,val=.5", zip=True)
    assert f.read_text() == "keep" and sorted(os.listdir(tmp_path)) == ["in", "out"]
    with pytest.raises(CvatNbError, match="is a file"):
        write_cvat_zip(synthetic_ds(4), f / "x.zip")
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]

@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_archive_read_only_output_dir(tmp_path):
    src = save(synthetic_ds(4, rare=0), tmp_path / "in" / "X.json")
    out = tmp_path / "ro"; out.mkdir(); out.chmod(0o555)
    try:
        with pytest.raises(CvatNbError, match="ro: is not writable"):
            write_archive(src, out_dir=out, splits="train=.5,val=.5", zip=True)
        assert os.listdir(out) == []
        with pytest.raises(CvatNbError, match="cannot be created"):
            write_archive(src, out_dir=out / "sub", splits="train=.5,val=.5")
    finally: out.chmod(0o755)

def test_archive_unwritable_output_dir_message(tmp_path, monkeypatch):
    "The same path as the read-only test, reachable as root: `os.access` says the folder is not writable."
    import cvat_nb.export as ex
    src = save(synthetic_ds(4, rare=0), tmp_path / "in" / "X.json")
    out = tmp_path / "ro"; out.mkdir()
    monkeypatch.setattr(ex.os, "access", lambda p, mode: False)
    with pytest.raises(CvatNbError, match="ro: is not writable"):
        write_archive(src, out_dir=out, splits="train=.5,val=.5", zip=True)
    assert os.listdir(out) == []

# ---------------------------------------------------------------------------------------------------------------
# rename_for_task

def named_ds(*names):
    ds = Dataset()
    for n in names: ds.add_box(ds.add_image(n, 10, 10), "x", [1, 1, 2, 2])
    return ds

def names(ds): return [i["file_name"] for i in ds.images]

def test_rename_each_option():
    ds = named_ds("sub/a.png", "sub/b.png", "c.png")
    out, ch = rename_for_task(ds, strip_dirs=True)
    assert names(out) == ["a.png", "b.png", "c.png"] and ch == [("sub/a.png", "a.png"), ("sub/b.png", "b.png")]
    for e in ("jpg", ".jpg"):
        out, ch = rename_for_task(ds, ext=e)
        assert names(out) == ["sub/a.jpg", "sub/b.jpg", "c.jpg"] and len(ch) == 3
    out, ch = rename_for_task(ds, prefix="p_")
    assert names(out) == ["sub/p_a.png", "sub/p_b.png", "p_c.png"]
    out, ch = rename_for_task(ds, add_dir="frames")
    assert names(out) == ["frames/sub/a.png", "frames/sub/b.png", "frames/c.png"]
    out, ch = rename_for_task(ds, mapping={"c.png": "zz/d.png"})
    assert names(out) == ["sub/a.png", "sub/b.png", "zz/d.png"] and ch == [("c.png", "zz/d.png")]
    out, ch = rename_for_task(ds, mapping={"c.png": "zz/d.png"}, strip_dirs=True, ext=".jpg", prefix="p_", add_dir="f")
    assert names(out) == ["f/p_a.jpg", "f/p_b.jpg", "f/p_d.jpg"]  # mapping first, then the others
    assert ch == list(zip(names(ds), names(out)))
    out, ch = rename_for_task(ds)
    assert names(out) == names(ds) and ch == []
    assert names(ds) == ["sub/a.png", "sub/b.png", "c.png"]  # the input is not changed
    assert [a["image_id"] for a in out.annotations] == [a["image_id"] for a in ds.annotations]

@pytest.mark.parametrize("ds,kw", [
    (named_ds("a/x.png", "b/x.png"), dict(strip_dirs=True)),
    (named_ds("x.png", "x.jpg"), dict(ext=".jpg")),
    (named_ds("a.png", "b.png"), dict(mapping={"a.png": "b.png"})),
])
def test_rename_collisions_raise(ds, kw):
    with pytest.raises(CvatNbError, match="two images the name"): rename_for_task(ds, **kw)

def test_read_mapping(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("old,new\na.png,b.png\n\nc d.png,e.png\n")
    assert read_mapping(m) == {"a.png": "b.png", "c d.png": "e.png"}
    m.write_text("a.png,b.png\n")
    assert read_mapping(m) == {"a.png": "b.png"}
    m.write_text("a.png,b.png\nlonely\n")
    with pytest.raises(CvatNbError, match="line 2: each line must be old,new"): read_mapping(m)
    with pytest.raises(CvatNbError, match="cannot be read"): read_mapping(tmp_path / "nope.csv")

# ---------------------------------------------------------------------------------------------------------------
# CLI

def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err

def one_line_error(err):
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err

@pytest.mark.parametrize("cmd", ["archive", "split", "merge", "rename", "check-archive"])
def test_cli_help_shows_example(capsys, cmd):
    with pytest.raises(SystemExit) as e: main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"cvat-nb {cmd} " in out.split("example:")[1]

def test_cli_archive_annotations_only_zip(tmp_path, capsys):
    src = save(synthetic_ds(10), tmp_path / "in" / "QuadrupedFoot_coco.json")
    d = tmp_path / "cvat_annotations"
    rc, out, err = run(capsys, "archive", src, "--annotations-only", "--zip", "--output-dir", d)
    assert rc == 0 and err == ""
    assert sorted(os.listdir(d)) == ["QuadrupedFoot_archive", "QuadrupedFoot_archive.zip"]
    assert listing(d / "QuadrupedFoot_archive") == ["annotations/QuadrupedFoot_test.json", "annotations/QuadrupedFoot_train.json",
                                                     "annotations/QuadrupedFoot_val.json", "dataset_info.txt"]
    assert f"wrote {d / 'QuadrupedFoot_archive'} and {d / 'QuadrupedFoot_archive'}.zip" in out
    rc, _, err = run(capsys, "archive", src, "--zip", "--output-dir", d)  # again: refuses
    assert rc == 1 and "exists already" in one_line_error(err)
    rc, _, err = run(capsys, "archive", src, "--zip", "--output-dir", d, "--overwrite", "--seed", "5")
    assert rc == 0

def test_cli_archive_all_coco(tmp_path, capsys):
    src = tmp_path / "coco_exports"
    save(synthetic_ds(10), src / "A_coco.json"); save(synthetic_ds(6, rare=0), src / "B.json")
    d = tmp_path / "out"
    rc, out, _ = run(capsys, "archive", "--all-coco", src, "--output-dir", d, "--splits", "train=.5,val=.5")
    assert rc == 0 and sorted(os.listdir(d)) == ["A_archive", "B_archive"]
    assert out.count("wrote ") == 2
    rc, _, err = run(capsys, "archive", "--all-coco", tmp_path / "nothing_here", "--output-dir", d)
    assert rc == 1 and "give a COCO file" in one_line_error(err)

def test_cli_archive_with_images(tmp_path, capsys):
    src = save(instances_ds(), tmp_path / "in" / "Street_coco.json")
    rc, _, _ = run(capsys, "archive", src, "--images", SAMPLES / "images", "--output-dir", tmp_path / "o",
                   "--splits", "train=.5,val=.5")
    assert rc == 0 and len(list((tmp_path / "o/Street_archive/images").rglob("*.jpg"))) == 4
    rc, _, err = run(capsys, "archive", src, "--images", SAMPLES / "images", "--annotations-only",
                     "--output-dir", tmp_path / "o2")
    assert rc == 1 and "exclude each other" in one_line_error(err) and not (tmp_path / "o2").exists()

@pytest.mark.parametrize("cmd", ["archive", "split"])
def test_cli_bad_ratios_write_nothing(tmp_path, capsys, cmd):
    src = save(synthetic_ds(10), tmp_path / "in" / "X.json")
    d = tmp_path / "out"
    flag = "--output-dir" if cmd == "archive" else "--out-dir"
    rc, out, err = run(capsys, cmd, src, "--splits", "train=.5,val=.2", flag, d)
    assert rc == 1 and "sum to 0.7, not 1" in one_line_error(err)
    assert err.startswith(f"cvat-nb {cmd}: ")
    assert not d.exists() and os.listdir(tmp_path) == ["in"]

@pytest.mark.parametrize("cmd", ["archive", "split"])
def test_cli_output_dir_is_a_file(tmp_path, capsys, cmd):
    src = save(synthetic_ds(10), tmp_path / "in" / "X.json")
    f = tmp_path / "out"; f.write_text("keep")
    flag = "--output-dir" if cmd == "archive" else "--out-dir"
    rc, _, err = run(capsys, cmd, src, flag, f)
    assert rc == 1 and "is a file, not a folder" in one_line_error(err)
    assert f.read_text() == "keep" and sorted(os.listdir(tmp_path)) == ["in", "out"]

def test_cli_split(tmp_path, capsys):
    ds = synthetic_ds(10)
    src = save(ds, tmp_path / "in" / "coco.json")
    d = tmp_path / "splits"
    rc, out, _ = run(capsys, "split", src, "--splits", "train=.8,val=.2", "--out-dir", d, "--stratify")
    assert rc == 0 and sorted(os.listdir(d)) == ["coco_train.json", "coco_val.json"]
    parts = {s: Dataset.load(d / f"coco_{s}.json") for s in ("train", "val")}
    check_partition(ds, parts)
    n = {s: len(p.images) for s, p in parts.items()}
    assert f"coco_train.json: {n['train']} images" in out and sum(n.values()) == 10
    rc, _, err = run(capsys, "split", src, "--splits", "train=.8,val=.2", "--out-dir", d)
    assert rc == 1 and "exists already" in one_line_error(err)
    # by prefix, by table
    p = save(prefixed_ds(), tmp_path / "in" / "pre.json")
    rc, _, _ = run(capsys, "split", p, "--by", "prefix", "--out-dir", tmp_path / "p")
    assert rc == 0 and sorted(os.listdir(tmp_path / "p")) == ["pre_test.json", "pre_train.json", "pre_val.json"]
    t = tmp_path / "t.csv"
    with open(t, "w", newline="") as f:
        csv.writer(f).writerows([["file_name", "fold"]] + [[i["file_name"], "a" if i["id"] < 4 else "b"] for i in ds.images])
    rc, _, _ = run(capsys, "split", src, "--by", "table", "--table", t, "--column", "fold", "--out-dir", tmp_path / "t")
    assert rc == 0 and len(Dataset.load(tmp_path / "t/coco_a.json").images) == 3

def test_cli_merge(tmp_path, capsys):
    a = save(named_ds("a.png", "b.png"), tmp_path / "a.json")
    b = save(named_ds("b.png", "c.png"), tmp_path / "b.json")
    out = tmp_path / "m.json"
    rc, o, _ = run(capsys, "merge", a, b, "--out", out)
    assert rc == 0 and "3 images, 4 annotations, 1 categories" in o
    m = Dataset.load(out)
    assert names(m) == ["a.png", "b.png", "c.png"] and len({x["id"] for x in m.annotations}) == 4
    rc, _, err = run(capsys, "merge", a, b, "--out", out)
    assert rc == 1 and "exists already" in one_line_error(err)

def test_cli_rename(tmp_path, capsys):
    src = save(named_ds("sub/a.png", "c.png"), tmp_path / "in.json")
    out = tmp_path / "out.json"
    rc, o, _ = run(capsys, "rename", src, "--strip-dirs", "--ext", ".jpg", "--out", out)
    assert rc == 0 and names(Dataset.load(out)) == ["a.jpg", "c.jpg"]
    assert "sub/a.png -> a.jpg" in o and "c.png -> c.jpg" in o and "2 of 2 names changed" in o
    m = tmp_path / "m.csv"; m.write_text("old,new\nc.png,d.png\n")
    rc, _, _ = run(capsys, "rename", src, "--mapping", m, "--prefix", "p_", "--out", tmp_path / "o2.json")
    assert rc == 0 and names(Dataset.load(tmp_path / "o2.json")) == ["sub/p_a.png", "p_d.png"]

def test_cli_rename_collision_writes_nothing(tmp_path, capsys):
    src = save(named_ds("a/x.png", "b/x.png"), tmp_path / "in.json")
    out = tmp_path / "out.json"
    rc, o, err = run(capsys, "rename", src, "--strip-dirs", "--out", out)
    assert rc == 1 and "two images the name 'x.png'" in one_line_error(err)
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["in.json"]

def test_cli_check_archive(tmp_path, capsys):
    pytest.importorskip("datumaro")
    src = save(instances_ds(), tmp_path / "in" / "Street_coco.json")
    arch = write_archive(src, out_dir=tmp_path / "out", splits="train=.5,val=.5", zip=True)
    rc, out, _ = run(capsys, "check-archive", arch.with_suffix(".zip"))
    assert rc == 0 and out.count("Datumaro: {'items'") == 2
    rc, _, err = run(capsys, "check-archive", tmp_path / "nope.zip")
    assert rc == 1 and "no such file or folder" in one_line_error(err)
