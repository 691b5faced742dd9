"""Write the bad-input corpus next to this script, and `expected.json` saying what `cvat-nb` must do with each file.

Run `python tests/bad_inputs/make_corpus.py` to regenerate; the output is byte-identical from run to run (fixed zip
timestamps, sorted JSON), so a diff shows exactly what a change to this script changed.

Every input is a small mistake users really make: files cut off by an interrupted export, hand edits, files written by
`str(dict)` or PowerShell, HTML error pages saved as `.zip`, boxes in the wrong layout, polygons not nested, RLE
written as a Python bytes repr, keypoint categories without names, and so on.

`expected.json` maps an input's name (relative to this folder) to one of:
- `{"exit": 1, "stderr": "<substring>"}`: the file cannot be loaded; `cvat-nb` prints ONE line naming the file;
- `{"exit": 0|1, "codes": [...]}`: it loads, and `cvat-nb validate --json` reports (at least) these problem codes;
optionally with `"target": "cvat"`, `"images": "<folder under this one>"` and `"member": "<zip member>"`.
"""
from __future__ import annotations
import copy, io, json, shutil, sys, zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPECTED: dict = {}

# ---------------------------------------------------------------- a valid dataset every case starts from

def img(id=1, file_name="a.jpg", width=8, height=6, **kw): return {"id": id, "file_name": file_name, "width": width,
                                                                  "height": height, **kw}
def cat(id=1, name="cat", **kw): return {"id": id, "name": name, "supercategory": "", **kw}
def ann(id=1, image_id=1, category_id=1, **kw):
    "A 4×3 rectangle drawn as a polygon, with a bbox and area that match it."
    return {"id": id, "image_id": image_id, "category_id": category_id, "iscrowd": 0,
            "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]], "bbox": [1, 1, 4, 3], "area": 12, **kw}

def base(images=None, annotations=None, categories=None) -> dict:
    "A COCO dict that validates clean as COCO; clean as CVAT too."
    return {"info": {}, "licenses": [], "images": images if images is not None else [img()],
            "annotations": annotations if annotations is not None else [ann()],
            "categories": categories if categories is not None else [cat()]}

KP_CAT = cat(1, "person", keypoints=["nose", "tail"], skeleton=[[1, 2]])
def kp_ann(**kw): return {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [],
                          "keypoints": [2, 2, 2, 4, 3, 2], "num_keypoints": 2, "bbox": [2, 2, 2, 1], "area": 2, **kw}

# ---------------------------------------------------------------- writers

def raw(name, data: bytes, **expected):
    (HERE / name).write_bytes(data)
    EXPECTED[name] = expected

def js(name, obj, **expected):
    "JSON as a tool would write it: compact, key order kept."
    raw(name, json.dumps(obj).encode() + b"\n", **expected)

def load_fails(name, data, stderr, **kw): raw(name, data, exit=1, stderr=stderr, **kw)

def report(name, obj, codes, exit=1, **kw): js(name, obj, exit=exit, codes=codes, **kw)

def zip_bytes(members: dict, method=zipfile.ZIP_DEFLATED) -> bytes:
    "A zip with fixed timestamps (so regenerating gives the same bytes)."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in members.items():
            zi = zipfile.ZipInfo(n, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = method
            zf.writestr(zi, data)
    return buf.getvalue()

def png(width, height) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("L", (width, height)).save(buf, "PNG", optimize=True)
    return buf.getvalue()

def clean():
    "Remove what a previous run wrote (everything here but this script)."
    for p in HERE.iterdir():
        if p.name == Path(__file__).name: continue
        shutil.rmtree(p) if p.is_dir() else p.unlink()

# ---------------------------------------------------------------- the corpus

def files_that_do_not_load():
    good = json.dumps(base()).encode()
    load_fails("truncated.json", good[: len(good) // 2], "not valid JSON")  # export or copy interrupted
    load_fails("empty.json", b"", "the file is empty")  # `> file` redirect of a command that failed
    load_fails("trailing_comma.json", b'{"images": [], "annotations": [], "categories": [],}\n', "trailing comma")
    load_fails("python_repr.json", repr(base()).encode() + b"\n", "not valid JSON")  # written with str(dict)
    load_fails("two_documents.json", good + b"\n" + good + b"\n", "trailing characters")  # `>>` appended twice
    load_fails("top_level_list.json", json.dumps(base()["annotations"]).encode(), "top level is a JSON array")
    load_fails("top_level_string.json", b'"instances_default.json"\n', "top level is a JSON")
    load_fails("top_level_number.json", b"42\n", "top level is a JSON")
    load_fails("top_level_null.json", b"null\n", "top level is a JSON null")
    # a Windows tool wrote cp1252: "café.jpg", on the fifth line of an indented file
    load_fails("invalid_utf8.json", json.dumps({"images": [img(file_name="café.jpg")]}, indent=1, ensure_ascii=False)
               .encode("cp1252"), "not valid UTF-8")
    d = base(); d["images"] = {"1": img()}  # keyed by id, as some converters write
    load_fails("images_dict.json", json.dumps(d).encode(), "expected a list of records")
    d = base(); d["annotations"] = "annotations.json"
    load_fails("annotations_string.json", json.dumps(d).encode(), "expected a list of records")
    d = base(); d["categories"] = None
    load_fails("categories_null.json", json.dumps(d).encode(), "expected a list of records")

    # zips
    d = json.dumps(base()).encode()
    load_fails("wrong_member.zip", zip_bytes({"annotations/person_keypoints_default.json": d}), "has no member",
               member="annotations/instances_default.json")
    load_fails("two_json_members.zip", zip_bytes({"annotations/instances_default.json": d,
                                                 "annotations/person_keypoints_default.json": d}),
               "name the member to read")
    load_fails("images_only.zip", zip_bytes({"images/a.png": png(8, 6)}), "JSON members found: none")
    load_fails("member_truncated.zip", zip_bytes({"annotations/instances_default.json": d[:40]}),
               "member_truncated.zip:annotations/instances_default.json: not valid JSON")
    load_fails("html_error_page.zip", b"<!DOCTYPE html>\n<html><body>Session expired</body></html>\n",
               "not a readable zip")  # what a download with an expired login saves
    full = zip_bytes({"annotations/instances_default.json": d})
    load_fails("truncated_download.zip", full[: len(full) // 2], "not a readable zip")
    # the member's bytes are damaged (bad copy, bad sector): stored, one byte changed, so the CRC check fails
    z = bytearray(zip_bytes({"annotations/instances_default.json": d}, method=zipfile.ZIP_STORED))
    z[z.index(b'"images"') + 2] ^= 0x20
    load_fails("corrupt_member.zip", bytes(z), "annotations/instances_default.json")
    load_fails("plain_json_with_member.json", d, "not a readable zip", member="annotations/instances_default.json")

    # not a file at all: the unzipped export folder, and a name that is not there
    (HERE / "unzipped_export/annotations").mkdir(parents=True)
    (HERE / "unzipped_export/annotations/instances_default.json").write_bytes(d)
    EXPECTED["unzipped_export"] = dict(exit=1, stderr="is a directory")
    EXPECTED["does_not_exist.json"] = dict(exit=1, stderr="no such file")

def records():
    report("record_not_object.json", base(images=[img(), "b.jpg"]), ["bad-type"])
    report("image_missing_id.json", base(images=[{"file_name": "a.jpg", "width": 8, "height": 6}]),
           ["missing-key", "unknown-image"])
    report("image_id_string.json", base(images=[img(id="1")]), ["bad-type", "unknown-image"])
    report("duplicate_image_id.json", base(images=[img(1, "a.jpg"), img(1, "b.jpg")]), ["duplicate-id"])
    report("annotation_missing_id.json", base(annotations=[{k: v for k, v in ann().items() if k != "id"}]),
           ["missing-key"])
    report("annotation_id_float.json", base(annotations=[ann(id=1.0)]), ["bad-type"])
    report("duplicate_annotation_id.json", base(annotations=[ann(1), ann(1)]), ["duplicate-id"])
    report("category_missing_id.json", base(categories=[{"name": "cat", "supercategory": ""}]),
           ["missing-key", "unknown-category"])
    report("category_id_string.json", base(categories=[cat(id="1")]), ["bad-type", "unknown-category"])
    report("duplicate_category_id.json", base(categories=[cat(1, "cat"), cat(1, "dog")]), ["duplicate-id"])
    report("missing_file_name.json", base(images=[{"id": 1, "width": 8, "height": 6}]), ["missing-key"])
    report("width_string.json", base(images=[img(width="8")]), ["bad-type"])
    report("zero_height.json", base(images=[img(height=0)]), ["bad-type"])
    report("duplicate_file_name.json", base(images=[img(1, "a.jpg"), img(2, "a.jpg")]), ["duplicate-name"])
    report("unknown_image_id.json", base(annotations=[ann(image_id=7)]), ["unknown-image"])
    report("unknown_category_id.json", base(annotations=[ann(category_id=7)]), ["unknown-category"])
    report("category_id_list.json", base(annotations=[ann(category_id=[1])]), ["unknown-category"])  # multi-label
    report("image_id_list.json", base(annotations=[ann(image_id=[1])]), ["unknown-image"])
    report("category_id_zero_cvat.json", base(annotations=[ann(category_id=0)]), ["category-zero"], target="cvat")
    report("category_zero_cvat.json", base(categories=[cat(0)], annotations=[ann(category_id=0)]),
           ["category-zero"], target="cvat")
    report("duplicate_category_name_cvat.json", base(categories=[cat(1, "cat"), cat(2, "cat")]),
           ["duplicate-category-name"], target="cvat")
    report("duplicate_category_name_warning.json", base(categories=[cat(1, "cat"), cat(2, "cat")]),
           ["duplicate-category-name"], exit=0)
    report("missing_iscrowd_warning.json", base(annotations=[{k: v for k, v in ann().items() if k != "iscrowd"}]),
           ["missing-iscrowd"], exit=0)
    report("iscrowd_true.json", base(annotations=[ann(iscrowd=True)]), ["bad-value"])
    report("no_images_key.json", {k: v for k, v in base().items() if k != "images"}, ["missing-key", "unknown-image"])

def geometry():
    report("polygon_odd_count.json", base(annotations=[ann(segmentation=[[1, 1, 5, 1, 5, 4, 1]])]), ["bad-polygon"])
    report("polygon_four_numbers.json", base(annotations=[ann(segmentation=[[1, 1, 5, 4]])]), ["bad-polygon"])
    report("polygon_strings.json", base(annotations=[ann(segmentation=[["1", "1", "5", "1", "5", "4"]])]),
           ["bad-type"])
    report("polygon_not_nested.json", base(annotations=[ann(segmentation=[1, 1, 5, 1, 5, 4, 1, 4])]), ["bad-type"])
    rle = {"size": [6, 8], "counts": [7, 3, 3, 3, 3, 3, 3, 3, 20]}  # the 4×3 rectangle: sums to 48
    assert sum(rle["counts"]) == 48
    rle_ann = lambda r: ann(segmentation=r, iscrowd=1)
    report("rle_counts_sum.json", base(annotations=[rle_ann({**rle, "counts": rle["counts"][:-1]})]), ["bad-rle"])
    report("rle_size_mismatch.json", base(annotations=[rle_ann({"size": [8, 6], "counts": rle["counts"]})]),
           ["rle-size"])
    from cvat_nb import codecs
    s = codecs.compress_rle(rle)["counts"]
    report("rle_string_cut.json", base(annotations=[rle_ann({"size": [6, 8], "counts": s[:-2]})]), ["bad-rle"])
    report("rle_bytes_repr.json", base(annotations=[rle_ann({"size": [6, 8], "counts": repr(s.encode())})]),
           ["bad-rle"])  # str(rle["counts"]) of pycocotools' bytes
    box = lambda b: ann(segmentation=[], bbox=b)
    report("bbox_negative_width.json", base(annotations=[box([5, 1, -4, 3])]), ["bad-bbox"])
    report("bbox_three_numbers.json", base(annotations=[box([1, 1, 4])]), ["bad-bbox"])
    report("bbox_missing.json", base(annotations=[{k: v for k, v in ann().items() if k != "bbox"}]), ["missing-key"])
    report("bbox_outside_warning.json", base(annotations=[box([6, 4, 5, 5])]), ["bbox-outside"], exit=0)
    report("area_mismatch_warning.json", base(annotations=[ann(area=40)]), ["area-mismatch"], exit=0)
    # a 3×2 rectangle whose area was left at 0: the old tolerance (1 + 5% + w + h) let it pass
    small = [[1, 1, 4, 1, 4, 3, 1, 3]]
    report("area_zero_small_polygon.json", base(annotations=[ann(segmentation=small, bbox=[1, 1, 3, 2], area=0)]),
           ["area-mismatch"], exit=0)
    report("empty_mask_rle.json", base(annotations=[rle_ann({"size": [6, 8], "counts": [48]})]), ["empty-mask"],
           exit=0)
    report("empty_mask_flat_polygon.json", base(annotations=[ann(segmentation=[[1, 1, 3, 2, 5, 3]], area=0)]),
           ["empty-mask"], exit=0)
    # Python's json writes NaN for a float('nan') area; only Python's own reader takes it back
    raw("area_nan.json", json.dumps(base(annotations=[ann(area=float("nan"))])).encode(), exit=1, codes=["bad-type"])
    # PowerShell's `Out-File` default: UTF-16 with a byte-order mark. Readable, so nothing to report.
    raw("utf16_powershell.json", "\ufeff".encode("utf-16-le") + json.dumps(base()).encode("utf-16-le"),
        exit=0, codes=[])

def keypoints():
    kp = lambda **kw: base(annotations=[kp_ann(**kw)], categories=[KP_CAT])
    report("keypoints_count.json", kp(keypoints=[2, 2, 2], num_keypoints=1), ["keypoints-count"])
    report("keypoint_visibility_3.json", kp(keypoints=[2, 2, 2, 4, 3, 3]), ["keypoint-visibility"])
    report("skeleton_out_of_range.json", base(annotations=[kp_ann()], categories=[{**KP_CAT, "skeleton": [[1, 3]]}]),
           ["skeleton-out-of-range"])
    report("keypoints_no_names_cvat.json", base(annotations=[kp_ann()], categories=[cat(1, "person")]),
           ["keypoints-no-names"], target="cvat")

def cvat_names():
    report("same_stem_cvat.json", base(images=[img(1, "frames/a.jpg"), img(2, "frames/a.png")]), ["cvat-same-stem"],
           target="cvat")
    report("numeric_name_cvat_warning.json", base(images=[img(1, "000017.jpg")]), ["cvat-numeric-name"], exit=0,
           target="cvat")

def image_files():
    d = HERE / "images"
    d.mkdir()
    (d / "a.png").write_bytes(png(8, 6))
    (d / "small.png").write_bytes(png(4, 4))
    (d / "broken.png").write_bytes(png(8, 6)[:20])  # a copy that stopped early
    report("images_dir_problems.json",
           base(images=[img(1, "a.png"), img(2, "small.png"), img(3, "gone.png"), img(4, "broken.png")]),
           ["image-size", "image-missing", "image-unreadable"], images="images")
    report("images_dir_missing.json", base(images=[img(1, "a.png")]), ["image-missing"], images="no_such_folder")

def main():
    sys.path.insert(0, str(HERE.parents[1]))
    clean()
    files_that_do_not_load(); records(); geometry(); keypoints(); cvat_names(); image_files()
    assert not (HERE / "does_not_exist.json").exists()
    (HERE / "expected.json").write_text(json.dumps(EXPECTED, indent=1, sort_keys=True) + "\n")
    print(f"{len(EXPECTED)} cases written to {HERE}")

if __name__ == "__main__": main()
