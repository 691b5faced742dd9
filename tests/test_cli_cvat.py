"""`cvat-nb`'s server options against a started stand-in with the real cvat-sdk, where a test needs the stand-in's
insides: `--timeout` and `--retries` reach the client (injected 503s, 500s and slow answers), `upload --wait` waits
for an import already running (held imports); the options are parsed and the password prompt is documented; every
failure is exit 1 with one line on stderr and no secret printed. The flows a real server can produce too (listing,
lookups, check, upload, download, create-task, restore, credentials) are in tests/flows/test_cli.py."""
from __future__ import annotations
import contextlib, io, json, threading, time, urllib.request, uuid
from pathlib import Path

import pytest

pytest.importorskip("cvat_sdk")
from cvat_nb.cli import main, parser
from cvat_nb.coco import Dataset
from cvat_nb.standin import StandIn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples/coco/instances_default.json"
USER, PASSWORD, TOKEN = "django", "Pw-s3cret-9", "pat-s3cret-123"
LABELS = [{"name": "car", "type": "polygon"}, {"name": "person", "type": "mask"}, {"name": "sign", "type": "any"}]
FRAMES = [dict(name=f"street_0{i}.jpg", width=480, height=320) for i in range(1, 5)]
SERVER_COMMANDS = ("projects", "tasks", "task", "restore", "check", "upload", "download", "create-task", "demo")


@pytest.fixture
def server(monkeypatch):
    with StandIn(users={USER: PASSWORD}, tokens={TOKEN: USER}) as s:
        monkeypatch.setenv("CVAT_URL", s.url)
        monkeypatch.setenv("CVAT_ACCESS_TOKEN", TOKEN)
        for k in ("CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ORG"): monkeypatch.delenv(k, raising=False)
        yield s


@pytest.fixture
def tid(server):
    t = server.add_task("street", LABELS)
    server.add_frames(t, FRAMES)
    return t


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = main([str(a) for a in argv])
        except SystemExit as e: code = e.code  # argparse: a usage mistake
    return code, out.getvalue(), err.getvalue()


def one_line_error(code, out, err):
    assert code == 1, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    no_secret(out, err)
    return err


def no_secret(*texts):
    for t in texts: assert TOKEN not in t and PASSWORD not in t


# ---------------------------------------------------------------------------------------------------------------
# the options are there, and parsed

@pytest.mark.parametrize("name", SERVER_COMMANDS)
def test_server_commands_take_timeout_and_retries(name):
    extra = {"projects": [], "tasks": [], "task": ["1"], "restore": ["b.json", "--task", "1"], "check": ["f.json", "--task", "1"], "upload": ["f.json", "--task", "1"],
             "download": ["--task", "1", "--out", "x.zip"], "create-task": ["n", "f.json", "--images", "i"],
             "demo": []}[name]
    a = parser().parse_args([name, *extra])
    assert (a.timeout, a.retries) == (60.0, 3)
    a = parser().parse_args([name, *extra, "--timeout", "2.5", "--retries", "0"])
    assert (a.timeout, a.retries) == (2.5, 0)


@pytest.mark.parametrize("flag,value", [("--timeout", "0"), ("--timeout", "soon"), ("--retries", "-1"),
                                        ("--retries", "two"), ("--wait", "-5"), ("--format", "YOLO 1.1")])
def test_bad_option_values_exit_1(flag, value):
    code, out, err = run("upload", "f.json", "--task", "1", flag, value)
    assert code == 1 and out == "" and f"argument {flag}" in err and "Traceback" not in err


def test_help_documents_options_and_password_prompt():
    for name in SERVER_COMMANDS:
        with contextlib.redirect_stdout(io.StringIO()) as o, pytest.raises(SystemExit):
            main([name, "--help"])
        text = " ".join(o.getvalue().split())
        assert "--timeout" in text and "--retries" in text and "without echo" in text, name
    with contextlib.redirect_stdout(io.StringIO()) as o, pytest.raises(SystemExit): main(["upload", "--help"])
    assert "--wait" in o.getvalue()


def test_demo_passes_timeout_and_retries(monkeypatch, tmp_path):
    import cvat_nb.demo
    seen = {}
    class Run: ok = True
    def fake(out_dir, **kw): seen.update(kw); return Run()
    monkeypatch.setattr(cvat_nb.demo, "run_demo", fake)
    assert run("demo", "--out", tmp_path, "--offline", "--timeout", "7", "--retries", "1")[0] == 0
    assert (seen["timeout"], seen["retries"], seen["offline"]) == (7.0, 1, True)


# ---------------------------------------------------------------------------------------------------------------
# the options reach the client

def test_retries_zero_fails_at_once_on_503(server, tid):
    rule = server.faults.add("GET", r"^/api/tasks$", status=503, times=1)
    err = one_line_error(*run("tasks", "--retries", "0"))
    assert rule["hits"] == 1 and "503" in err and "listing tasks" in err and "retried 0 times" in err


def test_default_retries_recover_from_one_503(server, tid):
    rule = server.faults.add("GET", r"^/api/tasks$", status=503, times=1)
    code, out, err = run("tasks")
    assert code == 0 and "street" in out, err
    assert rule["hits"] == 1
    no_secret(out, err)


def test_retries_are_counted(server, tid):
    "`--retries 2` sends a failing read three times, then gives up; a third 503 is never seen with `--retries 3`."
    rule = server.faults.add("GET", r"^/api/tasks$", status=503, times=5, headers={"Retry-After": "0"})
    one_line_error(*run("tasks", "--retries", "2"))
    assert rule["hits"] == 3
    server.faults.clear()
    rule = server.faults.add("GET", r"^/api/tasks$", status=503, times=3, headers={"Retry-After": "0"})
    assert run("tasks", "--retries", "3")[0] == 0 and rule["hits"] == 3


def test_timeout_reaches_client(server, tid):
    server.faults.add("GET", r"^/api/tasks$", status=None, delay=3.0, times=1)
    start = time.monotonic()
    err = one_line_error(*run("tasks", "--timeout", "0.5", "--retries", "0"))
    assert time.monotonic() - start < 2.5 and "within 0.5 s" in err


def test_timeout_then_retry_succeeds(server, tid):
    server.faults.add("GET", r"^/api/tasks$", status=None, delay=3.0, times=1)
    code, out, err = run("tasks", "--timeout", "0.5", "--retries", "1")
    assert code == 0 and "street" in out, err


def test_password_login_errors_print_no_password(server, tid, monkeypatch):
    "A 500 after a password login: one line, no password. (A wrong password: tests/flows/test_cli.py.)"
    monkeypatch.delenv("CVAT_ACCESS_TOKEN")
    monkeypatch.setenv("CVAT_USERNAME", USER)
    monkeypatch.setenv("CVAT_PASSWORD", PASSWORD)
    server.faults.add("GET", r"^/api/tasks$", status=500, times=1)
    err = one_line_error(*run("tasks", "--retries", "0"))
    assert "500" in err


# ---------------------------------------------------------------------------------------------------------------
# upload --wait

def _held_import(server, task_id:int) -> str:
    "Start an import that stays queued (one-request multipart flow); its request id."
    server.hold_imports = True
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"annotation_file\"; filename=\"a.json\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + SAMPLE.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    rq = urllib.request.Request(f"{server.url}/api/tasks/{task_id}/annotations?format=COCO%201.0", data=body,
                                method="POST", headers={"Authorization": f"Bearer {TOKEN}",
                                                        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(rq) as r:
        assert r.status == 202
        return json.loads(r.read())["rq_id"]


def test_upload_refused_while_an_import_runs(server, tid, tmp_path):
    rq = _held_import(server, tid)
    err = one_line_error(*run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path, "--no-backup"))
    assert "already running" in err and rq in err and "--wait SECONDS" in err
    server.release_imports("finished")


def test_upload_wait_waits_then_imports(server, tid, tmp_path):
    rq = _held_import(server, tid)
    threading.Timer(1.5, server.release_imports, ("finished",)).start()
    start = time.monotonic()
    code, out, err = run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path, "--wait", "30")
    assert code == 0, err
    assert time.monotonic() - start >= 1.0
    (mf,) = tmp_path.glob(f"task{tid}_upload_*.json")
    man = json.loads(mf.read_text())
    assert man["status"] == "imported" and man["waited_for"] == rq
    assert len(server.annotations(tid)["shapes"]) == len(Dataset.load(SAMPLE).annotations)
    no_secret(out, err)


def test_upload_wait_gives_up(server, tid, tmp_path):
    _held_import(server, tid)
    start = time.monotonic()
    err = one_line_error(*run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path, "--no-backup", "--wait", "1"))
    assert "still" in err and "after 1 s" in err and time.monotonic() - start < 10
    server.release_imports("finished")
