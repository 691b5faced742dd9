"""Write the bad-mask corpus next to this script: one sub-folder per case, each a small `masks2coco` input with ONE mistake.

Run `python tests/bad_masks/make_bad_masks.py` to regenerate (it deletes everything here but itself first). Each case
folder holds `masks/` and `images/` (either may be missing or empty when that is the mistake), maybe a categories file,
a labelmap.txt or an instance table, and `case.json` saying what `cvat-nb masks2coco` must do with it:

- `args`: the command line after `masks2coco`; an argument starting with `@` is a path relative to the case folder;
- `file`: the file (relative to the case folder) the one-line error must name; `null` when the mistake is in an
  argument (a `--pattern`), not in a file;
- `says`: a substring of that error;
- `skip`: with `--skip-bad`, the image `file_name`s the written dataset must hold (the good ones), and the report
  printed on stdout must list `file`; `null` when `--skip-bad` cannot help (nothing is left to convert).

Most cases also hold one good image (`good.jpg` with `good.png`), so that `--skip-bad` has something to convert.
"""
from __future__ import annotations
import io, json, shutil
from pathlib import Path
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
W, H = 8, 6

# ---------------------------------------------------------------- helpers

def png_bytes(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(a)).save(buf, "PNG")
    return buf.getvalue()

def put(case, rel, data):
    "Write `data` (bytes, str or an array saved as PNG/JPEG by its extension) to `case/rel`."
    p = HERE / case / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str): p.write_text(data)
    elif isinstance(data, bytes): p.write_bytes(data)
    elif p.suffix == ".jpg": Image.fromarray(np.asarray(data)).save(p, quality=90)
    else: p.write_bytes(png_bytes(data))

def image(case, name, w=W, h=H): put(case, f"images/{name}", np.full((h, w, 3), 128, np.uint8))

def semantic(w=W, h=H, labels=(1, 2)):
    "A small class map using `labels`, with background."
    m = np.zeros((h, w), np.uint8)
    m[1:3, 1:4] = labels[0]
    m[3:, 4:] = labels[-1]
    return m

def good(case, mask=None):
    "The good pair every case but the folder-level ones carries."
    image(case, "good.jpg")
    put(case, "masks/good.png", semantic() if mask is None else mask)

def case(name, args, file, says, skip):
    (HERE / name).mkdir(parents=True, exist_ok=True)
    (HERE / name / "case.json").write_text(json.dumps(dict(args=args, file=file, says=says, skip=skip),
                                                      indent=1, sort_keys=True) + "\n")

def clean():
    "Remove what a previous run wrote (everything here but this script)."
    for p in HERE.iterdir():
        if p.name == Path(__file__).name: continue
        shutil.rmtree(p) if p.is_dir() else p.unlink()

STD = ["@masks", "--images", "@images"]
GOOD = {"images": ["good.jpg"]}
CATS = "1,car\n2,person\n"
LABELMAP = "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:255,0,0::\nperson:0,0,255::\n"
COLORS = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 0, 255)}

def colour(m): return np.array([COLORS[v] for v in m.ravel().tolist()], np.uint8).reshape(*m.shape, 3)

# ---------------------------------------------------------------- the cases

def cases():
    c = "size_mismatch"  # a mask resized (or cropped) apart from its image
    good(c); image(c, "bad.jpg"); put(c, "masks/bad.png", semantic(6, 5))
    case(c, STD, "masks/bad.png", "is 6×5 but its image bad.jpg is 8×6", GOOD)

    c = "rgb_semantic"  # a colour rendering given where class ids were meant
    good(c); image(c, "bad.jpg"); put(c, "masks/bad.png", colour(semantic()))
    case(c, STD, "masks/bad.png", "is a RGB image", GOOD)

    c = "color_not_in_labelmap"  # an anti-aliased or hand-painted colour no label has
    good(c, colour(semantic())); image(c, "bad.jpg")
    rgb = colour(semantic()); rgb[0, 0] = (1, 2, 3); rgb[5, 7] = (254, 0, 0)
    put(c, "masks/bad.png", rgb); put(c, "labelmap.txt", LABELMAP)
    case(c, STD + ["--labelmap", "@labelmap.txt"], "masks/bad.png", "2 colour(s) not in the labelmap", GOOD)

    c = "label_not_in_categories"  # class 7 in the mask, the categories stop at 2
    good(c); image(c, "bad.jpg"); put(c, "masks/bad.png", semantic(labels=(1, 7))); put(c, "categories.csv", CATS)
    case(c, STD + ["--categories", "@categories.csv"], "masks/bad.png", "label 7 is not in the categories", GOOD)

    c = "unreadable_png"  # not an image at all: an HTML error page saved under the mask's name
    good(c); image(c, "bad.jpg"); put(c, "masks/bad.png", "<html><body>502 Bad Gateway</body></html>\n")
    case(c, STD, "masks/bad.png", "cannot be read as an image", GOOD)

    c = "truncated_png"  # a copy that stopped half-way
    good(c); image(c, "bad.jpg")
    noise = np.random.default_rng(0).integers(0, 3, (H, W)).astype(np.uint8)
    raw = png_bytes(noise)
    put(c, "masks/bad.png", raw[:len(raw) * 2 // 3])
    case(c, STD, "masks/bad.png", "truncated", GOOD)

    c = "empty_folder"  # the masks were never exported (only a dot-file, which is not a mask, is there)
    image(c, "good.jpg"); put(c, "masks/.gitkeep", "")
    case(c, STD, "masks", "holds no mask files", None)

    c = "image_without_mask"  # an image the exporter skipped
    good(c); image(c, "lonely.jpg")
    case(c, STD, "images/lonely.jpg", "an image with no mask", GOOD)

    c = "mask_without_image"  # a mask left over from an image since deleted
    good(c); put(c, "masks/orphan.png", semantic())
    case(c, STD, "masks/orphan.png", "no image for it", GOOD)

    c = "mask_folder_missing"  # a typo in the folder name
    image(c, "good.jpg")
    case(c, STD, "masks", "is not a folder", None)

    c = "instance_no_category"  # instance 2 of bad.png is not in the table
    good(c); image(c, "bad.jpg"); put(c, "masks/bad.png", semantic())
    put(c, "instances.csv", "file,instance,category\ngood.png,1,car\ngood.png,2,person\nbad.png,1,car\n")
    case(c, STD + ["--mode", "instance", "--instances", "@instances.csv"], "masks/bad.png",
         "instance 2 has no category", GOOD)

    c = "instance_two_categories"  # instance 1 covers a car and a person of the paired semantic map
    good(c, semantic(labels=(1, 1))); put(c, "semantic/good.png", semantic(labels=(2, 2)))
    image(c, "bad.jpg"); put(c, "masks/bad.png", semantic(labels=(1, 1))); put(c, "semantic/bad.png", semantic())
    case(c, STD + ["--mode", "instance", "--semantic", "@semantic"], "masks/bad.png", "covers categories", GOOD)

    c = "semantic_missing"  # the paired semantic map of bad.png was not exported
    good(c); put(c, "semantic/good.png", semantic()); image(c, "bad.jpg"); put(c, "masks/bad.png", semantic())
    case(c, STD + ["--mode", "instance", "--semantic", "@semantic"], "semantic/bad.png", "no such file", GOOD)

    c = "per_instance_bad_name"  # one file named with dashes, not image_category_instance
    image(c, "good.jpg"); one = (semantic() == 1).astype(np.uint8)
    put(c, "masks/good_car_1.png", one); put(c, "masks/good_person_2.png", 1 - one)
    put(c, "masks/bad-car-1.png", one)
    case(c, STD + ["--mode", "per-instance"], "masks/bad-car-1.png", "does not match the pattern", GOOD)

    c = "per_instance_custom_pattern"  # a folder per image, files category-instance; one file has no instance number
    image(c, "good.jpg"); put(c, "masks/good/car-1.png", one); put(c, "masks/good/person-2.png", 1 - one)
    put(c, "masks/good/car.png", one)
    case(c, STD + ["--mode", "per-instance", "--pattern", r"(?P<image>.+)/(?P<category>[a-z]+)-(?P<instance>\d+)"],
         "masks/good/car.png", "does not match the pattern", GOOD)

    c = "instance_table_missing"  # --instances names a file that is not there
    good(c)
    case(c, STD + ["--mode", "instance", "--instances", "@instances.csv"], "instances.csv", "o such file", None)

    c = "index_missing"  # --index names a file that is not there
    image(c, "good.jpg"); put(c, "masks/good_car_1.png", (semantic() == 1).astype(np.uint8))
    case(c, STD + ["--mode", "per-instance", "--index", "@index.csv"], "index.csv", "o such file", None)

    c = "categories_bad_id"  # a header line read as a category
    good(c); put(c, "categories.csv", "id,name\n" + CATS)
    case(c, STD + ["--categories", "@categories.csv"], "categories.csv", "is not an integer", None)

def more_cases():
    "Mistakes beyond the first list: bad tables and patterns, an unreadable image, an instance on background."
    c = "unreadable_image"  # the image, not the mask, is the broken file
    good(c); put(c, "images/bad.jpg", b"\xff\xd8\xff\xe0 cut off"); put(c, "masks/bad.png", semantic())
    case(c, STD, "images/bad.jpg", "cannot be read", GOOD)

    c = "instance_on_background"  # instance 2 lies where the paired semantic map says background
    good(c); put(c, "semantic/good.png", semantic())
    inst = semantic(); inst[0, 0] = 3
    image(c, "bad.jpg"); put(c, "masks/bad.png", inst); put(c, "semantic/bad.png", semantic())
    case(c, STD + ["--mode", "instance", "--semantic", "@semantic"], "masks/bad.png", "instance 3", GOOD)

    c = "instance_table_bad_instance"  # an instance id that is not a number
    good(c); put(c, "instances.csv", "file,instance,category\ngood.png,1,car\ngood.png,two,person\n")
    case(c, STD + ["--mode", "instance", "--instances", "@instances.csv"], "instances.csv", "two", None)

    c = "instance_table_not_object"  # a JSON list where {file: {instance: category}} was meant
    good(c); put(c, "instances.json", '[{"file": "good.png", "instance": 1, "category": "car"}]\n')
    case(c, STD + ["--mode", "instance", "--instances", "@instances.json"], "instances.json", "", None)

    c = "pattern_without_category"  # a --pattern with no (?P<category>...) group
    image(c, "good.jpg"); put(c, "masks/good_car_1.png", (semantic() == 1).astype(np.uint8))
    case(c, STD + ["--mode", "per-instance", "--pattern", r"(?P<image>.+)_car_\d+"], None, "category", None)

    c = "pattern_invalid"  # a --pattern that is not a regular expression
    image(c, "good.jpg"); put(c, "masks/good_car_1.png", (semantic() == 1).astype(np.uint8))
    case(c, STD + ["--mode", "per-instance", "--pattern", r"(?P<image>.+_(?P<category>\w+)"], None, "pattern", None)

def main():
    clean()
    cases(); more_cases()
    n = sum(1 for p in HERE.iterdir() if p.is_dir())
    print(f"{n} cases written to {HERE}")

if __name__ == "__main__": main()
