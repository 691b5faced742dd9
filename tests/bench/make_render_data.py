"""Write one realistic synthetic frame with instance masks for the render benchmark.

Usage: python tests/bench/make_render_data.py OUT_DIR [--size 1920x1080] [--objects 50] [--seed 0]

Writes OUT_DIR/images/frame.jpg (JPEG quality 90) and OUT_DIR/instances.json (COCO). Each of the `--objects`
objects is a blob: one to three overlapping filled ellipses and star-shaped polygons drawn with
`PIL.ImageDraw`, from small (1% of the shorter side) to large (a quarter of it), some cut by the border, many
overlapping others. Its annotation holds the blob as a compressed RLE (`cvat_nb.codecs.encode_mask`), its
bbox and area computed from the mask, iscrowd 0, a category among 10, and a score in [0.05, 1). The image is
a two-way gradient with some background shapes, every object painted in a shaded colour of its category (so
the masks sit on visible things), and mild noise, so the JPEG decodes like a photo rather than flat colour.
"""
import argparse, json, math, random
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from cvat_nb.codecs import encode_mask

CATEGORIES = ["person", "car", "bicycle", "dog", "cat", "truck", "bus", "bird", "traffic light", "bench"]

def _shape(d, cx, cy, r, rng, fill):
    "Draw one ellipse or star-shaped polygon of radius about `r` centred at (cx, cy)."
    if rng.random() < 0.5:
        rx, ry = r * rng.uniform(0.5, 1.5), r * rng.uniform(0.5, 1.5)
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fill)
    else:
        n = rng.randint(5, 16)
        angs = sorted(rng.uniform(0, 2 * math.pi) for _ in range(n))
        d.polygon([(cx + r * rng.uniform(0.5, 1.0) * math.cos(a), cy + r * rng.uniform(0.5, 1.0) * math.sin(a))
                   for a in angs], fill=fill)

def make_blob(w, h, rng):
    "`(mask, bbox-of-drawing)`: a `(h, w)` uint8 0/1 mask of one blob (1-3 overlapping shapes)."
    r = min(w, h) * math.exp(rng.uniform(math.log(0.01), math.log(0.25)))  # log-uniform: many small, few large
    cx, cy = rng.uniform(-0.05 * w, 1.05 * w), rng.uniform(-0.05 * h, 1.05 * h)
    im = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(im)
    for k in range(rng.randint(1, 3)):
        ox, oy = (0, 0) if k == 0 else (rng.uniform(-r, r), rng.uniform(-r, r))
        _shape(d, cx + ox, cy + oy, r * (1 if k == 0 else rng.uniform(0.4, 0.8)), rng, 1)
    return np.asarray(im)

def make_frame(w, h, n_objects, seed=0):
    "`(RGB PIL image, COCO dict)` of one frame with `n_objects` instance masks."
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([60 + 120 * xx / w, 80 + 80 * yy / h, 170 - 100 * (xx + yy) / (w + h)], 2)
    img = Image.fromarray(base.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(30):  # background clutter that no annotation covers
        _shape(d, rng.uniform(0, w), rng.uniform(0, h), min(w, h) * rng.uniform(0.02, 0.2), rng,
               tuple(rng.randint(40, 200) for _ in range(3)))
    palette = nrng.integers(30, 230, (len(CATEGORIES) + 1, 3))
    anns = []
    while len(anns) < n_objects:
        m = make_blob(w, h, rng)
        ys, xs = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        if not len(ys): continue  # drawn wholly outside the image
        cid = rng.randint(1, len(CATEGORIES))
        shade = np.clip(palette[cid] * rng.uniform(0.7, 1.3), 0, 255).astype(np.uint8)
        x0, y0, x1, y1 = int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1
        img.paste(tuple(int(v) for v in shade), (x0, y0, x1, y1), Image.fromarray(m[y0:y1, x0:x1] * 255))
        anns.append({"id": len(anns) + 1, "image_id": 1, "category_id": cid, "segmentation": encode_mask(m),
                     "area": int(m.sum()), "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0,
                     "score": round(rng.uniform(0.05, 1.0), 3)})
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(1)), np.int16) + nrng.integers(-6, 7, (h, w, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    coco = {"info": {"description": "synthetic render benchmark frame"}, "licenses": [],
            "images": [{"id": 1, "file_name": "frame.jpg", "width": w, "height": h}],
            "annotations": anns,
            "categories": [{"id": i + 1, "name": n, "supercategory": "thing"} for i, n in enumerate(CATEGORIES)]}
    return img, coco

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--size", default="1920x1080", help="WxH")
    p.add_argument("--objects", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    try: w, h = (int(v) for v in a.size.lower().split("x"))
    except ValueError: p.error(f"--size must be WxH, got {a.size!r}")
    if w < 16 or h < 16: p.error("--size must be at least 16x16")
    if a.objects < 1: p.error("--objects must be at least 1")
    img, coco = make_frame(w, h, a.objects, a.seed)
    (a.out/"images").mkdir(parents=True, exist_ok=True)
    img.save(a.out/"images"/"frame.jpg", quality=90)
    (a.out/"instances.json").write_text(json.dumps(coco, separators=(",", ":")))
    print(f"{a.out}: frame.jpg {w}x{h} ({(a.out/'images'/'frame.jpg').stat().st_size / 1e6:.2f} MB), "
          f"{a.objects} objects in {len(CATEGORIES)} categories, "
          f"instances.json {(a.out/'instances.json').stat().st_size / 1e6:.2f} MB")

if __name__ == "__main__": main()
