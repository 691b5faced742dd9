"""The demo (`cvat_nb.demo.run_demo`, `cvat-nb demo`) end to end against the CVAT stand-in, and the bundled sample
data it runs on: every output exists and is right, the CLI exits 0, and a user's mistake is one line and exit 1."""
from __future__ import annotations
import json, os, shutil, subprocess, sys, zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cvat_sdk")
from cvat_nb.coco import Dataset
from cvat_nb.convert import masks_to_coco
from cvat_nb.demo import find_samples, run_demo
from cvat_nb.errors import CvatNbError
from cvat_nb.export import check_archive
from cvat_nb.standin import StandIn
from cvat_nb.validate import validate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
CVAT_ENV = ("CVAT_URL", "CVAT_ACCESS_TOKEN", "CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ORG", "CVAT_NB_SAMPLES")


@pytest.fixture(autouse=True)
def no_cvat_env(monkeypatch):
    "A server configured in the developer's shell must not be used (or written to) by these tests."
    for k in CVAT_ENV: monkeypatch.delenv(k, raising=False)


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in CVAT_ENV}


def cli(*args, cwd=None):
    exe = Path(sys.executable).parent / "cvat-nb"
    cmd = [str(exe)] if exe.exists() else \
        [sys.executable, "-c", "import sys; from cvat_nb.cli import main; sys.exit(main())"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=clean_env(), cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    "One offline run shared by the tests that only look at its outputs."
    out, lines = tmp_path_factory.mktemp("demo") / "demo_out", []
    run = run_demo(out, offline=True, log=lines.append)
    return run, lines


# ---------------------------------------------------------------------------------------------------------------
# the bundled samples

def test_samples_are_small_and_complete():
    files = [p for p in SAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 2_000_000
    names = {p.relative_to(SAMPLES).as_posix() for p in files}
    for n in ("detections.json", "coco/person_keypoints_default.json", "coco/instances_default.json",
              "categories.csv", "README.md", "make_samples.py"):
        assert n in names, n
    for k in range(1, 5):
        for d in ("images", "masks", "instance_masks"):
            assert f"{d}/street_0{k}.{'jpg' if d == 'images' else 'png'}" in names
    assert {"people/people_01.jpg", "people/people_02.jpg"} <= names
    assert not any(n.startswith("images/") and not n.startswith("images/street_") for n in names)


def test_make_samples_writes_the_same_bytes(tmp_path):
    shutil.copy(SAMPLES / "make_samples.py", tmp_path / "make_samples.py")
    r = subprocess.run([sys.executable, str(tmp_path / "make_samples.py")], capture_output=True, text=True,
                       timeout=300, env=clean_env())
    assert r.returncode == 0, r.stderr
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    made.remove("make_samples.py")
    assert len(made) == 18
    for n in made: assert (tmp_path / n).read_bytes() == (SAMPLES / n).read_bytes(), n


def test_instance_masks_convert_one_annotation_per_object():
    conv = masks_to_coco(SAMPLES / "instance_masks", SAMPLES / "images", mode="instance",
                         semantic_dir=SAMPLES / "masks", categories=SAMPLES / "categories.csv", progress=False)
    ds = conv.dataset
    assert (len(ds.images), len(ds.annotations), conv.skipped) == (4, 16, [])
    assert [c["name"] for c in ds.categories] == ["car", "person", "sign"]
    for im in ds.images:  # two cars, a person, a sign: the same pixels as the semantic mask's classes
        sem = np.array(Image.open(SAMPLES / "masks" / im["file_name"].replace(".jpg", ".png")))
        anns = ds.anns(im["id"])
        assert sorted(a["category_id"] for a in anns) == [1, 1, 2, 3]
        for c in (1, 2, 3):
            assert sum(a["area"] for a in anns if a["category_id"] == c) == (sem == c).sum()


def test_detections_are_scored_boxes_that_cvat_accepts():
    ds = Dataset.load(SAMPLES / "detections.json")
    r = validate(ds, images_dir=SAMPLES / "images", target="cvat")
    assert r.ok and not r.warnings, str(r)
    assert [i["file_name"] for i in ds.images] == [f"street_0{k}.jpg" for k in range(1, 5)]
    assert all(a["segmentation"] == [] and 0 < a["score"] < 1 and len(a["bbox"]) == 4 for a in ds.annotations)
    assert any(a["score"] < 0.5 for a in ds.annotations)  # a false alarm to filter out by score


def test_keypoints_are_coco_people_with_outside_points():
    ds = Dataset.load(SAMPLES / "coco/person_keypoints_default.json")
    r = validate(ds, images_dir=SAMPLES / "people", target="cvat")
    assert r.ok and not r.warnings, str(r)
    person = ds.categories[0]
    assert person["name"] == "person" and len(person["keypoints"]) == 17 and len(person["skeleton"]) == 19
    assert len(ds.categories) == 1  # CONTRACT: the standard layout, the one CVAT 2.73's COCO Keypoints import reads
    vis = np.array([a["keypoints"][2::3] for a in ds.annotations])
    assert (vis == 0).any() and (vis == 1).any() and (vis == 2).any()
    for a in ds.annotations:
        kp = np.array(a["keypoints"]).reshape(-1, 3)
        assert (kp[kp[:, 2] == 0, :2] == 0).all() and a["num_keypoints"] == (kp[:, 2] > 0).sum()
    for im in ds.images: assert Image.open(SAMPLES / "people" / im["file_name"]).size == (im["width"], im["height"])


def test_find_samples():
    assert find_samples() == SAMPLES.resolve()
    assert find_samples(SAMPLES) == SAMPLES.resolve()
    with pytest.raises(CvatNbError, match="coco: is not a samples folder: no images, masks, instance_masks, categories"):
        find_samples(SAMPLES / "coco")


def test_find_samples_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CVAT_NB_SAMPLES", str(SAMPLES))
    assert find_samples() == SAMPLES.resolve()
    monkeypatch.setenv("CVAT_NB_SAMPLES", str(tmp_path))
    with pytest.raises(CvatNbError, match=r"is not a samples folder \(from \$CVAT_NB_SAMPLES\)"): find_samples()


def test_find_samples_without_a_checkout(monkeypatch, tmp_path):
    "An installed package (no repository beside it) run outside a checkout: the error says what to pass."
    import cvat_nb
    monkeypatch.setattr(cvat_nb, "__file__", str(tmp_path / "site-packages" / "cvat_nb" / "__init__.py"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CvatNbError, match="no samples folder found .* pass samples=DIR"): find_samples()
    shutil.copytree(SAMPLES, tmp_path / "samples")
    assert find_samples() == (tmp_path / "samples").resolve()  # ./samples


# ---------------------------------------------------------------------------------------------------------------
# run_demo, offline

def test_demo_prints_one_line_per_step(demo):
    run, lines = demo
    assert len(lines) == 11 and lines[0].startswith("cvat_nb demo: samples from ")
    assert [l.split(".")[0] for l in lines[1:]] == [str(n) for n in range(1, 11)]
    assert lines == [lines[0]] + run.lines
    assert "stand-in CVAT" in lines[5] and "127.0.0.1" in lines[5]
    for l in lines[1:5] + lines[7:]: assert l.split(" -> ")[-1].startswith(str(run.out_dir))


def test_demo_coco_validates(demo):
    run, _ = demo
    ds = Dataset.load(run.coco)
    assert run.coco == run.out_dir / "instances_default.json"
    r = validate(ds, images_dir=SAMPLES / "images", target="cvat")
    assert r.ok and run.validation.ok
    assert (len(ds.images), len(ds.annotations)) == (4, 16)
    assert all(isinstance(a["segmentation"], dict) for a in ds.annotations)  # RLE masks
    assert "licenses" in ds.data and "info" in ds.data
    assert "no problems found" in (run.out_dir / "validation.txt").read_text()


def test_demo_previews_are_pngs_of_the_images_size(demo):
    run, _ = demo
    assert [p.name for p in run.previews] == [f"street_0{k}.png" for k in range(1, 5)] + ["overview.png"]
    for p in run.previews[:-1]:
        with Image.open(p) as im, Image.open(SAMPLES / "images" / p.with_suffix(".jpg").name) as src:
            assert (im.format, im.size) == ("PNG", src.size)
            drawn, plain = np.asarray(im.convert("RGB")), np.asarray(src.convert("RGB"))
            assert np.abs(drawn.astype(int) - plain).mean() > 1  # the annotations are on it
    with Image.open(run.previews[-1]) as im: assert im.format == "PNG" and im.size[0] > 480


def test_demo_archive_passes_check_archive(demo):
    run, _ = demo
    assert run.archive == run.out_dir / "cvat_task.zip"
    names = zipfile.ZipFile(run.archive).namelist()
    assert "annotations/instances_default.json" in names
    assert {f"images/default/street_0{k}.jpg" for k in range(1, 5)} <= set(names)
    for name, rep, dm in check_archive(run.archive):
        assert rep.ok, str(rep)
        assert dm is None or dm == {"items": 4, "annotations": 16, "categories": 3}


def test_demo_task_upload_download_and_round_trip(demo):
    run, _ = demo
    assert run.preflight.ok and run.task_id == 1
    fm = json.loads(run.frame_map.read_text())
    assert [f["name"] for f in fm["frames"]] == [f"street_0{k}.jpg" for k in range(1, 5)]
    man = json.loads(run.manifest_path.read_text())
    assert (man["annotations"], man["images"], man["mode"]) == (16, 4, "replace") and man == run.manifest
    back = Dataset.load(run.download)
    assert (len(back.images), len(back.annotations)) == (4, 16)
    rt = json.loads(run.report.read_text())
    assert rt["ok"] and run.ok and (rt["sent"], rt["returned"]) == (16, 16)
    assert not rt["changed"] and not rt["missing_images"]
    assert all("missing" not in c and "masks_lost" not in c for c in rt["counts"].values())
    assert sum(c.get("masks_kept", 0) for c in rt["counts"].values()) == 16


def test_demo_runs_again_into_the_same_folder(demo):
    run, _ = demo
    again = run_demo(run.out_dir, offline=True, log=None)
    assert again.ok and again.lines[1:] != [] and Dataset.load(again.download).annotations


def test_demo_with_other_samples_folder(tmp_path):
    s = tmp_path / "my_samples"
    shutil.copytree(SAMPLES, s, ignore=shutil.ignore_patterns("people", "coco", "*.py", "*.md"))
    run = run_demo(tmp_path / "out", samples=s, offline=True, log=None)
    assert run.samples == s.resolve() and run.ok


def test_demo_against_a_server_url_uses_its_credentials(tmp_path, monkeypatch):
    pw = "Pw-s3cret-9"
    with StandIn(users={"ann": pw}) as srv:
        monkeypatch.setenv("CVAT_USERNAME", "ann"); monkeypatch.setenv("CVAT_PASSWORD", pw)
        lines = []
        run = run_demo(tmp_path / "out", url=srv.url, log=lines.append)
        assert run.ok and run.server == srv.url
        assert lines[5] == f"5. server: CVAT at {srv.url} as user 'ann'"
        (task,) = srv.tasks.values()
        assert task["name"].startswith("cvat_nb demo 20")  # dated, so it is told apart from earlier runs
        assert not any(pw in l for l in lines)
        assert pw not in run.manifest_path.read_text()


def test_demo_uses_cvat_url_from_the_environment_unless_offline(tmp_path, monkeypatch):
    with StandIn(users={"ann": "pw-1"}) as srv:
        for k, v in (("CVAT_URL", srv.url), ("CVAT_USERNAME", "ann"), ("CVAT_PASSWORD", "pw-1")):
            monkeypatch.setenv(k, v)
        run = run_demo(tmp_path / "a", offline=True, log=None)
        assert "stand-in" in run.lines[4] and not srv.tasks
        run = run_demo(tmp_path / "b", log=None)
        assert run.server == srv.url and len(srv.tasks) == 1


def test_demo_refuses_a_file_as_out_dir(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CvatNbError, match="is a file, not a folder"):
        run_demo(tmp_path / "f", offline=True, log=None)
    assert (tmp_path / "f").read_text() == "x"


# ---------------------------------------------------------------------------------------------------------------
# the command line

def test_cli_demo_exits_0(tmp_path):
    r = cli("demo", "--out", tmp_path / "demo_out", "--offline", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 11 and lines[-1].startswith("10. round trip: 16 sent, 16 returned, 0 lost, 0 changed")
    assert (tmp_path / "demo_out" / "roundtrip.json").exists()


def test_cli_demo_default_out_dir(tmp_path):
    r = cli("demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo_out" / "cvat_task.zip").exists()


@pytest.mark.parametrize("args, says", [
    (("--out", "FILE"), "is a file, not a folder"),
    (("--samples", "NOWHERE"), "is not a samples folder"),
    (("--url", "http://127.0.0.1:9"), "no credentials"),
    (("--bogus",), "unrecognized arguments"),
])
def test_cli_demo_user_errors_are_one_line_and_exit_1(tmp_path, args, says):
    (tmp_path / "FILE").write_text("x")
    r = cli("demo", *args, cwd=tmp_path)
    assert r.returncode == 1
    assert says in r.stderr and "Traceback" not in r.stderr
    if args[0] != "--bogus": assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
