"""`cvat-nb`'s server options against a started stand-in with the real cvat-sdk: `--timeout` and `--retries` reach the
client, `upload --wait` waits for an import already running, progress bars appear only on a terminal, the password
prompt is documented; every failure is exit 1 with one line on stderr and no secret printed."""
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


class _Tty(io.StringIO):
    "A captured stream that says it is a terminal."
    def isatty(self): return True


def run(*argv, tty=False):
    out, err = io.StringIO(), (_Tty() if tty else io.StringIO())
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
    extra = {"projects": [], "tasks": [], "task": ["1"], "restore": ["b.zip", "--task", "1"], "check": ["f.json", "--task", "1"], "upload": ["f.json", "--task", "1"],
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


def test_unreachable_server_one_line(server, monkeypatch):
    monkeypatch.setenv("CVAT_URL", "http://127.0.0.1:9")
    err = one_line_error(*run("tasks", "--retries", "0", "--timeout", "2"))
    assert "cannot reach CVAT at http://127.0.0.1:9" in err


def test_missing_password_not_interactive_one_line(server, monkeypatch):
    monkeypatch.delenv("CVAT_ACCESS_TOKEN")
    monkeypatch.setenv("CVAT_USERNAME", USER)
    err = one_line_error(*run("tasks"))
    assert "CVAT_PASSWORD" in err and "not interactive" in err


def test_terminal_run_asks_for_the_password_without_echo(server, tid, monkeypatch):
    import getpass, sys
    monkeypatch.delenv("CVAT_ACCESS_TOKEN")
    monkeypatch.setenv("CVAT_USERNAME", USER)
    monkeypatch.setattr(sys, "stdin", _Tty())
    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": asked.append(prompt) or PASSWORD)
    code, out, err = run("tasks")
    assert code == 0 and "street" in out, err
    assert len(asked) == 1 and USER in asked[0] and server.url in asked[0]
    no_secret(out, err, asked[0])


def test_password_login_errors_print_no_password(server, tid, monkeypatch):
    monkeypatch.delenv("CVAT_ACCESS_TOKEN")
    monkeypatch.setenv("CVAT_USERNAME", USER)
    monkeypatch.setenv("CVAT_PASSWORD", PASSWORD)
    server.faults.add("GET", r"^/api/tasks$", status=500, times=1)
    err = one_line_error(*run("tasks", "--retries", "0"))
    assert "500" in err
    monkeypatch.setenv("CVAT_PASSWORD", PASSWORD + "x")
    one_line_error(*run("tasks"))


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


# ---------------------------------------------------------------------------------------------------------------
# progress bars only on a terminal

def test_no_progress_bars_when_stderr_is_not_a_terminal(server, tid, tmp_path):
    code, out, err = run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path)
    assert (code, err) == (0, "")
    code, out, err = run("download", "--task", tid, "--out", tmp_path / "got.zip")
    assert (code, err) == (0, "")
    assert f"wrote {tmp_path / 'got.zip'}" in out


def test_progress_bars_on_a_terminal(server, tid, tmp_path):
    code, out, err = run("download", "--task", tid, "--out", tmp_path / "got.zip", tty=True)
    assert code == 0 and "|" in err and "%" in err, err
    assert "wrote" in out and "|" not in out


# ---------------------------------------------------------------------------------------------------------------
# projects: a task name is looked up inside --project; task names repeat across projects

@pytest.fixture
def two_projects(server):
    "Projects 'north' and 'south' with the street labels, each holding a task named 'day 1' with the street frames."
    out = {}
    for name in ("north", "south"):
        pid = server.add_project(name, LABELS)
        t = server.add_task("day 1", [], project_id=pid)
        server.add_frames(t, FRAMES)
        out[name] = (pid, t)
    return out


def test_projects_and_tasks_listing(server, two_projects):
    code, out, err = run("projects")
    assert code == 0 and out.splitlines() == [f"{two_projects[n][0]}\t{n}\t1 tasks" for n in ("south", "north")]
    code, out, err = run("tasks", "--project", "north")
    assert code == 0 and out.splitlines() == [f"{two_projects['north'][1]}\tday 1\t4 frames\tannotation\tproject "
                                              f"{two_projects['north'][0]}"]
    code, out, err = run("projects", "--name", "east")
    assert (code, out, err.strip()) == (0, "", "no projects named like 'east'")


def test_upload_by_task_name_needs_the_project_when_names_repeat(server, two_projects, tmp_path):
    err = one_line_error(*run("upload", SAMPLE, "--task", "day 1", "--out-dir", tmp_path))
    assert "2 tasks are named 'day 1'" in err and "pass the id" in err
    code, out, err = run("upload", SAMPLE, "--task", "day 1", "--project", "south", "--out-dir", tmp_path)
    assert code == 0, err
    south, north = two_projects["south"][1], two_projects["north"][1]
    assert f"to task {south} 'day 1'" in out
    assert len(server.annotations(south)["shapes"]) == len(Dataset.load(SAMPLE).annotations)
    assert server.annotations(north)["shapes"] == []
    code, out, err = run("check", SAMPLE, "--task", "day 1", "--project", two_projects["north"][0])
    assert code == 0 and "no problems found" in out, out
    code, out, err = run("download", "--task", "day 1", "--project", f"{server.url}/projects/{two_projects['south'][0]}",
                         "--out", tmp_path / "got.zip")
    assert code == 0 and f"{len(Dataset.load(SAMPLE).annotations)} annotations" in out, err


@pytest.mark.parametrize("task,project,says", [
    ("day 1", "west", "no project named 'west'"),
    ("day 1", "South", "near: 'south'"),
    ("day 2", "south", "no task named 'day 2' in project 'south'"),
    ("street", "south", "no task named 'street' in project 'south'"),
])
def test_project_lookup_errors_are_one_line(server, two_projects, tid, tmp_path, task, project, says):
    err = one_line_error(*run("upload", SAMPLE, "--task", task, "--project", project, "--out-dir", tmp_path))
    assert says in err, err


def test_task_id_outside_the_project_is_refused(server, two_projects, tid, tmp_path):
    err = one_line_error(*run("upload", SAMPLE, "--task", tid, "--project", "north", "--out-dir", tmp_path))
    assert f"task {tid} 'street' is not in project 'north'" in err and "in no project" in err
    assert server.annotations(tid)["shapes"] == []


def test_create_task_in_a_project_by_name(server, two_projects, tmp_path):
    code, out, err = run("create-task", "day 2", SAMPLE, "--images", REPO / "samples/images", "--project", "north",
                         "--out-dir", tmp_path)
    assert code == 0, err
    (t,) = [t for t in server.tasks.values() if t["name"] == "day 2"]
    assert t["project_id"] == two_projects["north"][0] and len(t["frames"]) == len(Dataset.load(SAMPLE).images)
    server.add_project("bare", [{"name": "car"}])
    err = one_line_error(*run("create-task", "day 3", SAMPLE, "--images", REPO / "samples/images", "--project", "bare",
                              "--out-dir", tmp_path))
    assert "project 'bare'" in err and "has no label for" in err and "nothing was created" in err
    assert not [t for t in server.tasks.values() if t["name"] == "day 3"]


def test_task_shows_labels_frames_jobs(server, two_projects, tid):
    code, out, err = run("task", tid)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"task {tid} 'street': 4 frames, 1 job")
    assert "  car (polygon)" in lines and "  street_01.jpg  480×320" in out and "jobs:" in lines
    code, out, err = run("task", "day 1", "--project", "south", "--json")
    info = json.loads(out)
    assert (code, info["id"], info["project_id"]) == (0, two_projects["south"][1], two_projects["south"][0])
    assert [f["name"] for f in info["frames"]] == [f["name"] for f in FRAMES]
    code, out, err = run("task", tid, "--frames", "2")
    assert "  … 2 more" in out and "street_04.jpg" in out and "street_02.jpg" not in out
    err = one_line_error(*run("task", "day 1"))
    assert "2 tasks are named 'day 1'" in err


def test_upload_tells_the_format_it_chose(server, tmp_path):
    "No --format: a pose file goes as COCO Keypoints 1.0 and the result line says so; --format COCO 1.0 is refused."
    poses = REPO / "samples/coco/person_keypoints_default.json"
    from cvat_nb.cvat import task_labels
    ds = Dataset.load(poses)
    t = server.add_task("poses", task_labels(ds))
    server.add_frames(t, [dict(name=im["file_name"], width=im["width"], height=im["height"]) for im in ds.images])
    err = one_line_error(*run("upload", poses, "--task", t, "--format", "COCO 1.0", "--out-dir", tmp_path))
    assert "drops SILENTLY" in err
    code, out, err = run("upload", poses, "--task", t, "--out-dir", tmp_path)
    assert code == 0 and "as COCO Keypoints 1.0 (replace)" in out, err
    code, out, err = run("check", poses, "--task", t)
    assert code == 0 and "COCO Keypoints 1.0" in out


def test_restore_puts_back_what_an_upload_replaced(server, tid, tmp_path):
    code, out, err = run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path)
    assert code == 0, err
    sent = server.annotations(tid)["shapes"]
    code, out, err = run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path / "2")  # backs up the first upload
    (mf,) = (tmp_path / "2").glob(f"task{tid}_upload_*.json")
    server.set_shapes(tid, [])
    code, out, err = run("restore", mf, "--task", tid, "--out-dir", tmp_path / "3")
    assert code == 0 and out.strip().startswith(f"restored task {tid} from {mf}"), err
    assert list((tmp_path / "3").glob(f"task{tid}_backup_*.zip"))  # the emptied state, kept before restoring
    strip = lambda xs: [{k: v for k, v in x.items() if k not in ("id", "score")} for x in xs]  # XML has no scores
    assert strip(server.annotations(tid)["shapes"]) == strip(sent)
    err = one_line_error(*run("restore", tmp_path / "missing.zip", "--task", tid))
    assert "no backup file here" in err


def test_restore_refuses_another_tasks_backup_and_relative_paths_work(server, tid, tmp_path, monkeypatch):
    other = server.add_task("other", LABELS)
    server.add_frames(other, FRAMES)
    monkeypatch.chdir(tmp_path)
    assert run("upload", SAMPLE, "--task", tid, "--out-dir", "rel")[0] == 0
    assert run("upload", SAMPLE, "--task", tid, "--out-dir", "rel")[0] == 0  # this one backs up the first
    mf = sorted((tmp_path / "rel").glob(f"task{tid}_upload_*.json"))[-1]
    monkeypatch.chdir(tmp_path.parent)  # the manifest's relative backup path is found beside the manifest
    err = one_line_error(*run("restore", mf, "--task", other, "--no-backup"))
    assert f"a backup of task {tid}, not of task {other}" in err and "nothing was changed" in err
    assert server.annotations(other)["shapes"] == []
    code, out, err = run("restore", mf, "--task", other, "--no-backup", "--force")
    assert code == 0 and len(server.annotations(other)["shapes"]) == len(Dataset.load(SAMPLE).annotations), err
    assert run("upload", SAMPLE, "--task", tid, "--out-dir", tmp_path / "app", "--mode", "append")[0] == 0
    (app,) = (tmp_path / "app").glob(f"task{tid}_upload_*.json")
    err = one_line_error(*run("restore", app, "--task", tid))
    assert "names no backup" in err
