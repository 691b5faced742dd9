"""`cvat-nb demo` against the server the flows run on (the stand-in, or a real CVAT with `--cvat-url`), given as a
user gives it: `CVAT_URL` and a token, or `--url` and a user name and password. Every count it prints is checked, what
it made is looked at through the server's API and deleted, and `--offline` leaves the server alone. (The demo's
offline outputs, and the demo against a stand-in seen from inside: tests/test_demo.py.)"""
from __future__ import annotations
import json, os, re, subprocess, sys
from pathlib import Path

import pytest

from .conftest import no_secret

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TASK_LINE = re.compile(r"^7\. task (\d+) '(cvat_nb demo [^']*)' created with 4 images; frame map -> ")


def demo(*args, cwd) -> subprocess.CompletedProcess:
    "Run `cvat-nb demo ARGS` in its own process, with this process's environment (`cvat_env` sets it)."
    exe = Path(sys.executable).parent / "cvat-nb"
    cmd = [str(exe)] if exe.exists() else \
        [sys.executable, "-c", "import sys; from cvat_nb.cli import main; sys.exit(main())"]
    env = {k: v for k, v in os.environ.items() if k != "CVAT_NB_SAMPLES"}
    return subprocess.run(cmd + ["demo", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def made_task(r, made) -> tuple:
    "The id and name of the task the demo reports it made, adopted (deleted when the test ends, whatever happens)."
    hits = [m for m in map(TASK_LINE.match, r.stdout.splitlines()) if m]
    assert len(hits) == 1, (r.stdout, r.stderr)
    return made.adopt(int(hits[0].group(1))), hits[0].group(2)


def check_run(r, server, user:str, out:Path, cv, made):
    "Exit 0, eleven lines with the right counts, the task on the server as reported; then it is deleted."
    tid, name = made_task(r, made)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 11 and lines[0].startswith("cvat_nb demo: samples from ")
    assert [l.split(".")[0] for l in lines[1:]] == [str(n) for n in range(1, 11)]
    assert lines[1].startswith("1. masks -> COCO: 16 objects as RLE masks on 4 images -> ")
    assert lines[5] == f"5. server: CVAT at {cv.url} as user '{user}'"
    assert re.fullmatch(r"cvat_nb demo \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", name)  # dated: told apart from earlier runs
    assert lines[8].startswith("8. upload: 16 annotations on 4 images as COCO 1.0 (replace); manifest -> ")
    assert lines[9].startswith(f"9. download: 16 annotations on 4 images -> {out / 'task'}")
    assert lines[10].startswith("10. round trip: 16 sent, 16 returned, 0 lost, 0 changed, 16 masks kept as masks -> ")
    no_secret(server, r.stdout, r.stderr, *(p.read_text() for p in (out / "task").glob("*.json")))
    man = json.loads(next((out / "task").glob(f"task{tid}_upload_*.json")).read_text())
    assert (man["task_id"], man["task_name"], man["annotations"], man["status"]) == (tid, name, 16, "imported")

    assert [(t["id"], t["size"]) for t in cv.list_tasks(name=name) if t["id"] == tid] == [(tid, 4)]
    got = cv.annotations(tid)["shapes"]
    assert len(got) == 16 and {s["type"] for s in got} == {"mask"}  # the demo sends every object as an RLE mask
    frames = cv.task_info(tid)["frames"]
    assert [(f["name"], f["width"], f["height"]) for f in frames] == [(f"street_0{k}.jpg", 480, 320)
                                                                     for k in range(1, 5)]
    cv.client.tasks.remove_by_ids([tid])  # what the demo made is deleted, and gone
    assert [t for t in cv.list_tasks(name=name) if t["id"] == tid] == []


def test_demo_against_the_server_in_cvat_url(cvat_env, cv, made, tmp_path):
    r = demo("--out", tmp_path / "out", cwd=tmp_path)
    check_run(r, cvat_env, cv.user, tmp_path / "out", cv, made)
    rt = json.loads((tmp_path / "out" / "roundtrip.json").read_text())
    assert rt["ok"] and (rt["sent"], rt["returned"]) == (16, 16) and not rt["changed"]


def test_demo_with_url_and_a_password(cvat_env, cv, made, tmp_path, monkeypatch):
    if not (cvat_env.username and cvat_env.password):
        pytest.skip("password login: set CVAT_USERNAME and CVAT_PASSWORD (with --cvat-url) to run it")
    for k in ("CVAT_URL", "CVAT_ACCESS_TOKEN"): monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CVAT_USERNAME", cvat_env.username)
    monkeypatch.setenv("CVAT_PASSWORD", cvat_env.password)
    r = demo("--out", tmp_path / "out", "--url", cvat_env.url, "--retries", "1", cwd=tmp_path)
    check_run(r, cvat_env, cvat_env.username, tmp_path / "out", cv, made)


@pytest.mark.parametrize("creds", ["password", "token"])  # a token in the environment once beat the demo's own login
def test_demo_offline_leaves_the_server_in_cvat_url_alone(cvat_env, cv, tmp_path, monkeypatch, creds):
    "`--offline` uses a stand-in of its own even with CVAT_URL and credentials set: nothing is made on the server."
    for k in ("CVAT_ACCESS_TOKEN", "CVAT_USERNAME", "CVAT_PASSWORD"): monkeypatch.delenv(k, raising=False)
    if creds == "token": monkeypatch.setenv("CVAT_ACCESS_TOKEN", "a-token-of-the-users-own-server")
    else: monkeypatch.setenv("CVAT_USERNAME", "someone"); monkeypatch.setenv("CVAT_PASSWORD", "a-password-of-theirs")
    offline = lambda: {t["id"] for t in cv.list_tasks(name="cvat_nb demo")}  # dated (a server) or not (a stand-in)
    before = offline()
    r = demo("--out", tmp_path / "out", "--offline", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 11 and lines[5].startswith("5. server: stand-in CVAT ") and cv.url not in r.stdout
    assert lines[10].startswith("10. round trip: 16 sent, 16 returned, 0 lost, 0 changed")
    assert TASK_LINE.match(lines[7]) is None and lines[7].startswith("7. task 1 'cvat_nb demo' created")
    assert offline() == before
