"""Folders of masks to COCO, end to end: every mode, the CLI, parallel runs, model outputs (boxes, poses), skeletons,
and the bad-mask corpus in `tests/bad_masks/` (regenerate it with `python tests/bad_masks/make_bad_masks.py`).

Cases the library gets wrong today are marked `xfail(strict=True)` with the bug in the reason: fix the library, then
delete the entry from the `*_BUGS` dict below."""
from __future__ import annotations
import importlib.util, json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from scipy import ndimage

from cvat_nb import codecs
from cvat_nb.cli import main
from cvat_nb.coco import Dataset
from cvat_nb.convert import Conversion, Job, convert_one, labelmap_categories, masks_to_coco
from cvat_nb.errors import CocoError, CvatNbError
from cvat_nb.labels import MaskError, read_labelmap
from cvat_nb.export import for_cvat
from cvat_nb.skeleton import Skeleton, add_detections, add_poses, add_skeleton
from cvat_nb.validate import validate

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
EIGHT = np.ones((3, 3), bool)
BAD = Path(__file__).parent / "bad_masks"
BAD_CASES = sorted(p.name for p in BAD.iterdir() if (p / "case.json").is_file())

# ---------------------------------------------------------------- known library bugs (remove an entry once fixed)

BAD_CLI_BUGS: dict = {}
BAD_SKIP_BUGS: dict = {}

def cases(names, bugs):
    return [pytest.param(n, id=n, marks=[pytest.mark.xfail(strict=True, reason=bugs[n])] if n in bugs else [])
            for n in names]

# ---------------------------------------------------------------- helpers

def save(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(a)).save(path)
    return path

def save_image(path, w, h):
    "A JPEG (or PNG) image of `w`×`h` pixels; its content does not matter."
    return save(path, np.full((h, w, 3), 90, np.uint8))

# images of different sizes, nested folders; the masks are named like them, as .png
SIZES = {"y.jpg": (10, 7), "a/b/x.jpg": (12, 9), "a/z.jpeg": (5, 4), "c/w.png": (1, 6)}

def label_map(rng, w, h, labels, dtype=np.uint8):
    "Background, a few rectangles of `labels` (some touching the border), and a sprinkle of single pixels."
    m = np.zeros((h, w), dtype)
    for _ in range(4):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        m[y0:y0 + rng.integers(1, h + 1), x0:x0 + rng.integers(1, w + 1)] = rng.choice(labels)
    dots = rng.random((h, w)) < 0.08
    m[dots] = rng.choice(labels, int(dots.sum()))
    return m

def tree(root, maps:dict, image_sizes=SIZES):
    "Write `images/` and `masks/` under `root` from `{image file_name: mask array}`; returns the two folders."
    for name, (w, h) in image_sizes.items(): save_image(root / "images" / name, w, h)
    for name, m in maps.items(): save(root / "masks" / Path(name).with_suffix(".png"), m)
    return root / "masks", root / "images"

def semantic_maps(dtype=np.uint8, labels=(1, 2, 3), seed=0):
    rng = np.random.default_rng(seed)
    return {n: label_map(rng, w, h, labels, dtype) for n, (w, h) in SIZES.items()}

def ann_masks(ds, image):
    "`[(category_id, mask)]` of an image's annotations, decoded."
    h, w = image["height"], image["width"]
    return [(a["category_id"], codecs.segmentation_to_mask(a["segmentation"], h, w)) for a in ds.anns(image["id"])]

def check_images(ds, images_dir, names):
    "One record per image: file_name is the IMAGE's relative path, width and height are the image file's."
    assert sorted(i["file_name"] for i in ds.images) == sorted(names)
    for im in ds.images:
        with Image.open(Path(images_dir) / im["file_name"]) as f: assert (im["width"], im["height"]) == f.size

def check_exact(ds, im, a, mask):
    "Annotation `a` is `mask`, as pycocotools encodes it, with its area and box."
    assert a["segmentation"] == codecs.encode_mask(mask)
    assert a["area"] == float(mask.sum()) and a["bbox"] == codecs.rle_bbox(a["segmentation"])
    assert a["iscrowd"] == 0 and a["image_id"] == im["id"]

def check_semantic(ds, maps, cat_of=lambda v: v):
    "Every class of every map is one annotation of category `cat_of(class)`, bit for bit."
    for im in ds.images:
        m = maps[im["file_name"]]
        assert m.shape == (im["height"], im["width"])
        anns = ds.anns(im["id"])
        assert sorted(a["category_id"] for a in anns) == sorted(cat_of(v) for v in set(np.unique(m).tolist()) - {0})
        by_cat = {a["category_id"]: a for a in anns}
        for v in set(np.unique(m).tolist()) - {0}: check_exact(ds, im, by_cat[cat_of(v)], m == v)

def no_errors(ds, images_dir):
    r = validate(ds, images_dir=images_dir, target="cvat")
    assert r.ok, [str(p) for p in r.errors]
    return r

def same(a:Dataset, b:Dataset): assert json.loads(a.to_json()) == json.loads(b.to_json())

def run(capsys, args):
    "Exit code, stdout and stderr of `cvat-nb ARGS` run in this process; an uncaught exception is a Traceback."
    capsys.readouterr()
    try: rc = main([str(a) for a in args])
    except SystemExit as e: rc = e.code
    except Exception as e:  # what the console script would print
        out, err = capsys.readouterr()
        return f"uncaught {type(e).__name__}", out, err + f"Traceback (most recent call last):\n{type(e).__name__}: {e}\n"
    out, err = capsys.readouterr()
    return rc, out, err

def one_line(err, *must):
    assert "Traceback" not in err, err
    assert err.endswith("\n") and len(err.splitlines()) == 1, f"want exactly one stderr line, got {err!r}"
    assert err.startswith("cvat-nb masks2coco: "), err
    for s in must: assert s in err, f"stderr lacks {s!r}: {err!r}"

# ---------------------------------------------------------------- semantic

@pytest.mark.parametrize("categories", ["dict", "csv", "json-list", "coco-json"])
def test_semantic_8bit(tmp_path, categories):
    maps = semantic_maps()
    masks, images = tree(tmp_path, maps)
    names = {1: "car", 2: "person", 3: "sign"}
    cats = {"dict": names, "csv": tmp_path / "cats.csv", "json-list": tmp_path / "cats.json",
            "coco-json": tmp_path / "coco.json"}[categories]
    (tmp_path / "cats.csv").write_text("# id,name\n1,car\n2,person\n3, sign\n")
    (tmp_path / "cats.json").write_text(json.dumps(["car", "person", "sign"]))
    (tmp_path / "coco.json").write_text(json.dumps({"categories": [{"id": i, "name": n} for i, n in names.items()]}))
    conv = masks_to_coco(masks, images, categories=cats, progress=False)
    assert isinstance(conv, Conversion) and conv.skipped == [] and conv.holes == 0
    ds = conv.dataset
    assert {c["id"]: c["name"] for c in ds.categories} == names
    check_images(ds, images, SIZES)
    check_semantic(ds, maps)
    no_errors(ds, images)

def test_semantic_16bit_without_categories(tmp_path):
    "Class ids above 255 survive; unknown ids become categories `class_<id>` with that id."
    maps = semantic_maps(np.uint16, labels=(1, 300, 40000, 65535), seed=1)
    masks, images = tree(tmp_path, maps)
    with Image.open(masks / "y.png") as f: assert f.mode.startswith("I")
    ds = masks_to_coco(masks, images, progress=False).dataset
    used = set().union(*(set(np.unique(m).tolist()) for m in maps.values())) - {0}
    assert {c["id"]: c["name"] for c in ds.categories} == {v: f"class_{v}" for v in used}
    check_images(ds, images, SIZES)
    check_semantic(ds, maps)
    no_errors(ds, images)

def test_without_images_folder(tmp_path):
    "With only the images' extension, file_name is the mask's relative path with that extension; sizes the mask's."
    maps = semantic_maps()
    masks, _ = tree(tmp_path, maps, {})
    ds = masks_to_coco(masks, image_ext="jpg", progress=False).dataset
    want = {str(Path(n).with_suffix(".jpg")): m for n, m in maps.items()}
    assert sorted(i["file_name"] for i in ds.images) == sorted(want)
    check_semantic(ds, want)
    with pytest.raises(CvatNbError, match="images folder"): masks_to_coco(masks, progress=False)

def test_image_found_by_stem(tmp_path):
    "A mask in another folder layout than its image is matched by its unique stem; file_name is the image's path."
    save_image(tmp_path / "images/deep/er/pic.jpg", 4, 3)
    m = np.array([[0, 1, 1, 0], [2, 2, 0, 0], [0, 0, 0, 1]], np.uint8)
    save(tmp_path / "masks/pic.png", m)
    ds = masks_to_coco(tmp_path / "masks", tmp_path / "images", progress=False).dataset
    assert [i["file_name"] for i in ds.images] == ["deep/er/pic.jpg"]
    check_semantic(ds, {"deep/er/pic.jpg": m})

# ---------------------------------------------------------------- instance

def instance_maps(seed=2):
    "`{image: (instance map uint16, semantic map uint8)}`: instances with large ids, each of one class."
    rng = np.random.default_rng(seed)
    out = {}
    for n, (w, h) in SIZES.items():
        inst = label_map(rng, w, h, (1, 7, 1000, 65535), np.uint16)
        classes = {i: int(rng.integers(1, 4)) for i in np.unique(inst).tolist() if i}
        sem = np.zeros_like(inst, np.uint8)
        for i, c in classes.items(): sem[inst == i] = c
        out[n] = (inst, sem, classes)
    return out

def check_instances(ds, maps, cat_of=lambda c: c):
    for im in ds.images:
        inst, _, classes = maps[im["file_name"]]
        anns = ds.anns(im["id"])
        assert len(anns) == len(classes)
        got = sorted((a["category_id"], a["segmentation"]["counts"]) for a in anns)
        want = sorted((cat_of(c), codecs.encode_mask(inst == i)["counts"]) for i, c in classes.items())
        assert got == want
        for a in anns: assert a["area"] == float(codecs.decode_rle(a["segmentation"]).sum())

def test_instance_with_semantic_dir(tmp_path):
    maps = instance_maps()
    masks, images = tree(tmp_path, {n: v[0] for n, v in maps.items()})
    for n, (_, sem, _) in maps.items(): save(tmp_path / "semantic" / Path(n).with_suffix(".png"), sem)
    names = {1: "car", 2: "person", 3: "sign"}
    ds = masks_to_coco(masks, images, mode="instance", semantic_dir=tmp_path / "semantic", categories=names,
                       progress=False).dataset
    check_images(ds, images, SIZES)
    check_instances(ds, maps)
    no_errors(ds, images)

@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_instance_with_table(tmp_path, fmt):
    maps = instance_maps(3)
    masks, images = tree(tmp_path, {n: v[0] for n, v in maps.items()})
    names = {1: "car", 2: "person", 3: "sign"}
    rows = [(str(Path(n).with_suffix(".png")), i, c) for n, (_, _, cl) in maps.items() for i, c in cl.items()]
    if fmt == "csv":
        table = tmp_path / "instances.csv"
        table.write_text("file,instance,category\n" + "".join(f"{f},{i},{names[c]}\n" for f, i, c in rows))
        ds = masks_to_coco(masks, images, mode="instance", instance_table=table, progress=False).dataset
        ids = {c["name"]: c["id"] for c in ds.categories}  # categories made from the names, in order met
        assert set(ids) <= set(names.values())
        check_instances(ds, maps, lambda c: ids[names[c]])
    else:  # JSON: keys with or without the extension; categories by name or by id
        table = tmp_path / "instances.json"
        data = {}
        files = sorted({f for f, _, _ in rows})
        for f, i, c in rows:
            key = f if files.index(f) % 2 else str(Path(f).with_suffix(""))
            data.setdefault(key, {})[str(i)] = names[c] if i % 2 else c
        table.write_text(json.dumps(data))
        ds = masks_to_coco(masks, images, mode="instance", instance_table=table, categories=names,
                           progress=False).dataset
        check_instances(ds, maps)
    check_images(ds, images, SIZES)
    no_errors(ds, images)

def test_instance_needs_one_source_of_categories(tmp_path):
    masks, images = tree(tmp_path, {"y.jpg": np.ones((7, 10), np.uint8)}, {"y.jpg": (10, 7)})
    for kw in ({}, {"semantic_dir": tmp_path, "instance_table": tmp_path / "t.csv"}):
        with pytest.raises(CvatNbError, match="semantic_dir or instance_table"):
            masks_to_coco(masks, images, mode="instance", progress=False, **kw)

# ---------------------------------------------------------------- per-instance

def per_instance_objects(seed=4):
    "`{image: [(category name, instance, binary mask)]}`, overlapping masks allowed."
    rng = np.random.default_rng(seed)
    out = {}
    for n, (w, h) in SIZES.items():
        objs = []
        for k in range(1, int(rng.integers(1, 4)) + 1):
            m = label_map(rng, w, h, (1,))
            if not m.any(): m[0, 0] = 1
            objs.append((["car", "person"][k % 2], k, m))
        out[n] = objs
    return out

def check_per_instance(ds, objs):
    names = {c["id"]: c["name"] for c in ds.categories}
    for im in ds.images:
        got = sorted((names[a["category_id"]], a["segmentation"]["counts"]) for a in ds.anns(im["id"]))
        want = sorted((c, codecs.encode_mask(m)["counts"]) for c, _, m in objs[im["file_name"]])
        assert got == want

@pytest.mark.parametrize("layout", ["default", "custom"])
def test_per_instance_pattern(tmp_path, layout):
    objs = per_instance_objects()
    for name, (w, h) in SIZES.items(): save_image(tmp_path / "images" / name, w, h)
    for name, os_ in objs.items():
        stem = str(Path(name).with_suffix(""))
        for cat, k, m in os_:
            rel = f"{stem}_{cat}_{k}.png" if layout == "default" else f"{stem}/{cat}-{k}.png"
            save(tmp_path / "masks" / rel, m * 255)  # any non-zero value is inside
    pattern = None if layout == "default" else r"(?P<image>.+)/(?P<category>[a-z]+)-(?P<instance>\d+)"
    ds = masks_to_coco(tmp_path / "masks", tmp_path / "images", mode="per-instance", pattern=pattern,
                       categories={1: "car", 2: "person"}, progress=False).dataset
    check_images(ds, tmp_path / "images", SIZES)
    check_per_instance(ds, objs)
    no_errors(ds, tmp_path / "images")

def test_per_instance_index(tmp_path):
    objs = per_instance_objects(5)
    for name, (w, h) in SIZES.items(): save_image(tmp_path / "images" / name, w, h)
    rows = ["mask,image,category"]
    for n, (name, os_) in enumerate(objs.items()):
        for cat, k, m in os_:
            rel = f"{n:02d}/{k:04d}.png"  # names that say nothing: the index says everything
            save(tmp_path / "masks" / rel, m)
            rows.append(f"{rel},{name},{cat}")
    (tmp_path / "index.csv").write_text("\n".join(rows) + "\n")
    ds = masks_to_coco(tmp_path / "masks", tmp_path / "images", mode="per-instance", index_file=tmp_path / "index.csv",
                       progress=False).dataset
    check_images(ds, tmp_path / "images", SIZES)
    check_per_instance(ds, objs)
    no_errors(ds, tmp_path / "images")

# ---------------------------------------------------------------- CVAT colour masks

LABELMAP = "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:250,50,83::\nperson:0,0,255::\nsign:51,221,255::\n"

def test_color_with_labelmap(tmp_path):
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    names, colors = labelmap_categories(read_labelmap(tmp_path / "labelmap.txt"))
    assert names == {1: "car", 2: "person", 3: "sign"} and colors[0] == (0, 0, 0)
    maps = semantic_maps(seed=6)
    for name, (w, h) in SIZES.items(): save_image(tmp_path / "images" / name, w, h)
    for name, m in maps.items():
        rgb = np.array([colors[v] for v in m.ravel().tolist()], np.uint8).reshape(*m.shape, 3)
        save(tmp_path / "masks" / Path(name).with_suffix(".png"), rgb)
    ds = masks_to_coco(tmp_path / "masks", tmp_path / "images", mode="color", categories=tmp_path / "labelmap.txt",
                       progress=False).dataset
    assert {c["id"]: c["name"] for c in ds.categories} == names
    check_images(ds, tmp_path / "images", SIZES)
    check_semantic(ds, maps)
    no_errors(ds, tmp_path / "images")
    with pytest.raises(CvatNbError, match="labelmap"):
        masks_to_coco(tmp_path / "masks", tmp_path / "images", mode="color", progress=False)

# ---------------------------------------------------------------- polygons and connected parts

def hole_free(mask): return (ndimage.binary_fill_holes(mask, structure=EIGHT) == mask).all()

def test_polygons_rasterise_back(tmp_path):
    "Hole-free masks come back exactly from their polygons; one with a hole comes back filled, and is counted."
    rng = np.random.default_rng(7)
    maps = {n: label_map(rng, w, h, (1, 2, 3)) for n, (w, h) in SIZES.items()}
    ring = np.zeros((7, 10), np.uint8); ring[1:6, 1:6] = 3; ring[2:5, 2:5] = 0; ring[3, 3] = 1
    maps["y.jpg"] = ring
    masks, images = tree(tmp_path, maps)
    conv = masks_to_coco(masks, images, as_="polygons", progress=False)
    assert conv.holes >= 1 and "hole(s) filled" in conv.report()
    ds = conv.dataset
    checked = 0
    for im in ds.images:
        m = maps[im["file_name"]]
        anns = ds.anns(im["id"])
        assert sorted(a["category_id"] for a in anns) == sorted(set(np.unique(m).tolist()) - {0})
        for a in anns:
            seg, v = a["segmentation"], a["category_id"]
            assert codecs.is_polygons(seg) and seg and all(len(p) >= 8 for p in seg)
            got = codecs.polygons_to_mask(seg, im["height"], im["width"]).astype(bool)
            want = m == v
            np.testing.assert_array_equal(got, ndimage.binary_fill_holes(want, structure=EIGHT))
            assert a["area"] == float(want.sum()) and a["bbox"] == codecs.rle_bbox(codecs.encode_mask(want))
            checked += hole_free(want)
    assert checked >= 8
    no_errors(ds, images)

@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=14), elements=st.sampled_from([0, 0, 1, 2])),
       st.booleans())
def test_polygons_property(m, split):
    "Any label map: each annotation's polygons rasterise to its pixels with the holes filled (exactly, if none)."
    r = convert_one(Job([m], "x.jpg", None, "array", "polygons", split))
    h, w = m.shape
    assert r["size"] == (w, h)
    n_holes = 0
    for a in r["anns"]:
        got = codecs.polygons_to_mask(a["segmentation"], h, w).astype(bool)
        want = m == a["category"]
        if split:  # the connected part of the label this annotation is: the one with its area and box
            parts, n = ndimage.label(want, structure=EIGHT)
            ids = [k for k in range(1, n + 1) if (parts == k).sum() == a["area"]
                   and codecs.rle_bbox(codecs.encode_mask(parts == k)) == a["bbox"]]
            assert ids, "no connected part of the label has this area and box"
            want = parts == ids[0]
        filled = ndimage.binary_fill_holes(want, structure=EIGHT)
        np.testing.assert_array_equal(got, filled)
        n_holes += ndimage.label(filled & ~want, structure=EIGHT)[1] > 0
    assert (r["holes"] > 0) == (n_holes > 0)

def test_split_components(tmp_path):
    rng = np.random.default_rng(8)
    maps = {n: label_map(rng, w, h, (1, 2)) for n, (w, h) in SIZES.items()}
    masks, images = tree(tmp_path, maps)
    ds = masks_to_coco(masks, images, split_components=True, categories={1: "car", 2: "person"},
                       progress=False).dataset
    for im in ds.images:
        m = maps[im["file_name"]]
        got = ann_masks(ds, im)
        assert len(got) == sum(ndimage.label(m == v, structure=EIGHT)[1] for v in (1, 2))
        for v in (1, 2):
            parts = [g.astype(bool) for c, g in got if c == v]
            assert all(ndimage.label(p, structure=EIGHT)[1] == 1 for p in parts)
            total = np.zeros(m.shape, int)
            for p in parts: total += p
            np.testing.assert_array_equal(total, (m == v).astype(int))  # a partition of the label's pixels
    no_errors(ds, images)

# ---------------------------------------------------------------- parallel runs give the same dataset

@pytest.fixture(scope="module")
def many(tmp_path_factory):
    "Twenty images (more than a chunk of work) in nested folders."
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(9)
    sizes = {f"set{k % 3}/img_{k:02d}.jpg": (int(rng.integers(3, 30)), int(rng.integers(3, 30))) for k in range(20)}
    maps = {n: label_map(rng, w, h, (1, 2, 5)) for n, (w, h) in sizes.items()}
    masks, images = tree(root, maps, sizes)
    return masks, images, maps, sizes

@pytest.mark.parametrize("as_", ["rle", "polygons"])
def test_jobs_and_executor_same_dataset(many, as_):
    masks, images, maps, sizes = many
    one = masks_to_coco(masks, images, as_=as_, progress=False)
    two = masks_to_coco(masks, images, as_=as_, jobs=2, progress=False)
    with ThreadPoolExecutor(3) as ex: threads = masks_to_coco(masks, images, as_=as_, executor=ex, progress=False)
    assert len(one.dataset.images) == 20
    same(one.dataset, two.dataset)
    same(one.dataset, threads.dataset)
    assert one.holes == two.holes == threads.holes
    check_images(one.dataset, images, sizes)
    if as_ == "rle": check_semantic(one.dataset, maps)
    no_errors(one.dataset, images)

def test_jobs_bad_file_error_crosses_processes(many, tmp_path):
    "A bad file met in a worker process is the same one-line MaskError naming it."
    masks, images, maps, sizes = many
    bad = tmp_path / "masks"
    for n in maps: save(bad / Path(n).with_suffix(".png"), maps[n])
    (bad / "set1/img_04.png").write_bytes(b"junk")
    for kw in ({}, {"jobs": 2}):
        with pytest.raises(MaskError) as ei: masks_to_coco(bad, images, progress=False, **kw)
        assert str(bad / "set1/img_04.png") in str(ei.value) and "\n" not in str(ei.value)
        conv = masks_to_coco(bad, images, skip_bad=True, progress=False, **kw)
        assert [f for f, _ in conv.skipped] == [str(bad / "set1/img_04.png")]
        assert len(conv.dataset.images) == 19

# ---------------------------------------------------------------- the CLI

def test_cli_masks2coco_and_overwrite(tmp_path, capsys):
    maps = semantic_maps(seed=10)
    masks, images = tree(tmp_path / "in", maps)
    (tmp_path / "cats.csv").write_text("1,car\n2,person\n3,sign\n")
    out = tmp_path / "out/sub/instances_default.json"  # its folder is made
    args = ["masks2coco", masks, "--images", images, "--categories", tmp_path / "cats.csv", "--out", out, "--quiet"]
    rc, stdout, err = run(capsys, args)
    assert (rc, err) == (0, "") and out.is_file()
    assert stdout.splitlines()[-1] == f"wrote {out}"
    written = Dataset.load(out)
    same(written, masks_to_coco(masks, images, categories=tmp_path / "cats.csv", progress=False).dataset)
    check_semantic(written, maps)
    no_errors(written, images)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left
    # an existing --out is refused without --overwrite, and left as it was
    out.write_text("old")
    rc, stdout, err = run(capsys, args)
    assert rc == 1 and stdout == ""
    one_line(err, str(out), "--overwrite")
    assert out.read_text() == "old"
    rc, stdout, err = run(capsys, args + ["--overwrite", "--as", "polygons", "--jobs", "2"])
    assert (rc, err) == (0, "")
    again = Dataset.load(out)
    assert all(codecs.is_polygons(a["segmentation"]) for a in again.annotations)
    assert len(again.annotations) == len(written.annotations)

def test_cli_modes(tmp_path, capsys):
    "--labelmap implies color mode; --mode per-instance with --index; --split-components."
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    _, colors = labelmap_categories(read_labelmap(tmp_path / "labelmap.txt"))
    m = np.array([[0, 1, 1], [3, 0, 1]], np.uint8)
    save_image(tmp_path / "images/p.jpg", 3, 2)
    save(tmp_path / "color/p.png", np.array([colors[v] for v in m.ravel().tolist()], np.uint8).reshape(2, 3, 3))
    rc, _, err = run(capsys, ["masks2coco", tmp_path / "color", "--images", tmp_path / "images", "--labelmap",
                              tmp_path / "labelmap.txt", "--split-components", "--out", tmp_path / "c.json", "--quiet"])
    assert (rc, err) == (0, "")
    ds = Dataset.load(tmp_path / "c.json")
    assert sorted(a["category_id"] for a in ds.annotations) == [1, 3]
    rc, _, err = run(capsys, ["masks2coco", tmp_path / "color", "--images", tmp_path / "images", "--labelmap",
                              tmp_path / "labelmap.txt", "--categories", tmp_path / "labelmap.txt",
                              "--out", tmp_path / "d.json", "--quiet"])
    assert rc == 1
    one_line(err, "not both")
    assert not (tmp_path / "d.json").exists()

CVAT_NB = Path(sys.executable).parent / "cvat-nb"

def test_console_script(tmp_path):
    "The installed script: a bad file is one stderr line, no traceback, nothing written; --skip-bad lists it."
    assert CVAT_NB.exists(), f"no console script at {CVAT_NB}"
    case = BAD / "size_mismatch"
    base = [str(CVAT_NB), "masks2coco", str(case / "masks"), "--images", str(case / "images"), "--quiet"]
    p = subprocess.run(base + ["--out", str(tmp_path / "a.json")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stdout == "" and not (tmp_path / "a.json").exists()
    one_line(p.stderr, str(case / "masks/bad.png"))
    p = subprocess.run(base + ["--out", str(tmp_path / "b.json"), "--skip-bad"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert f"skipped {case / 'masks/bad.png'}: " in p.stdout and (tmp_path / "b.json").is_file()

# ---------------------------------------------------------------- the bad-mask corpus

def must(name, c):
    "What the error line must hold: the file's path (when a file is at fault) and what is wrong."
    return ([str(BAD / name / c["file"])] if c["file"] is not None else []) + [c["says"]]

def case_argv(name, out, *extra):
    c = json.loads((BAD / name / "case.json").read_text())
    args = [str(BAD / name / a[1:]) if a.startswith("@") else a for a in c["args"]]
    return c, ["masks2coco", *args, "--out", str(out), "--quiet", *extra]

def test_bad_corpus_is_complete():
    "Every required mistake is a case; every case names a file that is there (or, for a missing one, is not)."
    assert {"size_mismatch", "rgb_semantic", "color_not_in_labelmap", "label_not_in_categories", "unreadable_png",
            "truncated_png", "empty_folder", "image_without_mask", "mask_without_image", "mask_folder_missing",
            "instance_no_category", "per_instance_bad_name"} <= set(BAD_CASES)
    assert {p.name for p in BAD.iterdir()} - {"make_bad_masks.py", "__pycache__"} == set(BAD_CASES)
    for name in BAD_CASES:
        c = json.loads((BAD / name / "case.json").read_text())
        assert set(c) == {"args", "file", "says", "skip"}, name
        if c["file"] is not None: assert (BAD / name / c["file"]).exists() != ("missing" in name), name
    assert not [p for p in (BAD / "empty_folder/masks").iterdir() if not p.name.startswith(".")]

def test_bad_corpus_matches_its_script(tmp_path, monkeypatch):
    "make_bad_masks.py regenerates the same files (text files byte for byte, images pixel for pixel)."
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    spec = importlib.util.spec_from_file_location("make_bad_masks", BAD / "make_bad_masks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", tmp_path)
    (tmp_path / "make_bad_masks.py").write_text("")
    mod.main()
    made = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()} - {Path("make_bad_masks.py")}
    have = {p.relative_to(BAD) for p in BAD.rglob("*") if p.is_file() and "__pycache__" not in p.parts} \
        - {Path("make_bad_masks.py")}
    assert made == have
    for rel in made:
        a, b = (tmp_path / rel).read_bytes(), (BAD / rel).read_bytes()
        if rel.suffix in (".json", ".csv", ".txt") or a == b: assert a == b, rel; continue
        # another Pillow or zlib may compress otherwise: the same pixels, or (broken files) unreadable both
        assert pixels(tmp_path / rel) is None if pixels(BAD / rel) is None else \
            np.array_equal(pixels(tmp_path / rel), pixels(BAD / rel)), rel

def pixels(path):
    try:
        with Image.open(path) as im: return np.asarray(im)
    except (OSError, SyntaxError, ValueError): return None

@pytest.mark.parametrize("name", cases(BAD_CASES, BAD_CLI_BUGS))
def test_bad_mask_cli(tmp_path, capsys, name):
    "Exit 1, nothing on stdout, ONE stderr line naming the file and saying what is wrong; nothing written."
    out = tmp_path / "instances.json"
    c, args = case_argv(name, out)
    rc, stdout, err = run(capsys, args)
    one_line(err, *must(name, c))
    assert rc == 1 and stdout == ""
    assert not out.exists() and list(tmp_path.iterdir()) == []

@pytest.mark.parametrize("name", cases(BAD_CASES, BAD_SKIP_BUGS))
def test_bad_mask_skip_bad(tmp_path, capsys, name):
    "--skip-bad converts the rest and its report lists the file skipped; a folder-level mistake still fails."
    out = tmp_path / "instances.json"
    c, args = case_argv(name, out, "--skip-bad")
    rc, stdout, err = run(capsys, args)
    if c["skip"] is None:
        one_line(err, *must(name, c))
        assert rc == 1 and not out.exists() and list(tmp_path.iterdir()) == []
        return
    assert (rc, err) == (0, ""), err
    skipped = [line for line in stdout.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1, stdout
    assert str(BAD / name / c["file"]) in skipped[0] and c["says"] in skipped[0], stdout
    assert stdout.splitlines()[-1] == f"wrote {out}"
    ds = Dataset.load(out)
    assert sorted(i["file_name"] for i in ds.images) == c["skip"]["images"]
    assert ds.annotations, "the good image's annotations are there"
    no_errors(ds, BAD / name / "images")

@pytest.mark.parametrize("name", ["size_mismatch", "truncated_png", "rgb_semantic", "color_not_in_labelmap"])
def test_bad_mask_cli_jobs(tmp_path, capsys, name):
    "The same one line when the bad file is read in a worker process."
    out = tmp_path / "instances.json"
    c, args = case_argv(name, out, "--jobs", "2")
    rc, stdout, err = run(capsys, args)
    assert rc == 1 and stdout == "" and not out.exists()
    one_line(err, *must(name, c))

# ---------------------------------------------------------------- model outputs: detections

def small_ds():
    ds = Dataset()
    return ds, ds.add_image("street/a.jpg", 100, 80)

def test_detections_xyxy_names_min_score():
    ds, iid = small_ds()
    ids = add_detections(ds, iid, np.array([[10, 20, 30, 60], [0, 0, 5, 5], [50, 40, 99.5, 79]]), np.array([0, 1, 0]),
                         scores=np.array([0.9, 0.2, 0.5]), names=["car", "person"], min_score=0.5)
    assert len(ids) == 2
    anns = [ds.index.ann_by_id[i] for i in ids]
    assert [a["bbox"] for a in anns] == [[10.0, 20.0, 20.0, 40.0], [50.0, 40.0, 49.5, 39.0]]
    assert [a["score"] for a in anns] == [0.9, 0.5]
    assert [ds.category(a["category_id"])["name"] for a in anns] == ["car", "car"]
    assert all(a["segmentation"] == [] and a["area"] == a["bbox"][2] * a["bbox"][3] for a in anns)
    assert "person" not in ds.index.cat_by_name  # its only box scored below min_score
    r = validate(ds, target="cvat")
    assert r.ok and not r.problems

def test_detections_xywh_dict_names_and_label_names():
    ds, iid = small_ds()
    add_detections(ds, iid, [[1, 2, 3, 4]], [7], fmt="xywh", names={7: "sign"})
    add_detections(ds, iid, [[5, 5, 10, 10], [0, 0, 1, 1]], ["dog", "sign"], fmt="xyxy")
    assert [(ds.category(a["category_id"])["name"], a["bbox"]) for a in ds.annotations] == [
        ("sign", [1.0, 2.0, 3.0, 4.0]), ("dog", [5.0, 5.0, 5.0, 5.0]), ("sign", [0.0, 0.0, 1.0, 1.0])]
    assert all("score" not in a for a in ds.annotations)
    with pytest.raises(CvatNbError, match="2 boxes but 1 labels"): add_detections(ds, iid, [[0, 0, 1, 1]] * 2, [1])
    with pytest.raises(CvatNbError, match="fmt"): add_detections(ds, iid, [[0, 0, 1, 1]], ["dog"], fmt="cxcywh")
    assert validate(ds, target="cvat").ok

def test_detections_float_class_indices():
    ds, iid = small_ds()
    add_detections(ds, iid, [[0, 0, 10, 10]], np.array([1.0]), names=["car", "person"])
    assert ds.category(ds.annotations[0]["category_id"])["name"] == "person"

def test_detections_all_or_nothing():
    ds, iid = small_ds()
    with pytest.raises(CvatNbError): add_detections(ds, iid, [[0, 0, 10, 10], [5, 5, 5, 9]], ["car", "car"])
    assert ds.annotations == []

# ---------------------------------------------------------------- model outputs: poses, and skeletons

SK = Skeleton("person", ["nose", "left_eye", "right_eye", "neck"], [("nose", "left_eye"), (1, 3), ("nose", 4)])

def test_poses_with_threshold_standard_layout():
    ds, iid = small_ds()
    xy = np.array([[[10, 10], [12, 8], [8, 8], [10, 20]], [[50, 50], [52, 48], [48, 48], [50, 60]]], float)
    conf = np.array([[0.9, 0.4, 0.6, 0.5], [0.1, 0.95, 0.2, 0.3]])
    ids = add_poses(ds, iid, SK, xy, visibility=conf, threshold=0.5, scores=[0.8, 0.7])
    anns = [ds.index.ann_by_id[i] for i in ids]
    assert [a["keypoints"][2::3] for a in anns] == [[2, 0, 2, 2], [0, 2, 0, 0]]
    assert [a["num_keypoints"] for a in anns] == [3, 1]
    assert anns[0]["keypoints"][:3] == [10.0, 10.0, 2] and [a["score"] for a in anns] == [0.8, 0.7]
    sk_cat = ds.category("person")
    assert sk_cat["keypoints"] == SK.keypoints and sk_cat["skeleton"] == [[1, 2], [1, 3], [1, 4]]
    assert all(a["category_id"] == sk_cat["id"] for a in anns)
    assert ds.categories == [SK.coco_category(sk_cat["id"])]  # CONTRACT: the one layout CVAT 2.73 imports
    r = validate(ds, target="cvat")
    assert r.ok, [str(p) for p in r.errors]
    # the (n, k, 3) form, into the same categories
    add_poses(ds, iid, SK, np.concatenate([xy, np.full((2, 4, 1), 1.0)], 2))
    assert len(ds.categories) == 1 and ds.annotations[-1]["keypoints"][2::3] == [1, 1, 1, 1]
    with pytest.raises(CvatNbError, match="poses must be"): add_poses(ds, iid, SK, np.zeros((1, 3, 2)))

def test_poses_all_below_threshold_all_or_nothing():
    ds, iid = small_ds()
    ids = add_poses(ds, iid, SK, np.ones((2, 4, 2)), visibility=[[0.9] * 4, [0.1] * 4], threshold=0.5)
    assert len(ids) == 1 and len(ds.annotations) == 1  # the pose with nothing labelled is skipped

def test_per_point_categories_are_what_cvat_refuses():
    ds, iid = small_ds()
    add_poses(ds, iid, SK, np.ones((1, 4, 2)))
    assert validate(ds, target="cvat").ok
    add_skeleton(ds, SK)  # declared already: nothing added
    assert [c["name"] for c in ds.categories] == ["person"]
    for k in SK.keypoints: ds.add_category(k, supercategory="person")  # the per-point layout of older files
    assert validate(ds, target="cvat").codes() == {"cvat-keypoint-layout": 4}
    assert validate(for_cvat(ds), target="cvat").ok

def test_skeleton_cvat_label_svg():
    lab = SK.cvat_label()
    svg = lab["svg"]
    assert lab["type"] == "skeleton" and lab["name"] == "person"
    assert [s["name"] for s in lab["sublabels"]] == SK.keypoints and all(s["type"] == "points" for s in lab["sublabels"])
    assert svg.count("<circle") == len(SK.keypoints) == svg.count("</circle>")
    assert svg.count("<line") == len(SK.edges) == svg.count("</line>")
    for i, k in enumerate(SK.keypoints, 1):
        assert f'data-element-id="{i}" data-node-id="{i}" data-label-name="{k}"' in svg
    for a, b in SK.pairs: assert f'data-node-from="{a}" data-node-to="{b}"' in svg
    assert Skeleton("solo", ["x"]).cvat_label()["svg"].count("<circle") == 1

@pytest.mark.parametrize("sk", [SK, Skeleton("hand", [f"k{i}" for i in range(21)], [(i, i + 1) for i in range(1, 21)]),
                                Skeleton("dot", ["only"])], ids=["person", "hand", "dot"])
def test_skeleton_from_coco_round_trip(sk):
    for cat in (sk.coco_category(), sk.coco_category(id=9), json.loads(json.dumps(sk.coco_category(3)))):
        back = Skeleton.from_coco(cat)
        assert back == sk and back.pairs == sk.pairs
    with pytest.raises(CocoError): Skeleton.from_coco({"name": "x", "keypoints": []})
    with pytest.raises(CvatNbError): Skeleton("bad", ["a", "a"])
    with pytest.raises(CvatNbError): Skeleton("bad", ["a", "b"], [("a", "c")])
    with pytest.raises(CvatNbError): Skeleton("bad", ["a", "b"], [(1, 3)])
