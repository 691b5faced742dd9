"""Write a folder of realistic synthetic semantic masks (and matching images) for benchmarks.

Usage: python tests/bench/make_masks.py OUT_DIR [--size 1920x1080] [--count 20] [--classes 8] [--seed 0]

Writes OUT_DIR/masks/NNNN.png: 8-bit single-channel label maps, 0 background and class ids 1..classes, each
drawn with `PIL.ImageDraw` as 30-60 overlapping filled ellipses and star-shaped polygons of random sizes (from
small objects to a quarter of the image), so every class forms a few large blobs with ragged borders, like a
segmentation model's output, not noise. OUT_DIR/images/NNNN.jpg is an image of the same size and stem (the
mask coloured plus a gradient, JPEG quality 80), for runs that pass an images folder.
"""
import argparse, math, random, sys
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw

def make_mask(w, h, classes, rng):
    "One `(h, w)` uint8 label map of 30-60 overlapping filled shapes of class ids 1..classes on 0."
    im = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(im)
    for _ in range(rng.randint(30, 60)):
        c = rng.randint(1, classes)
        r = min(w, h) * rng.uniform(0.02, 0.25)  # radius: a small object up to a big region
        cx, cy = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)  # some cut by the border
        if rng.random() < 0.5:
            rx, ry = r * rng.uniform(0.5, 1.5), r * rng.uniform(0.5, 1.5)
            d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=c)
        else:  # star-shaped polygon: sorted angles, jittered radii
            n = rng.randint(5, 16)
            angs = sorted(rng.uniform(0, 2 * math.pi) for _ in range(n))
            pts = [(cx + r * rng.uniform(0.5, 1.0) * math.cos(a), cy + r * rng.uniform(0.5, 1.0) * math.sin(a))
                   for a in angs]
            d.polygon(pts, fill=c)
    return im

def make_image(mask, palette):
    "A cheap RGB picture for `mask`: its classes coloured over a horizontal gradient."
    m = np.asarray(mask)
    h, w = m.shape
    grad = np.linspace(40, 200, w, dtype=np.float32)[None, :, None]
    rgb = palette[m].astype(np.float32) * 0.7 + grad * 0.3
    return Image.fromarray(rgb.astype(np.uint8), "RGB")

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--size", default="1920x1080", help="WxH")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    try: w, h = (int(v) for v in a.size.lower().split("x"))
    except ValueError: p.error(f"--size must be WxH, got {a.size!r}")
    if not 1 <= a.classes <= 255: p.error("--classes must be 1..255 (8-bit masks)")
    rng = random.Random(a.seed)
    palette = np.random.default_rng(a.seed).integers(0, 256, (256, 3), dtype=np.uint8)
    palette[0] = (90, 90, 90)
    (a.out/"masks").mkdir(parents=True, exist_ok=True)
    (a.out/"images").mkdir(parents=True, exist_ok=True)
    for i in range(a.count):
        mask = make_mask(w, h, a.classes, rng)
        mask.save(a.out/"masks"/f"{i:04d}.png")
        make_image(mask, palette).save(a.out/"images"/f"{i:04d}.jpg", quality=80)
    size = sum(f.stat().st_size for f in (a.out/"masks").glob("*.png"))
    print(f"{a.out}: {a.count} masks {w}x{h}, {a.classes} classes, masks {size / 1e6:.1f} MB")

if __name__ == "__main__": main()
