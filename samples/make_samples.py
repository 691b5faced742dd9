"""Write the bundled sample data: four small synthetic scenes, their semantic masks and their COCO annotations.

    python samples/make_samples.py

The pictures are drawn here (no download, no licence question); the annotations are built with the same
`cvat_nb.coco.Dataset` builders a user calls, so the file is what the project itself writes.
"""
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw
from cvat_nb.coco import Dataset

HERE = Path(__file__).parent
W, H = 480, 320

def scene(k):
    "Picture `k` and its objects: (category, kind, geometry)."
    rng = np.random.default_rng(k)
    im = Image.new("RGB", (W, H), (110 + 10 * k, 140, 170))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 220, W, H], fill=(80, 80, 85))  # road
    objs = []
    for j in range(2):  # cars: polygons
        x, y = 40 + 200 * j + int(rng.integers(0, 60)), 200 + int(rng.integers(0, 40))
        pts = [x, y, x + 120, y, x + 110, y - 35, x + 20, y - 40]
        d.polygon(pts, fill=(180 - 60 * j, 40, 40 + 60 * j))
        objs.append(("car", "polygon", [float(v) for v in pts]))
    cx, cy = 100 + 60 * k, 120 + int(rng.integers(0, 30))  # a person: mask (head + body)
    mask = Image.new("L", (W, H))
    md = ImageDraw.Draw(mask)
    md.ellipse([cx - 12, cy - 60, cx + 12, cy - 36], fill=1)
    md.rectangle([cx - 18, cy - 36, cx + 18, cy + 40], fill=1)
    im.paste((230, 200, 160), mask=mask.point(lambda v: 255 * v))
    objs.append(("person", "mask", np.array(mask)))
    sx = 380 - 20 * k  # a sign: detector box with a score
    d.rectangle([sx, 60, sx + 50, 100], fill=(240, 220, 40))
    objs.append(("sign", "box", [float(sx), 60.0, 51.0, 41.0]))
    return im, objs

CLASSES = {"car": 1, "person": 2, "sign": 3}

def semantic(objs):
    "The scene's semantic mask (pixel value = category id), painted in the order the picture was."
    m = Image.new("L", (W, H))
    d = ImageDraw.Draw(m)
    for cat, kind, geo in objs:
        if kind == "polygon": d.polygon(geo, fill=CLASSES[cat])
        elif kind == "mask": m.paste(CLASSES[cat], mask=Image.fromarray(geo * 255))
        else: d.rectangle([geo[0], geo[1], geo[0] + geo[2] - 1, geo[1] + geo[3] - 1], fill=CLASSES[cat])
    return m

def main():
    for d in ("images", "masks"): (HERE/d).mkdir(exist_ok=True)
    (HERE/"categories.csv").write_text("".join(f"{i},{n}\n" for n, i in CLASSES.items()))
    ds = Dataset()
    ds.data["info"] = {"description": "cvat_nb sample scenes", "version": "1.0"}
    for name in CLASSES: ds.add_category(name)
    for k in range(4):
        im, objs = scene(k)
        fn = f"street_{k + 1:02d}.jpg"
        im.save(HERE/"images"/fn, quality=85)
        semantic(objs).save(HERE/"masks"/fn.replace(".jpg", ".png"))
        img = ds.add_image(fn, W, H)
        for cat, kind, geo in objs:
            if kind == "polygon": ds.add_polygon(img, cat, geo)
            elif kind == "mask": ds.add_mask(img, cat, geo)
            else: ds.add_box(img, cat, geo, score=round(0.6 + 0.1 * k, 2))
    (HERE/"coco").mkdir(exist_ok=True)
    ds.save(HERE/"coco"/"instances_default.json", overwrite=True, indent=True)
    print(ds)

if __name__ == "__main__": main()
