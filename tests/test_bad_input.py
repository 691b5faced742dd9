"""Bad input must end in a clear, one-line error naming the file, or in a validation report listing the problem.

The corpus lives in `tests/bad_inputs/` (regenerate it with `python tests/bad_inputs/make_corpus.py`) and
`tests/bad_inputs/expected.json` says what must happen with each input. Cases the library gets wrong today are marked
`xfail(strict=True)` with the bug in the reason: fix the library, then delete the entry from the `*_BUGS` dict below.
"""
from __future__ import annotations
import importlib.util, json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from cvat_nb.cli import main
from cvat_nb.coco import Dataset
from cvat_nb.errors import CocoError, CvatNbError
from cvat_nb.validate import validate

BAD = Path(__file__).parent / "bad_inputs"
EXPECTED: dict = json.loads((BAD / "expected.json").read_text())
LOAD_FAILS = sorted(n for n, e in EXPECTED.items() if "stderr" in e)
REPORTS = sorted(n for n, e in EXPECTED.items() if "codes" in e)

# ---------------------------------------------------------------- known library bugs (remove an entry once fixed)

VALIDATE_BUGS: dict = {}  # `cvat-nb validate` (CLI) on these inputs
INFO_BUGS: dict = {}  # `cvat-nb info` on these inputs
API_LOAD_BUGS: dict = {}  # `Dataset.load` on these inputs

def cases(names, bugs):
    "pytest params for `names`, the ones in `bugs` marked as strict expected failures."
    return [pytest.param(n, id=n, marks=[pytest.mark.xfail(strict=True, reason=bugs[n])] if n in bugs else [])
            for n in names]

# ---------------------------------------------------------------- helpers

def argv(command, name, json_out=True):
    "Command line for case `name`, as expected.json describes it."
    e = EXPECTED[name]
    a = [command, str(BAD / name)]
    if e.get("member"): a += ["--member", e["member"]]
    if command == "validate":
        if e.get("target"): a += ["--target", e["target"]]
        if e.get("images"): a += ["--images", str(BAD / e["images"])]
    if json_out and command in ("validate", "info") and "codes" in e: a.append("--json")
    return a

def run(capsys, args):
    "Exit code, stdout and stderr of `cvat-nb ARGS` run in this process."
    capsys.readouterr()
    try: rc = main(args)
    except SystemExit as e: rc = e.code  # argparse's own exits
    out, err = capsys.readouterr()
    return rc, out, err

def assert_one_line_naming(err, name, substring):
    assert "Traceback" not in err, err
    assert err.endswith("\n") and len(err.splitlines()) == 1, f"want exactly one stderr line, got {err!r}"
    assert name in err, f"stderr does not name the file {name!r}: {err!r}"
    assert substring in err, f"stderr lacks {substring!r}: {err!r}"

# ---------------------------------------------------------------- the corpus itself

def test_corpus_is_complete():
    "At least 30 inputs; every file in the folder is a case (or the images folder a case uses), and vice versa."
    assert len(EXPECTED) >= 30
    helpers = {"make_corpus.py", "expected.json", "__pycache__"} | {e["images"] for e in EXPECTED.values()
                                                                    if "images" in e}
    on_disk = {p.name for p in BAD.iterdir()} - helpers
    assert on_disk == set(EXPECTED) - {"does_not_exist.json"}
    assert not (BAD / "does_not_exist.json").exists()
    for name, e in EXPECTED.items():
        assert e["exit"] in (0, 1) and (("stderr" in e) != ("codes" in e)), name
        if e["exit"] == 0: assert "codes" in e, name

def test_corpus_matches_its_script(tmp_path, monkeypatch):
    "make_corpus.py regenerates expected.json and every JSON input byte for byte (binary files: same names)."
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ in the corpus folder
    spec = importlib.util.spec_from_file_location("make_corpus", BAD / "make_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # main() puts the repository first
    (tmp_path / "make_corpus.py").write_text("")  # what clean() keeps
    mod.main()
    made = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()} - {Path("make_corpus.py")}
    have = {p.relative_to(BAD) for p in BAD.rglob("*") if p.is_file() and "__pycache__" not in p.parts} \
        - {Path("make_corpus.py")}
    assert made == have
    for rel in made:
        if rel.suffix == ".json": assert (tmp_path / rel).read_bytes() == (BAD / rel).read_bytes(), rel

# ---------------------------------------------------------------- files that cannot be loaded

@pytest.mark.parametrize("command,name", [
    pytest.param(c, n, id=f"{c}-{n}", marks=[pytest.mark.xfail(strict=True, reason=bugs[n])] if n in bugs else [])
    for c, bugs in (("validate", VALIDATE_BUGS), ("info", INFO_BUGS)) for n in LOAD_FAILS])
def test_cli_load_failure(capsys, command, name):
    "Exit 1, nothing on stdout, one stderr line naming the file and saying what is wrong."
    e = EXPECTED[name]
    rc, out, err = run(capsys, argv(command, name))
    assert rc == e["exit"] == 1
    assert out == ""
    assert_one_line_naming(err, name, e["stderr"])
    assert err.startswith(f"cvat-nb {command}: ")

@pytest.mark.parametrize("name", cases(LOAD_FAILS, API_LOAD_BUGS))
def test_api_load_failure(name):
    "`Dataset.load` and `validate` raise one CocoError (a CvatNbError) whose one-line str names the file."
    member = EXPECTED[name].get("member")
    for load in (lambda: Dataset.load(BAD / name, member=member),
                 lambda: validate(str(BAD / name)) if member is None else Dataset.load(str(BAD / name), member)):
        with pytest.raises(CocoError) as ei: load()
        e = ei.value
        assert isinstance(e, CvatNbError) and isinstance(e, ValueError)
        assert name in str(e) and "\n" not in str(e), str(e)
        assert name in str(e.file)

def test_invalid_utf8_location():
    raw = (BAD / "invalid_utf8.json").read_bytes()
    pos = raw.index(b"\xe9")
    line = raw.count(b"\n", 0, pos) + 1
    with pytest.raises(CocoError) as ei: Dataset.load(BAD / "invalid_utf8.json")
    msg = str(ei.value)
    assert f"byte {pos}" in msg or f"line {line}" in msg, msg

def _old_msgspec_decode(raw, *a, **k):
    "msgspec before 0.20 raised `UnicodeDecodeError` (with an offset inside the string) on bad UTF-8."
    raw.decode("utf-8")
    return json.loads(raw)

@pytest.mark.parametrize("decode", [None, _old_msgspec_decode], ids=["installed-msgspec", "msgspec-0.19-behaviour"])
def test_invalid_utf8_same_message_with_either_msgspec(monkeypatch, decode):
    "Both msgspec error types give one message with the byte's place in the file; UTF-16 files still load."
    import msgspec
    if decode is not None: monkeypatch.setattr(msgspec.json, "decode", decode)
    with pytest.raises(CocoError) as ei: Dataset.load(BAD / "invalid_utf8.json")
    assert "not valid UTF-8 text: invalid continuation byte at line 5, column 21" in str(ei.value), str(ei.value)
    assert len(Dataset.load(BAD / "utf16_powershell.json").images) == 1

# ---------------------------------------------------------------- files that load: the report

@pytest.mark.parametrize("name", cases(REPORTS, VALIDATE_BUGS))
def test_cli_report(capsys, name):
    "`validate --json` exits as expected and lists the expected problem codes; nothing on stderr."
    e = EXPECTED[name]
    rc, out, err = run(capsys, argv("validate", name))
    assert err == ""
    r = json.loads(out)
    codes = {p["code"] for p in r["problems"]}
    assert set(e["codes"]) <= codes, f"missing {set(e['codes']) - codes}; got {sorted(codes)}"
    if not e["codes"]: assert not r["problems"], r["problems"]
    assert rc == e["exit"], r["problems"]
    assert r["ok"] == (e["exit"] == 0)
    for p in r["problems"]:
        assert p["severity"] in ("error", "warning") and p["message"] and name in p["file"]
    if e["exit"] == 0:  # warning-only cases: the expected codes are warnings
        assert all(p["severity"] == "warning" for p in r["problems"])

@pytest.mark.parametrize("name", cases(REPORTS, VALIDATE_BUGS))
def test_cli_report_text(capsys, name):
    "The text report: same exit code, one line per problem naming the file, a summary line last."
    e = EXPECTED[name]
    rc, out, err = run(capsys, argv("validate", name, json_out=False))
    assert err == "" and rc == e["exit"]
    lines = out.splitlines()
    assert lines[-1].startswith(str(BAD / name)) and "(checked as" in lines[-1]
    assert all(line.startswith(("error: ", "warning: ")) and name in line for line in lines[:-1])
    assert len(lines) - 1 >= len(e["codes"])

@pytest.mark.parametrize("name", cases(REPORTS, INFO_BUGS))
def test_cli_info_loadable(capsys, name):
    "`info` counts whatever loads, however wrong its records are."
    rc, out, err = run(capsys, argv("info", name))
    assert (rc, err) == (0, "")
    s = json.loads(out)
    assert s["images"] == len(Dataset.load(BAD / name).images)

# ---------------------------------------------------------------- the real console script

CVAT_NB = Path(sys.executable).parent / "cvat-nb"

@pytest.mark.parametrize("name", ["truncated.json", "unzipped_export", "does_not_exist.json"])
def test_console_script(name):
    "The installed `cvat-nb` exits 1 with one stderr line and no traceback."
    assert CVAT_NB.exists(), f"no console script at {CVAT_NB}"
    p = subprocess.run([str(CVAT_NB), "validate", str(BAD / name)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert p.stdout == ""
    assert_one_line_naming(p.stderr, name, EXPECTED[name]["stderr"])

# ---------------------------------------------------------------- nothing half-written

def small():
    return Dataset.load(json.loads((BAD / "utf16_powershell.json").read_text("utf-16")))

def test_save_refuses_existing_file(tmp_path):
    p = tmp_path / "instances.json"
    p.write_text("old content")
    with pytest.raises(CocoError) as ei: small().save(p)
    assert "instances.json" in str(ei.value) and "overwrite" in str(ei.value)
    assert p.read_text() == "old content"
    assert [q.name for q in tmp_path.iterdir()] == ["instances.json"]

@pytest.mark.parametrize("value", [object(), 1 + 2j, Path("a.jpg")], ids=["object", "complex", "Path"])
def test_save_unserialisable_leaves_nothing(tmp_path, value):
    "A value JSON cannot hold: CocoError, and neither the file nor a temporary file appears. (A set is NOT such a "
    "value: msgspec writes it as a list.)"
    ds = small()
    ds.annotations[0]["attributes"] = {"bad": value}
    with pytest.raises(CocoError) as ei: ds.save(tmp_path / "out.json")
    assert "cannot be written as JSON" in str(ei.value)
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.json"
    old.write_text("old content")
    with pytest.raises(CocoError): ds.save(old, overwrite=True)
    assert old.read_text() == "old content"
    assert [q.name for q in tmp_path.iterdir()] == ["old.json"]

def test_save_failing_rename_leaves_old_file(tmp_path, monkeypatch):
    "The write fails at the last step (disk full, a rename refused): the old file stays whole, no temporary file."
    p = tmp_path / "out.json"
    p.write_text("old content")
    def boom(*a, **k): raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(CocoError, match="out.json: cannot be written"): small().save(p, overwrite=True)
    assert p.read_text() == "old content"
    assert [q.name for q in tmp_path.iterdir()] == ["out.json"]

def test_save_pycocotools_rle_bytes(tmp_path):
    from pycocotools import mask
    m = np.zeros((6, 8), np.uint8, order="F")
    m[1:4, 1:5] = 1
    rle = mask.encode(m)  # {'size': [6, 8], 'counts': b'...'}
    want = rle["counts"].decode("ascii")
    ds = small()
    ds.annotations[0].update(segmentation=rle, iscrowd=1)
    try: ds.save(tmp_path / "out.json")
    except CocoError: return
    back = json.loads((tmp_path / "out.json").read_text())["annotations"][0]["segmentation"]
    assert back["counts"] == want


# ---------------------------------------------------------------- keypoint layouts and attributes of any shape

HOSTILE = {"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}],
           "categories": [{"id": [1], "name": "a", "keypoints": ["x"]}, {"id": 2, "name": "x", "supercategory": ["p"]},
                          {"id": 3, "name": ["n"], "keypoints": "nose"}, {"id": 4, "name": "p", "keypoints": ["x"]}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": [1], "keypoints": ["a", 1, 2],
                            "attributes": {"big": 10 ** 400, "none": None, "list": [1]}},
                           {"id": 2, "image_id": 9, "category_id": 2, "keypoints": [1, 1, 2], "attributes": [1]},
                           {"id": 3, "image_id": 1, "category_id": 4, "keypoints": [1, 1, "v"], "bbox": [0, 0, 1, 1]}]}


def test_hostile_keypoint_layouts_and_attributes_are_reported_not_crashed():
    "Lists where names and ids belong, odd triplets and values: every check answers with problems, none raises."
    from cvat_nb.preflight import infer_attributes, preflight
    from cvat_nb.skeleton import split_merged_poses
    from cvat_nb.export import for_cvat, split_keypoints
    r = validate(HOSTILE, target="cvat")
    assert not r.ok and r.codes()["bad-type"] >= 1
    frames = [{"name": "a.jpg", "width": 4, "height": 4}]
    labels = [{"name": "p", "type": "skeleton", "sublabels": ["x"], "attributes": [{"name": "big", "input_type": "checkbox"}]}]
    assert not preflight(HOSTILE, frames, labels, "COCO Keypoints 1.0").ok
    assert infer_attributes(HOSTILE) == {}  # no category a name can be read from
    kept, notes = split_merged_poses(HOSTILE)
    assert len(kept.annotations) == 3 and notes
    split_keypoints(HOSTILE)
    for_cvat(HOSTILE)
