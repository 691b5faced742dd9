"""Benchmark drawing one frame's instance masks, boxes and labels for display: `cvat_nb` against supervision.

Usage: python tests/bench/bench_render.py COCO.json IMAGES_DIR [IMAGE_ID] [--reps 7] [--width 960]

The same frame (IMAGE_ID, an id or file name; default the first image) and the same output, a JPEG of quality 85
`--width` pixels wide, timed with `perf_counter` in this process. The COCO file is parsed and indexed once
beforehand (`cvat_nb.coco.Dataset`); neither side is timed reading JSON, both get the same annotation dicts.
  project   first render of the frame: a new `Renderer(ds, IMAGES_DIR)` (empty cache, so the image decode and
            the mapping of every mask onto the display grid are timed) then `render_bytes(id, fmt="jpeg",
            width=W)`; the module's caption cache (`_sprite`, if any) is emptied first, as a frame not seen
            before has captions not drawn before; loaded fonts stay, as in a session
  anchor    supervision as its docs show it: PIL image -> numpy (BGR, supervision's convention for arrays),
            masks decoded with `pycocotools.mask.decode` into an (n, H, W) bool array, `sv.Detections(xyxy,
            mask, class_id, confidence)`, `sv.MaskAnnotator`, `sv.BoxAnnotator`, `sv.LabelAnnotator` with labels
            "name score" at full resolution, then resized to width W (PIL bilinear) and encoded (JPEG 85).
            supervision 0.31 runs on OpenCV if `cv2` imports, else on a slower NumPy fallback (its default
            install has no OpenCV); "anchor_backend" in the JSON says which was measured
  change    a control change on the frame already shown: one `Renderer` warmed by one render, then
            `render_bytes(id, width=W, ...)` with opacity alternating 0.3/0.6, a category toggle (the most
            frequent category hidden / all shown) and a score threshold change (0.5 / 0.0)
One warm-up of each side comes first and is not counted (imports, page cache, fonts); then `--reps`
repetitions, alternating which of project and anchor goes first; medians are reported (change: over all its
renders and per kind), with the median minor page faults of each side (a project run right after an anchor run
touches fresh memory, as the anchor's large mask arrays went back to the system, and is slower than one right
after a project run). Peak memory is the peak RSS of one more project first render in a fresh subprocess minus
its RSS after imports and loading the dataset. The last outputs of both sides are written to a temporary folder
whose path is printed, to look at. Prints human-readable lines, then as the last line one JSON object:
{"bench": "render", "project_ms", "anchor", "anchor_ms", "speedup", "change_ms", "floor_ms": null, "peak_mib",
 "size", "objects", "anchor_backend", "change_opacity_ms", "change_category_ms", "change_threshold_ms", "width"}
Make inputs with tests/bench/make_render_data.py.
"""
import argparse, gc, io, json, os, resource, statistics, subprocess, sys, tempfile, time, warnings
from collections import Counter
from pathlib import Path

QUALITY = 85

def _rss():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def _reset_peak():
    "Reset the kernel's peak RSS of this process (Linux >= 4.0); False if it cannot."
    try: Path("/proc/self/clear_refs").write_text("5"); return True
    except OSError: return False

def _peak():
    "Peak RSS in bytes: VmHWM (resettable), else ru_maxrss."
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"): return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

def load(coco, images_dir, image):
    "`(Dataset, image record)`, the dataset indexed."
    from cvat_nb.coco import Dataset
    ds = Dataset.load(coco)
    ds.index
    if image is None:
        if not ds.images: sys.exit(f"bench_render: no images in {coco}")
        image = ds.images[0]["id"]
    elif image.isdigit(): image = int(image)
    try: rec = ds.image(image)
    except KeyError as e: sys.exit(f"bench_render: {e.args[0]}")
    if not (Path(images_dir)/rec["file_name"]).is_file():
        sys.exit(f"bench_render: no such image file: {Path(images_dir)/rec['file_name']}")
    return ds, rec

def cold_caches():
    "Empty the renderer's module-level caches that outlive a `Renderer` (captions drawn before), not the fonts."
    from cvat_nb import render
    for name in ("_sprite",):
        f = getattr(render, name, None)
        if hasattr(f, "cache_clear"): f.cache_clear()

def project_first(ds, images_dir, image_id, width):
    "A cold first render: module caches emptied, new Renderer, decode, map masks, draw, encode."
    from cvat_nb.render import Renderer
    cold_caches()
    return Renderer(ds, images_dir).render_bytes(image_id, fmt="jpeg", width=width)

def anchor_first(sv, ds, images_dir, rec, width):
    "supervision: decode the image and the masks, annotate at full size, resize and encode."
    import numpy as np
    from PIL import Image
    from pycocotools import mask as cocomask
    anns = ds.anns(rec["id"])
    with Image.open(Path(images_dir)/rec["file_name"]) as im: bgr = np.asarray(im.convert("RGB"))[:, :, ::-1].copy()
    masks = cocomask.decode([a["segmentation"] for a in anns])  # (H, W, n) uint8, Fortran order
    names = {c["id"]: c["name"] for c in ds.categories}
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float32)
    det = sv.Detections(xyxy=xyxy, mask=np.moveaxis(masks, 2, 0).astype(bool),
                        class_id=np.array([a["category_id"] for a in anns]),
                        confidence=np.array([a["score"] for a in anns], np.float32))
    labels = [f"{names[a['category_id']]} {a['score']:.2f}" for a in anns]
    out = sv.MaskAnnotator().annotate(scene=bgr, detections=det)
    out = sv.BoxAnnotator().annotate(scene=out, detections=det)
    out = sv.LabelAnnotator().annotate(scene=out, detections=det, labels=labels)
    im = Image.fromarray(np.ascontiguousarray(out[:, :, ::-1]))
    w, h = im.size
    im = im.resize((width, max(1, round(h * width / w))), Image.BILINEAR) if width < w else im
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=QUALITY)
    return buf.getvalue()

def worker(coco, images_dir, image, width):
    "One project first render in a fresh interpreter; prints {ms, peak_mib} as JSON."
    import cvat_nb.render  # imports and the dataset before the base RSS
    ds, rec = load(coco, images_dir, image)
    gc.collect()
    reset = _reset_peak()
    base = _rss()
    t0 = time.perf_counter()
    project_first(ds, images_dir, rec["id"], width)
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"ms": ms, "peak_mib": (_peak() - base) / 2**20, "peak_reset": reset}))

FAULTS = {}  # side -> minor page faults of each timed run (fresh memory touched: a cause of run-to-run swings)

def timed(fn, side=None):
    gc.collect()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    out = fn()
    ms = (time.perf_counter() - t0) * 1000
    if side: FAULTS.setdefault(side, []).append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return ms, out

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one stderr line, exit 2
        sys.exit(print(f"bench_render: {message} (usage: bench_render.py COCO.json IMAGES_DIR [IMAGE_ID] "
                       f"[--reps 7] [--width 960])", file=sys.stderr) or 2)

def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    ap = _Parser(description=__doc__.splitlines()[0])
    ap.add_argument("coco", type=Path, nargs="?")
    ap.add_argument("images_dir", type=Path, nargs="?")
    ap.add_argument("image", nargs="?")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--width", type=int, default=960)
    args = ap.parse_args()
    if args.coco is None or args.images_dir is None: ap.error("give a COCO file and the folder of its images")
    if args.reps < 1 or args.width < 1: ap.error("--reps and --width must be at least 1")
    if not args.coco.is_file(): sys.exit(f"bench_render: no such file: {args.coco}")
    if not args.images_dir.is_dir(): sys.exit(f"bench_render: no such folder: {args.images_dir}")

    with warnings.catch_warnings():  # supervision warns once that OpenCV is absent (it then uses NumPy)
        warnings.simplefilter("ignore")
        import supervision as sv
    from cvat_nb.render import Renderer
    try:
        import cv2  # noqa: F401
        backend = f"OpenCV {cv2.__version__}"
    except ImportError: backend = "NumPy fallback, no OpenCV"
    anchor = f"supervision {sv.__version__} Mask+Box+Label annotators"

    ds, rec = load(args.coco, args.images_dir, args.image)
    iid, W = rec["id"], args.width
    anns = ds.anns(iid)
    if not anns: sys.exit(f"bench_render: image {iid} has no annotations")
    bad = [a.get("id") for a in anns if not (isinstance(a.get("segmentation"), dict) and "score" in a
                                              and isinstance(a.get("bbox"), list))]
    if bad: sys.exit(f"bench_render: annotation {bad[0]} lacks an RLE segmentation, a bbox or a score")
    size = f"{rec['width']}x{rec['height']}"

    sides = {"project": lambda: project_first(ds, args.images_dir, iid, W),
             "anchor": lambda: anchor_first(sv, ds, args.images_dir, rec, W)}
    outs = {s: f() for s, f in sides.items()}  # warm-up, not counted
    runs = {s: [] for s in sides}
    for i in range(args.reps):
        for s in (("project", "anchor") if i % 2 == 0 else ("anchor", "project")):
            ms, outs[s] = timed(sides[s], s)
            runs[s].append(ms)
    med = {s: statistics.median(v) for s, v in runs.items()}

    r = Renderer(ds, args.images_dir)
    r.render_bytes(iid, fmt="jpeg", width=W)  # the frame is now shown (cached)
    top_cat = Counter(a["category_id"] for a in anns).most_common(1)[0][0]
    all_cats = frozenset(c["id"] for c in ds.categories)
    changes = {"opacity": lambda i: {"opacity": 0.3 if i % 2 == 0 else 0.6},
               "category": lambda i: {"categories": all_cats - {top_cat} if i % 2 == 0 else None},
               "threshold": lambda i: {"score_threshold": 0.5 if i % 2 == 0 else 0.0}}
    ch = {k: [] for k in changes}
    for i in range(2 * args.reps):  # an even count: each value of each kind as often
        for k, kw in changes.items():
            ms, _ = timed(lambda: r.render_bytes(iid, fmt="jpeg", width=W, **kw(i)))
            ch[k].append(ms)
    ch_med = {k: statistics.median(v) for k, v in ch.items()}
    ch_all = statistics.median([v for vs in ch.values() for v in vs])

    w = subprocess.run([sys.executable, __file__, "--worker", str(args.coco), str(args.images_dir), str(iid), str(W)],
                       capture_output=True, text=True)
    if w.returncode: sys.exit(f"bench_render: the memory worker failed:\n{w.stderr.strip()}")
    mem = json.loads(w.stdout.splitlines()[-1])

    out_dir = Path(tempfile.mkdtemp(prefix="bench_render."))
    (out_dir/"project.jpg").write_bytes(outs["project"])
    (out_dir/"supervision.jpg").write_bytes(outs["anchor"])

    def line(name, ms, vs, extra="", key=None):
        faults = f"  {statistics.median(FAULTS[key]):.0f} page faults" if key in FAULTS else ""
        print(f"  {name:<26}{ms:8.1f} ms  (reps {min(vs):.1f}..{max(vs):.1f}){extra}{faults}", flush=True)
    print(f"{args.coco}: image {iid} {rec['file_name']} {size}, {len(anns)} objects (RLE masks); "
          f"output JPEG q{QUALITY} width {W}; {args.reps} reps; anchor {anchor} ({backend})")
    print(f"medians of {args.reps} (first render: image decode, masks, draw, resize, encode):")
    line("project first render", med["project"], runs["project"], key="project")
    line("anchor (supervision)", med["anchor"], runs["anchor"], f"  -> speedup {med['anchor'] / med['project']:.2f}x",
         key="anchor")
    print(f"control change on the shown frame (median of {2 * args.reps} renders each):")
    for k, v in ch.items(): line(k, ch_med[k], v)
    line("all changes", ch_all, [v for vs in ch.values() for v in vs])
    print(f"peak RSS growth of one project first render: {mem['peak_mib']:.0f} MiB"
          + ("" if mem["peak_reset"] else " (peak not resettable: ru_maxrss)"))
    print(f"outputs: {out_dir}/project.jpg ({len(outs['project']) / 1e3:.0f} kB), "
          f"{out_dir}/supervision.jpg ({len(outs['anchor']) / 1e3:.0f} kB)", flush=True)
    print(json.dumps({"bench": "render", "project_ms": round(med["project"], 1), "anchor": anchor,
                      "anchor_ms": round(med["anchor"], 1), "speedup": round(med["anchor"] / med["project"], 2),
                      "change_ms": round(ch_all, 1), "floor_ms": None, "peak_mib": round(mem["peak_mib"], 1),
                      "size": size, "objects": len(anns), "anchor_backend": backend,
                      "change_opacity_ms": round(ch_med["opacity"], 1),
                      "change_category_ms": round(ch_med["category"], 1),
                      "change_threshold_ms": round(ch_med["threshold"], 1), "width": W}))

if __name__ == "__main__": main()
