"""Benchmark loading a COCO file: `cvat_nb` against pycocotools.

Usage: python tests/bench/bench_load.py COCO.json [COCO2.json ...] [--reps 5]

For each file, the project (`cvat_nb.coco.Dataset.load(path)` then `ds.index`) and the anchor
(`pycocotools.coco.COCO(path)`, which loads and indexes) each run `--reps` times, every repetition in a fresh
subprocess, alternating which side goes first. A worker times the load+index call alone (`perf_counter`) and
reports its peak memory as peak RSS (`ru_maxrss`) after the call minus the RSS right after imports. Prints one
line per file with medians, then as the last line one JSON object:
{"bench": "load", "project_ms", "anchor", "anchor_ms", "speedup", "peak_mib", "anchor_peak_mib", "files"}
with times summed over files and peaks the max over files. Make inputs with tests/bench/make_coco.py.
"""
import argparse, contextlib, io, json, os, resource, statistics, subprocess, sys, time
from pathlib import Path

ANCHOR = "pycocotools.coco.COCO"

def worker(side, path):
    "Load+index `path` once with `side`; print {ms, peak_mib, images, annotations} as JSON."
    if side == "project":
        from cvat_nb.coco import Dataset
        def run():
            ds = Dataset.load(path); ds.index
            return len(ds.images), len(ds.annotations)
    else:
        from pycocotools.coco import COCO
        def run():
            with contextlib.redirect_stdout(io.StringIO()): c = COCO(path)
            return len(c.imgs), len(c.anns)
    base = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    t0 = time.perf_counter()
    n_img, n_ann = run()
    ms = (time.perf_counter() - t0) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base  # ru_maxrss is KiB on Linux
    print(json.dumps({"ms": ms, "peak_mib": peak / 2**20, "images": n_img, "annotations": n_ann}))

def run_once(side, path):
    "One repetition of `side` on `path` in a fresh interpreter."
    r = subprocess.run([sys.executable, __file__, "--worker", side, str(path)], capture_output=True, text=True)
    if r.returncode: sys.exit(f"bench_load: {side} failed on {path}:\n{r.stderr.strip()}")
    return json.loads(r.stdout.splitlines()[-1])

def bench_file(path, reps):
    "Medians of time and peak memory of both sides on `path`."
    with open(path, "rb") as f:  # warm the page cache so neither side pays the first disk read
        while f.read(1 << 24): pass
    runs = {"project": [], "anchor": []}
    for i in range(reps):
        for side in (("project", "anchor") if i % 2 == 0 else ("anchor", "project")):
            runs[side].append(run_once(side, path))
    med = {s: {k: statistics.median(r[k] for r in rs) for k in ("ms", "peak_mib")} for s, rs in runs.items()}
    p, a = med["project"], med["anchor"]
    n = runs["project"][0]
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, {n['images']} images, {n['annotations']} annotations | "
          f"project {p['ms']:.0f} ms, anchor {a['ms']:.0f} ms, speedup {a['ms'] / p['ms']:.2f}x | "
          f"peak project {p['peak_mib']:.0f} MiB, anchor {a['peak_mib']:.0f} MiB", flush=True)
    return med

def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--worker": return worker(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description="Benchmark COCO loading: cvat_nb against " + ANCHOR)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    if not args.files:
        ap.print_usage(sys.stderr); sys.exit(2)
    for f in args.files:
        if not f.is_file(): sys.exit(f"bench_load: no such file: {f}")
    meds = [bench_file(f, args.reps) for f in args.files]
    p_ms, a_ms = sum(m["project"]["ms"] for m in meds), sum(m["anchor"]["ms"] for m in meds)
    print(json.dumps({"bench": "load", "project_ms": round(p_ms, 1), "anchor": ANCHOR, "anchor_ms": round(a_ms, 1),
                      "speedup": round(a_ms / p_ms, 2),
                      "peak_mib": round(max(m["project"]["peak_mib"] for m in meds), 1),
                      "anchor_peak_mib": round(max(m["anchor"]["peak_mib"] for m in meds), 1),
                      "files": len(meds)}))

if __name__ == "__main__": main()
