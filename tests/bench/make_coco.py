"""Write a realistic synthetic COCO instances file for benchmarks.

Usage: python tests/bench/make_coco.py OUT.json [--images 20000] [--anns-per-image 10] [--points N] [--seed 0]

Images get id/file_name/width/height, ~80 categories get id/name/supercategory, and every annotation is one
polygon of `--points` (x, y) points (rounded to 2 decimals) with its area, bbox and iscrowd 0. With the
defaults (20,000 images, 200,000 annotations) the file is about 77 MB. Written with the standard `json`
module, compact separators.
"""
import argparse, json
from pathlib import Path
import numpy as np

SUPER = ["person", "vehicle", "outdoor", "animal", "accessory", "sports", "kitchen", "food", "furniture",
         "electronic", "appliance", "indoor"]

def make_coco(n_images=20_000, anns_per_image=10, n_points=18, seed=0, n_cats=80):
    "A COCO dict of `n_images` images with `anns_per_image` polygon annotations each."
    rng = np.random.default_rng(seed)
    sizes = rng.choice([(640, 480), (640, 427), (480, 640), (1280, 720), (1920, 1080)], n_images)
    images = [{"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": int(w), "height": int(h)}
              for i, (w, h) in enumerate(sizes.tolist())]
    categories = [{"id": i + 1, "name": f"class_{i + 1:02d}", "supercategory": SUPER[i % len(SUPER)]}
                  for i in range(n_cats)]
    n = n_images * anns_per_image
    img_idx = np.repeat(np.arange(n_images), anns_per_image)
    wh = sizes[img_idx].astype(np.float64)
    # star-shaped polygons: sorted angles, jittered radii around a centre that keeps them inside the image
    r = rng.uniform(0.03, 0.2, n)[:, None] * wh.min(1, keepdims=True)
    centre = rng.uniform(r, wh - r)
    ang = np.sort(rng.uniform(0, 2 * np.pi, (n, n_points)), axis=1)
    rad = r * rng.uniform(0.6, 1.0, (n, n_points))
    xs = np.round(centre[:, :1] + rad * np.cos(ang), 2)
    ys = np.round(centre[:, 1:] + rad * np.sin(ang), 2)
    area = np.round(0.5 * np.abs((xs * np.roll(ys, -1, 1) - np.roll(xs, -1, 1) * ys).sum(1)), 2)
    x0, y0 = xs.min(1), ys.min(1)
    bbox = np.round(np.stack([x0, y0, xs.max(1) - x0, ys.max(1) - y0], 1), 2)
    poly = np.stack([xs, ys], 2).reshape(n, -1)
    cats = rng.integers(1, n_cats + 1, n)
    annotations = [{"id": i + 1, "image_id": im + 1, "category_id": c, "segmentation": [p], "area": a,
                    "bbox": b, "iscrowd": 0}
                   for i, (im, c, p, a, b) in enumerate(zip(img_idx.tolist(), cats.tolist(), poly.tolist(),
                                                            area.tolist(), bbox.tolist()))]
    return {"info": {"description": "synthetic COCO benchmark", "version": "1.0"}, "licenses": [],
            "images": images, "annotations": annotations, "categories": categories}

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--images", type=int, default=20_000)
    p.add_argument("--anns-per-image", type=int, default=10)
    p.add_argument("--points", type=int, default=18)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    data = make_coco(a.images, a.anns_per_image, a.points, a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, separators=(",", ":")))  # dumps (C encoder) is much faster than dump
    print(f"{a.out}: {a.out.stat().st_size / 1e6:.1f} MB, {len(data['images'])} images, "
          f"{len(data['annotations'])} annotations, {len(data['categories'])} categories")

if __name__ == "__main__": main()
