"""Write the bundled sample data (see samples/README.md for the inventory and each file's format).

    python samples/make_samples.py

- four street scenes (`images/`), their semantic masks (`masks/`), instance masks (`instance_masks/`), their COCO
  annotations (`coco/instances_default.json`) and a detector's boxes with scores (`detections.json`);
- two scenes of people (`people/`) with COCO Keypoints 1.0 poses (`coco/person_keypoints_default.json`), some
  keypoints outside the picture (v=0) and one hidden behind a crate (v=1).

The pictures are drawn here (no download, no licence question); the annotations are built with the same
`cvat_nb` builders a user calls, so each file is what the project itself writes. Every run writes the same bytes.
"""
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw
from cvat_nb.coco import Dataset
from cvat_nb.skeleton import Skeleton, add_poses

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
    write_instance_masks()
    write_detections()
    write_people()

# --- instance masks: one PNG per image, pixel value = instance id (1, 2, ... in drawing order), 0 = background.
# Each instance's category is the value under it in the paired semantic mask of `masks/` (same file name).

def instances(objs):
    "The scene's instance map: object `i` (1-based, in drawing order) painted with value `i`, later ones on top."
    m = Image.new("L", (W, H))
    d = ImageDraw.Draw(m)
    for i, (cat, kind, geo) in enumerate(objs, 1):
        if kind == "polygon": d.polygon(geo, fill=i)
        elif kind == "mask": m.paste(i, mask=Image.fromarray(geo * 255))
        else: d.rectangle([geo[0], geo[1], geo[0] + geo[2] - 1, geo[1] + geo[3] - 1], fill=i)
    return m

def write_instance_masks():
    (HERE/"instance_masks").mkdir(exist_ok=True)
    for k in range(4): instances(scene(k)[1]).save(HERE/"instance_masks"/f"street_{k + 1:02d}.png")

# --- detections: what a box detector might return for the street scenes, as COCO boxes with a `score`
# (`segmentation: []`, so CVAT imports rectangles), a few pixels off the truth, plus a low-scoring false alarm.

def _extent(kind, geo):
    "`[x, y, w, h]` of one object of `scene`."
    if kind == "polygon": xs, ys = geo[0::2], geo[1::2]; return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    if kind == "mask":
        ys, xs = np.nonzero(geo)
        return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return list(geo)

def write_detections():
    ds = Dataset()
    ds.data["info"] = {"description": "cvat_nb sample detector output: boxes with scores", "version": "1.0"}
    for name in CLASSES: ds.add_category(name)
    for k in range(4):
        rng = np.random.default_rng(100 + k)
        img = ds.add_image(f"street_{k + 1:02d}.jpg", W, H)
        for cat, kind, geo in scene(k)[1]:
            x, y, w, h = (v + float(d) for v, d in zip(_extent(kind, geo), rng.integers(-3, 4, 4)))
            ds.add_box(img, cat, [round(x, 1), round(y, 1), round(w, 1), round(h, 1)],
                       score=round(float(rng.uniform(0.55, 0.98)), 3))
        if k % 2: ds.add_box(img, "person", [300.0 - 40 * k, 230.0, 30.0, 60.0], score=round(0.2 + 0.05 * k, 3))
    ds.save(HERE/"detections.json", overwrite=True, indent=True)
    print("detections:", ds)

# --- people: stick figures with COCO's 17 person keypoints. Names and edges are COCO Keypoints 1.0's; "left" is the
# person's left, so on a figure facing the camera it is on the picture's right.

PERSON = Skeleton("person",
    ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
     "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
     "right_ankle"],
    [(16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9), (8, 10), (9, 11),
     (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7)])

# A standing pose in figure units (hips' centre at 0, 0; y down; 1 unit ~ the figure's height), and two changes to it.
STAND = np.array([[0, -.62], [.03, -.65], [-.03, -.65], [.06, -.63], [-.06, -.63], [.12, -.45], [-.12, -.45],
                  [.17, -.25], [-.17, -.25], [.2, -.05], [-.2, -.05], [.08, 0], [-.08, 0], [.09, .22], [-.09, .22],
                  [.1, .45], [-.1, .45]])
WAVE = {8: (-.22, -.55), 10: (-.26, -.78)}  # right arm raised (indices into STAND)
WALK = {13: (.14, .2), 15: (.2, .42), 14: (-.05, .23), 16: (-.12, .45), 7: (.12, -.23), 9: (.04, -.04)}

def figure(cx, cy, s, changes=()):
    "Pixel coordinates (17, 2) of a figure whose hips are at `cx, cy` and whose height is about `s` pixels."
    p = STAND.copy()
    for i, xy in dict(changes).items(): p[i] = xy
    return p * s + (cx, cy)

def draw_figure(d, p, s, shirt, trousers):
    "Draw a figure's limbs, body and head from its keypoints `p`."
    k = {n: tuple(p[i]) for i, n in enumerate(PERSON.keypoints)}
    t = max(2, int(s * .045))
    for a, b, c in [("left_hip", "left_knee", trousers), ("left_knee", "left_ankle", trousers),
                    ("right_hip", "right_knee", trousers), ("right_knee", "right_ankle", trousers)]:
        d.line([k[a], k[b]], fill=c, width=t + 2)
    d.polygon([k["left_shoulder"], k["right_shoulder"], k["right_hip"], k["left_hip"]], fill=shirt)
    for a, b in [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"),
                 ("right_elbow", "right_wrist")]:
        d.line([k[a], k[b]], fill=shirt, width=t)
    r, (x, y) = s * .085, k["nose"]
    d.ellipse([x - r, y - r * 1.1, x + r, y + r * 0.9], fill=(225, 190, 150))
    for e in ("left_eye", "right_eye"):
        d.ellipse([k[e][0] - 1, k[e][1] - 1, k[e][0] + 1, k[e][1] + 1], fill=(40, 30, 30))

PW, PH = 320, 240
PEOPLE = [  # per picture: figures (hips x, y, height, pose changes, shirt, trousers), and a crate in front (or None)
    ([(100, 130, 150, WAVE, (200, 60, 60), (50, 60, 110)), (295, 135, 150, {}, (60, 150, 90), (70, 70, 70))], None),
    ([(90, 120, 150, WALK, (70, 90, 200), (60, 50, 40)), (240, 200, 160, {}, (230, 170, 40), (40, 60, 90))],
     [45, 100, 75, 130]),
]

def write_people():
    (HERE/"people").mkdir(exist_ok=True)
    ds = Dataset()
    ds.data["info"] = {"description": "cvat_nb sample people: COCO person keypoints", "version": "1.0"}
    for n, (figs, crate) in enumerate(PEOPLE, 1):
        im = Image.new("RGB", (PW, PH), (150, 185, 215))
        d = ImageDraw.Draw(im)
        d.rectangle([0, 170, PW, PH], fill=(120, 150, 90))  # grass
        poses = []
        for cx, cy, s, changes, shirt, trousers in figs:
            p = figure(cx, cy, s, changes)
            draw_figure(d, p, s, shirt, trousers)
            inside = (p[:, 0] >= 0) & (p[:, 0] < PW) & (p[:, 1] >= 0) & (p[:, 1] < PH)
            v = np.where(inside, 2, 0)
            if crate is not None:  # keypoints behind the crate are occluded: labelled, not visible
                hid = (p[:, 0] >= crate[0]) & (p[:, 0] <= crate[2]) & (p[:, 1] >= crate[1]) & (p[:, 1] <= crate[3])
                v = np.where(hid & inside, 1, v)
            xy = np.where(v[:, None] > 0, np.round(p, 1), 0)  # COCO writes 0, 0 for a point not labelled
            poses.append(np.column_stack([xy, v]))
        if crate is not None: d.rectangle(crate, fill=(150, 100, 50), outline=(90, 60, 30), width=2)
        fn = f"people_{n:02d}.jpg"
        im.save(HERE/"people"/fn, quality=85)
        img = ds.add_image(fn, PW, PH)
        add_poses(ds, img, PERSON, np.array(poses), scores=[0.93, 0.81])
    ds.save(HERE/"coco"/"person_keypoints_default.json", overwrite=True, indent=True)
    print("people:", ds)

if __name__ == "__main__": main()
