"""The anchor for bench_masks: the usual per-category loop that turns a folder of semantic masks into COCO.

For each mask file: read it with `np.array(Image.open(path))`, then for every value of `np.unique(mask)` but 0
build the binary mask `(mask == v)`, encode it with `pycocotools.mask.encode`, and take area and box from it;
finally `json.dump(coco, f, indent=4)`. Image records carry the mask's file name, not the image's (the known
bug of this recipe; kept, it costs no time). Usage: python tests/bench/seed_masks.py MASK_DIR OUT.json
"""
import json, sys
from pathlib import Path
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

def seed_encode(mask):
    "One annotation dict (`category_id`, `segmentation`, `area`, `bbox`, `iscrowd`) per non-zero value of `mask`."
    anns = []
    for v in np.unique(mask):
        if v == 0: continue
        binary = (mask == v).astype(np.uint8)
        rle = mask_utils.encode(np.asfortranarray(binary))
        rle["counts"] = rle["counts"].decode("ascii")
        anns.append({"category_id": int(v), "segmentation": rle, "area": float(binary.sum()),
                     "bbox": mask_utils.toBbox(rle).tolist(), "iscrowd": 0})
    return anns

def seed_convert(mask_dir, out_json):
    "Convert every PNG in `mask_dir` (sorted) to one COCO file `out_json`."
    coco = {"images": [], "annotations": [], "categories": []}
    cats = set()
    for img_id, path in enumerate(sorted(Path(mask_dir).glob("*.png")), 1):
        mask = np.array(Image.open(path))
        h, w = mask.shape[:2]
        coco["images"].append({"id": img_id, "file_name": path.name, "width": w, "height": h})
        for ann in seed_encode(mask):
            ann["id"] = len(coco["annotations"]) + 1
            ann["image_id"] = img_id
            cats.add(ann["category_id"])
            coco["annotations"].append(ann)
    coco["categories"] = [{"id": c, "name": f"class_{c}", "supercategory": ""} for c in sorted(cats)]
    with open(out_json, "w") as f:
        json.dump(coco, f, indent=4)
    return out_json

if __name__ == "__main__":
    if len(sys.argv) != 3: sys.exit("usage: seed_masks.py MASK_DIR OUT.json")
    seed_convert(sys.argv[1], sys.argv[2])
