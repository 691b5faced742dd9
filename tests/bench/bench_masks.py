"""Benchmark converting a folder of semantic masks to COCO: `cvat_nb` against the usual per-category loop.

Usage: python tests/bench/bench_masks.py MASK_DIR [IMAGE_DIR] [--reps 5] [--jobs 2]

End to end (read every PNG, encode every class, write the JSON file into a temporary folder), in this process,
timed with `perf_counter`:
  project   `masks_to_coco(MASK_DIR, IMAGE_DIR or None, image_ext=".jpg" without IMAGE_DIR, progress=False)`
            then `.dataset.save(tmp/"out.json", overwrite=True)`; once in this process, once with `jobs=N`
  anchor    `seed_convert(MASK_DIR, tmp/"anchor.json")` (tests/bench/seed_masks.py)
  floor     decoding every PNG to a numpy array with PIL and nothing else
The encode step alone times `encode_labels(m)` against `seed_encode(m)` over every mask, decoded once beforehand.
One warm-up run of everything comes first and is not counted; then `--reps` repetitions, alternating which of
project and anchor goes first; medians are reported. The warm-up outputs are checked once: every file and class
must have the same RLE counts, area and box on both sides, and the project's file_name must name the image
("exact: yes", or exit 1 with the first mismatch). Peak memory is the peak RSS of one more project run in a fresh
subprocess minus its RSS after imports. Prints human-readable lines, then as the last line one JSON object:
{"bench": "masks", "project_ms", "anchor", "anchor_ms", "speedup", "floor_ms", "floor_ratio", "encode_project_ms",
 "encode_anchor_ms", "encode_speedup", "jobs", "project_jobs_ms", "speedup_jobs", "peak_mib", "files", "size"}
Make inputs with tests/bench/make_masks.py.
"""
import argparse, gc, json, os, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
ANCHOR = "seed per-category loop"

def project_run(mask_dir, image_dir, out, jobs=1):
    "The project end to end: convert the folder and write the COCO file."
    from cvat_nb.convert import masks_to_coco
    conv = masks_to_coco(mask_dir, image_dir, image_ext=None if image_dir else ".jpg", jobs=jobs, progress=False)
    conv.dataset.save(out, overwrite=True)
    return conv

def worker(mask_dir, image_dir):
    "One project run in a fresh interpreter; prints {ms, peak_mib} as JSON."
    import cvat_nb.convert  # imports before the base RSS
    base = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        project_run(mask_dir, None if image_dir == "-" else image_dir, Path(tmp)/"out.json")
        ms = (time.perf_counter() - t0) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base  # ru_maxrss is KiB on Linux
    print(json.dumps({"ms": ms, "peak_mib": peak / 2**20}))

FAULTS = {}  # side -> minor page faults of each timed run (fresh memory touched: a cause of run-to-run swings)

def timed(fn, side=None):
    gc.collect()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    fn()
    ms = (time.perf_counter() - t0) * 1000
    if side: FAULTS.setdefault(side, []).append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return ms

def by_file(coco):
    "`{file stem: (file_name, {category id: annotation})}` of a COCO dict."
    out = {im["id"]: (Path(im["file_name"]).stem, im["file_name"], {}) for im in coco["images"]}
    for a in coco["annotations"]:
        cats = out[a["image_id"]][2]
        if a["category_id"] in cats: return None  # two annotations of one class in one image
        cats[a["category_id"]] = a
    return {stem: (name, cats) for stem, name, cats in out.values()}

def check_exact(project_json, anchor_json, mask_files, image_dir):
    "The first difference between the two outputs, or None."
    p, a = by_file(json.loads(Path(project_json).read_bytes())), by_file(json.loads(Path(anchor_json).read_bytes()))
    if p is None: return "the project has two annotations of one class in one image"
    if a is None: return "the anchor has two annotations of one class in one image"
    stems = [f.stem for f in mask_files]
    if sorted(p) != sorted(stems): return f"project images {sorted(p)[:5]}... are not the masks {stems[:5]}..."
    if sorted(a) != sorted(stems): return f"anchor images {sorted(a)[:5]}... are not the masks {stems[:5]}..."
    images = {f.stem: f.name for f in Path(image_dir).iterdir()} if image_dir else None
    for stem in stems:
        (pname, pc), (_, ac) = p[stem], a[stem]
        want = images[stem] if images else stem + ".jpg"
        if pname != want: return f"{stem}: project file_name {pname!r}, expected the image's {want!r}"
        if sorted(pc) != sorted(ac): return f"{stem}: project classes {sorted(pc)}, anchor classes {sorted(ac)}"
        for c in ac:
            ps, as_ = pc[c]["segmentation"], ac[c]["segmentation"]
            if ps["counts"] != as_["counts"]:
                i = next((k for k, (x, y) in enumerate(zip(ps["counts"], as_["counts"])) if x != y),
                         min(len(ps["counts"]), len(as_["counts"])))
                return (f"{stem} class {c}: RLE counts differ at char {i} (project {len(ps['counts'])} chars "
                        f"{ps['counts'][max(0, i - 10):i + 10]!r}, anchor {len(as_['counts'])} chars "
                        f"{as_['counts'][max(0, i - 10):i + 10]!r})")
            if list(ps["size"]) != list(as_["size"]): return f"{stem} class {c}: size {ps['size']} vs {as_['size']}"
            if pc[c]["area"] != ac[c]["area"]: return f"{stem} class {c}: area {pc[c]['area']} vs {ac[c]['area']}"
            if pc[c]["bbox"] != ac[c]["bbox"]: return f"{stem} class {c}: bbox {pc[c]['bbox']} vs {ac[c]['bbox']}"
    return None

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one stderr line, exit 2
        sys.exit(print(f"bench_masks: {message} (usage: bench_masks.py MASK_DIR [IMAGE_DIR] [--reps 5] "
                       f"[--jobs 2])", file=sys.stderr) or 2)

def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--worker": return worker(sys.argv[2], sys.argv[3])
    ap = _Parser(description=__doc__.splitlines()[0])
    ap.add_argument("mask_dir", type=Path, nargs="?")
    ap.add_argument("image_dir", type=Path, nargs="?")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if args.mask_dir is None: ap.error("give a folder of masks")
    if args.reps < 1 or args.jobs < 1: ap.error("--reps and --jobs must be at least 1")
    for d in (args.mask_dir, args.image_dir):
        if d is not None and not d.is_dir(): sys.exit(f"bench_masks: no such folder: {d}")
    files = sorted(args.mask_dir.glob("*.png"))
    if not files: sys.exit(f"bench_masks: no .png masks in {args.mask_dir}")

    import numpy as np
    from PIL import Image
    from cvat_nb.labels import encode_labels, read_label_map
    from seed_masks import seed_convert, seed_encode

    mask_dir, image_dir, jobs = args.mask_dir, args.image_dir, args.jobs
    with tempfile.TemporaryDirectory(prefix="bench_masks.") as tmp:
        p_out, a_out = Path(tmp)/"out.json", Path(tmp)/"anchor.json"
        def floor():
            for f in files:
                with Image.open(f) as im: np.asarray(im)
        sides = {"floor": floor,
                 "project": lambda: project_run(mask_dir, image_dir, p_out),
                 "anchor": lambda: seed_convert(mask_dir, a_out),
                 "project_jobs": lambda: project_run(mask_dir, image_dir, p_out, jobs)}
        # warm-up (not counted): page cache, imports, lazy initialisation; its outputs are the ones checked
        for s in ("floor", "anchor", "project_jobs", "project"): sides[s]()
        with Image.open(files[0]) as im: size = "%dx%d" % im.size
        print(f"{mask_dir}: {len(files)} masks {size}, "
              f"{sum(f.stat().st_size for f in files) / 1e6:.1f} MB; images: {image_dir or 'none (image_ext .jpg)'}; "
              f"{args.reps} reps; out {p_out.stat().st_size / 1e6:.1f} MB (project), "
              f"{a_out.stat().st_size / 1e6:.1f} MB (anchor)", flush=True)
        bad = check_exact(p_out, a_out, files, image_dir)
        if bad: sys.exit(f"bench_masks: not exact: {bad}")
        n_anns = len(json.loads(a_out.read_bytes())["annotations"])
        print(f"exact: yes ({n_anns} annotations: RLE counts, area and box equal to the anchor's; "
              f"file_name names the {'image' if image_dir else 'image (.jpg)'})", flush=True)

        runs = {s: [] for s in sides}
        for i in range(args.reps):
            order = ("floor",) + (("project", "anchor") if i % 2 == 0 else ("anchor", "project")) + ("project_jobs",)
            for s in order: runs[s].append(timed(sides[s], s))
        med = {s: statistics.median(v) for s, v in runs.items()}

    arrays = [read_label_map(f) for f in files]
    enc = {"project": lambda: [encode_labels(m) for m in arrays], "anchor": lambda: [seed_encode(m) for m in arrays]}
    for s in enc: enc[s]()  # warm-up
    enc_runs = {s: [] for s in enc}
    for i in range(args.reps):
        for s in (("project", "anchor") if i % 2 == 0 else ("anchor", "project")): enc_runs[s].append(timed(enc[s]))
    enc_med = {s: statistics.median(v) for s, v in enc_runs.items()}

    r = subprocess.run([sys.executable, __file__, "--worker", str(mask_dir), str(image_dir or "-")],
                       capture_output=True, text=True)
    if r.returncode: sys.exit(f"bench_masks: the memory worker failed:\n{r.stderr.strip()}")
    peak = json.loads(r.stdout.splitlines()[-1])["peak_mib"]

    n = len(files)
    def line(name, ms, extra="", runs=None, key=None):
        spread = f"  (reps {min(runs):.0f}..{max(runs):.0f})" if runs else ""
        if key in FAULTS: spread += f"  {statistics.median(FAULTS[key]) / n:.0f} page faults/file"
        print(f"  {name:<22}{ms:9.1f} ms  {ms / n:8.1f} ms/file{extra}{spread}", flush=True)
    p, a, fl, pj = med["project"], med["anchor"], med["floor"], med["project_jobs"]
    print(f"medians of {args.reps} (end to end: read, encode, write JSON):")
    line("floor (PNG decode)", fl, runs=runs["floor"], key="floor")
    line("project", p, f"  = {p / fl:.2f}x floor", runs["project"], "project")
    line("anchor", a, f"  -> speedup {a / p:.2f}x", runs["anchor"], "anchor")
    line(f"project jobs={jobs}", pj, f"  -> speedup {a / pj:.2f}x", runs["project_jobs"])
    print("encode step alone (pre-decoded arrays):")
    line("encode_labels", enc_med["project"], runs=enc_runs["project"])
    line("seed_encode", enc_med["anchor"], f"  -> speedup {enc_med['anchor'] / enc_med['project']:.2f}x",
         enc_runs["anchor"])
    print(f"peak RSS growth of one project run: {peak:.0f} MiB", flush=True)
    print(json.dumps({"bench": "masks", "project_ms": round(p, 1), "anchor": ANCHOR, "anchor_ms": round(a, 1),
                      "speedup": round(a / p, 2), "floor_ms": round(fl, 1), "floor_ratio": round(p / fl, 2),
                      "encode_project_ms": round(enc_med["project"], 1),
                      "encode_anchor_ms": round(enc_med["anchor"], 1),
                      "encode_speedup": round(enc_med["anchor"] / enc_med["project"], 2),
                      "jobs": jobs, "project_jobs_ms": round(pj, 1), "speedup_jobs": round(a / pj, 2),
                      "peak_mib": round(peak, 1), "files": n, "size": size}))

if __name__ == "__main__": main()
