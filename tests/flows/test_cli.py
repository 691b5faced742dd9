"""`cvat-nb`'s server commands as a user runs them, against the server the flows run on (the stand-in, or a real CVAT
with `--cvat-url`), seen only through the CLI's output and the server's API: listing projects and tasks, looking a
task up by id or by name within `--project`, `task`, `check`, `upload`, `download`, `create-task`, `restore` from a
manifest or a backup, `--timeout`/`--retries` reaching the client; every failure is exit 1 with one line on stderr,
and no secret is ever printed. (Injected faults and held imports: tests/test_cli_cvat.py.)"""
from __future__ import annotations
import contextlib, io, json, re, uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from cvat_nb.cli import main
from cvat_nb.cvat import annotation_differences, task_labels
from .conftest import LABELS, PEOPLE, POSES, PREFIX, SAMPLE, STREET, Made, label_ids, no_secret, poses, sample

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

IMAGES = STREET[0].parent
N = len(sample().annotations)  # 16 objects on 4 images


class _Tty(io.StringIO):
    "A captured stream that says it is a terminal."
    def isatty(self): return True


@pytest.fixture
def run(server):
    "Run `cvat-nb ARGS` in this process: `(exit code, stdout, stderr)`; no secret of the server's is ever printed."
    def go(*argv, tty=False):
        out, err = io.StringIO(), (_Tty() if tty else io.StringIO())
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: code = main([str(a) for a in argv])
            except SystemExit as e: code = e.code  # argparse: a usage mistake
        no_secret(server, out.getvalue(), err.getvalue())
        return code, out.getvalue(), err.getvalue()
    return go


def one_line_error(code, out, err) -> str:
    assert code == 1, (out, err)
    assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def shapes(cv, tid) -> list: return cv.annotations(tid)["shapes"]


def two_projects(made:Made, stem:str) -> dict:
    "Projects '<stem> north' and '<stem> south' with the street labels, each holding a task '<stem> day 1' of the "
    "street images."
    out = {}
    for side in ("north", "south"):
        p = made.project(LABELS, name=f"{stem} {side}")
        t = made.task(name=f"{stem} day 1", project=p.id)
        out[side] = SimpleNamespace(pid=p.id, project=p.name, tid=t.id)
    return out


@pytest.fixture(scope="module")
def shared(server, request):
    "Two projects with a task of the same name each, and a task in no project; only read by the tests using them."
    with server.connect() as cv:
        made = Made(cv, request)
        try:
            stem = f"{PREFIX} cli {uuid.uuid4().hex[:6]}"
            sides = two_projects(made, stem)
            street = made.task(name=f"{stem} street")
            yield SimpleNamespace(stem=stem, day=f"{stem} day 1", street=street.id, street_name=street.name, **sides)
        finally: made.cleanup()


# ---------------------------------------------------------------------------------------------------------------
# projects and tasks: listed, and looked up by name inside --project (task names repeat across projects)

def test_projects_and_tasks_listing(run, cvat_env, shared):
    s = shared
    code, out, err = run("projects", "--name", s.stem)
    assert code == 0, err
    assert out.splitlines() == [f"{p.pid}\t{p.project}\t1 tasks" for p in (s.south, s.north)]  # newest first
    code, out, err = run("tasks", "--project", s.north.project)
    assert code == 0, err
    assert out.splitlines() == [f"{s.north.tid}\t{s.day}\t4 frames\tannotation\tproject {s.north.pid}"]
    code, out, err = run("tasks", "--name", s.stem)
    assert code == 0, err
    assert out.splitlines() == [f"{s.street}\t{s.street_name}\t4 frames\tannotation",
                                f"{s.south.tid}\t{s.day}\t4 frames\tannotation\tproject {s.south.pid}",
                                f"{s.north.tid}\t{s.day}\t4 frames\tannotation\tproject {s.north.pid}"]
    nowhere = f"{PREFIX} nothing {uuid.uuid4().hex}"
    assert run("projects", "--name", nowhere) == (0, "", f"no projects named like '{nowhere}'\n")
    assert run("tasks", "--name", nowhere) == (0, "", f"no tasks named like '{nowhere}'\n")


def test_task_without_data_is_listed_as_such(run, cvat_env, made):
    t = made.empty_task()
    code, out, err = run("tasks", "--name", t.name)
    assert (code, out.splitlines()) == (0, [f"{t.id}\t{t.name}\tno data\t{t.status}"]), err


def test_project_lookup_errors_are_one_line(run, cvat_env, shared, tmp_path):
    s, missing = shared, f"{shared.stem} west"
    cases = [(s.day, missing, f"no project named '{missing}'"),
             (s.day, s.south.project.upper(), f"near: '{s.south.project}'"),
             (f"{s.stem} day 2", s.south.project, f"no task named '{s.stem} day 2' in project '{s.south.project}'"),
             (s.street_name, s.south.project, f"no task named '{s.street_name}' in project '{s.south.project}'")]
    for task, project, says in cases:
        err = one_line_error(*run("upload", SAMPLE, "--task", task, "--project", project, "--out-dir", tmp_path))
        assert says in err, (task, project, err)
    assert not list(tmp_path.iterdir())  # nothing was backed up or written


def test_task_id_outside_the_project_is_refused(run, cvat_env, shared, cv, tmp_path):
    s = shared
    err = one_line_error(*run("upload", SAMPLE, "--task", s.street, "--project", s.north.project,
                              "--out-dir", tmp_path))
    assert f"task {s.street} '{s.street_name}' is not in project '{s.north.project}'" in err and "in no project" in err
    err = one_line_error(*run("check", SAMPLE, "--task", s.south.tid, "--project", s.north.pid))
    assert f"is not in project '{s.north.project}'" in err and f"it is in project {s.south.pid}" in err
    assert shapes(cv, s.street) == []


def test_task_shows_labels_frames_jobs(run, cvat_env, shared):
    s = shared
    code, out, err = run("task", s.street)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"task {s.street} '{s.street_name}': 4 frames, 1 job")
    assert "  car (polygon)" in lines and "  person (mask)" in lines and "jobs:" in lines
    assert [l.split()[-2:] for l in lines if ".jpg" in l] == [[p.name, "480×320"] for p in STREET]
    code, out, err = run("task", s.day, "--project", s.south.project, "--json")
    info = json.loads(out)
    assert (code, info["id"], info["project_id"], info["size"]) == (0, s.south.tid, s.south.pid, 4)
    assert [f["name"] for f in info["frames"]] == [p.name for p in STREET]
    code, out, err = run("task", f"{cvat_env.url}/tasks/{s.street}", "--frames", "2")
    assert code == 0 and "  … 2 more" in out and "street_04.jpg" in out and "street_02.jpg" not in out, err
    err = one_line_error(*run("task", s.day))
    assert f"2 tasks are named '{s.day}'" in err and "pass the id" in err


# ---------------------------------------------------------------------------------------------------------------
# check, upload, download

def test_upload_by_task_name_needs_the_project_when_names_repeat(run, cvat_env, made, cv, tmp_path):
    stem = made.name("repeat")
    sides, day = two_projects(made, stem), f"{stem} day 1"
    err = one_line_error(*run("upload", SAMPLE, "--task", day, "--out-dir", tmp_path))
    assert f"2 tasks are named '{day}'" in err and "pass the id" in err
    code, out, err = run("upload", SAMPLE, "--task", day, "--project", sides["south"].project, "--out-dir", tmp_path)
    south, north = sides["south"], sides["north"]
    assert code == 0, err
    assert f"uploaded {N} annotations on 4 images to task {south.tid} '{day}' as COCO 1.0 (replace)" in out
    assert len(shapes(cv, south.tid)) == N and shapes(cv, north.tid) == []
    code, out, err = run("check", SAMPLE, "--task", day, "--project", north.pid)
    assert code == 0 and "no problems found" in out, out
    code, out, err = run("download", "--task", day, "--project", f"{cvat_env.url}/projects/{south.pid}",
                         "--out", tmp_path / "got.zip")
    assert code == 0 and out == f"wrote {tmp_path / 'got.zip'}: 4 images, {N} annotations\n", err


def test_upload_backs_up_and_writes_a_manifest(run, cvat_env, made, cv, tmp_path):
    t = made.task()
    code, out, err = run("upload", SAMPLE, "--task", t.id, "--out-dir", tmp_path)
    assert code == 0, err
    (mf,) = tmp_path.glob(f"task{t.id}_upload_*.json")
    (bk,) = tmp_path.glob(f"task{t.id}_backup_*.json")
    man = json.loads(mf.read_text())
    assert (man["status"], man["task_id"], man["annotations"], man["images"], man["mode"]) == \
        ("imported", t.id, N, 4, "replace")
    assert Path(man["backup"]).name == bk.name and out.rstrip().endswith(f"; backup {bk}")
    assert json.loads(bk.read_text())["annotations"]["shapes"] == []  # what the task held before: nothing
    got = shapes(cv, t.id)
    assert len(got) == N
    assert sorted(s["type"] for s in got) == sorted(["polygon"] * 8 + ["mask"] * 4 + ["rectangle"] * 4)
    code, out, err = run("upload", SAMPLE, "--task", t.name, "--out-dir", tmp_path / "app", "--mode", "append",
                         "--no-backup")
    assert code == 0 and out.rstrip().endswith("(append)"), err
    assert len(shapes(cv, t.id)) == 2 * N
    no_secret(cvat_env, mf.read_text(), bk.read_text())


def test_check_finds_what_the_task_lacks(run, cvat_env, made, tmp_path):
    t = made.task(images=STREET[:2])
    code, out, err = run("check", SAMPLE, "--task", t.id)
    assert code == 1 and "2 error(s)" in out.splitlines()[-1], out
    assert [l.split("'")[1] for l in out.splitlines() if "matches no frame of the task" in l] == \
        ["street_03.jpg", "street_04.jpg"]
    err = one_line_error(*run("upload", SAMPLE, "--task", t.id, "--out-dir", tmp_path))
    assert f"not uploaded to task {t.id}" in err


def test_no_progress_bars_when_stderr_is_not_a_terminal(run, cvat_env, made, tmp_path):
    t = made.task()
    code, out, err = run("upload", SAMPLE, "--task", t.id, "--out-dir", tmp_path)
    assert (code, err) == (0, "")
    code, out, err = run("download", "--task", t.id, "--out", tmp_path / "got.zip")
    assert (code, err) == (0, "")
    assert out == f"wrote {tmp_path / 'got.zip'}: 4 images, {N} annotations\n"


def test_progress_bars_on_a_terminal(run, cvat_env, made, tmp_path):
    t = made.task()
    code, out, err = run("download", "--task", t.id, "--out", tmp_path / "got.zip", tty=True)
    assert code == 0 and "|" in err and "%" in err, err
    assert "wrote" in out and "|" not in out


def test_upload_tells_the_format_it_chose(run, cvat_env, made, tmp_path):
    "No --format: a pose file goes as COCO Keypoints 1.0 and the result line says so; --format COCO 1.0 is refused."
    t = made.task(task_labels(poses()), PEOPLE)
    err = one_line_error(*run("upload", POSES, "--task", t.id, "--format", "COCO 1.0", "--out-dir", tmp_path))
    assert "drops SILENTLY" in err
    code, out, err = run("upload", POSES, "--task", t.id, "--out-dir", tmp_path)
    assert code == 0 and "as COCO Keypoints 1.0 (replace)" in out, err
    code, out, err = run("check", POSES, "--task", t.id)
    assert code == 0 and "COCO Keypoints 1.0" in out


# ---------------------------------------------------------------------------------------------------------------
# create-task

def test_create_task_writes_a_frame_map(run, cvat_env, made, cv, tmp_path):
    name = made.name("created")
    code, out, err = run("create-task", name, SAMPLE, "--images", IMAGES, "--out-dir", tmp_path)
    m = re.match(rf"created task (\d+) '{re.escape(name)}'; frame map (.+)$", out.strip())
    assert code == 0 and m, (out, err)
    tid = made.adopt(int(m.group(1)))
    fm = json.loads(Path(m.group(2)).read_text())
    assert fm["task"] == tid and [f["name"] for f in fm["frames"]] == [im["file_name"] for im in sample().images]
    (t,) = cv.list_tasks(name=name)
    assert (t["id"], t["size"], t["project_id"]) == (tid, 4, None)
    assert sorted(l.name for l in cv.find_task(tid).get_labels()) == ["car", "person", "sign"]


def test_create_task_in_a_project_by_name(run, cvat_env, made, cv, tmp_path):
    north = made.project(LABELS)
    name = made.name("day 2")
    code, out, err = run("create-task", name, SAMPLE, "--images", IMAGES, "--project", north.name,
                         "--out-dir", tmp_path)
    m = re.match(rf"created task (\d+) '{re.escape(name)}'", out)
    assert code == 0 and m, (out, err)
    tid = made.adopt(int(m.group(1)))
    (t,) = cv.list_tasks(name=name)
    assert (t["id"], t["project_id"], t["size"]) == (tid, north.id, len(sample().images))
    bare = made.project([{"name": "car"}])
    name3 = made.name("day 3")
    err = one_line_error(*run("create-task", name3, SAMPLE, "--images", IMAGES, "--project", bare.name,
                              "--out-dir", tmp_path))
    assert f"project '{bare.name}'" in err and "has no label for" in err and "nothing was created" in err
    assert cv.list_tasks(name=name3) == []


# ---------------------------------------------------------------------------------------------------------------
# restore

def test_restore_puts_back_what_an_upload_replaced(run, cvat_env, made, cv, tmp_path):
    t = made.task()
    assert run("upload", SAMPLE, "--task", t.id, "--out-dir", tmp_path)[0] == 0
    sent = cv.annotations(t.id)
    assert len(sent["shapes"]) == N
    code, out, err = run("upload", SAMPLE, "--task", t.id, "--out-dir", tmp_path / "2")  # backs up the first upload
    assert code == 0, err
    (mf,) = (tmp_path / "2").glob(f"task{t.id}_upload_*.json")
    (bk,) = (tmp_path / "2").glob(f"task{t.id}_backup_*.json")
    t.remove_annotations()
    assert shapes(cv, t.id) == []
    code, out, err = run("restore", mf, "--task", t.id, "--out-dir", tmp_path / "3")  # the manifest names the backup
    assert code == 0, err
    assert out.startswith(f"restored task {t.id} from {bk}: {N} shapes, 0 tags, 0 tracks, each checked")
    (kept,) = (tmp_path / "3").glob(f"task{t.id}_backup_*.json")  # the emptied state, kept before restoring
    assert f"backed up in {kept}" in out and json.loads(kept.read_text())["annotations"]["shapes"] == []
    assert annotation_differences(sent, cv.annotations(t.id)) == []  # every field, scores too; order aside
    t.remove_annotations()
    code, out, err = run("restore", bk, "--task", t.name, "--no-backup")  # the backup itself
    assert code == 0 and out == f"restored task {t.id} from {bk}: {N} shapes, 0 tags, 0 tracks, each checked " \
                                "against the backup\n", err
    assert annotation_differences(sent, cv.annotations(t.id)) == []
    err = one_line_error(*run("restore", tmp_path / "missing.json", "--task", t.id))
    assert "no backup file here" in err


def test_restore_refuses_another_tasks_backup_and_relative_paths_work(run, cvat_env, made, cv, tmp_path,
                                                                      monkeypatch):
    t, other = made.task(), made.task()
    monkeypatch.chdir(tmp_path)
    assert run("upload", SAMPLE, "--task", t.id, "--out-dir", "rel")[0] == 0
    assert run("upload", SAMPLE, "--task", t.id, "--out-dir", "rel")[0] == 0  # this one backs up the first
    mf = max((tmp_path / "rel").glob(f"task{t.id}_upload_*.json"))
    assert not Path(json.loads(mf.read_text())["backup"]).is_absolute()
    monkeypatch.chdir(tmp_path.parent)  # the manifest's relative backup path is found beside the manifest
    err = one_line_error(*run("restore", mf, "--task", other.id, "--no-backup"))
    assert f"a backup of task {t.id}, not of task {other.id}" in err and "nothing was changed" in err
    assert shapes(cv, other.id) == []
    code, out, err = run("restore", mf, "--task", other.id, "--no-backup", "--force")
    assert code == 0 and out.startswith(f"restored task {other.id} from "), err
    named = lambda task: sorted((s["type"], {v: k for k, v in label_ids(task).items()}[s["label_id"]])
                                for s in shapes(cv, task.id))
    assert len(named(other)) == N and named(other) == named(t)  # labels matched by name
    assert run("upload", SAMPLE, "--task", t.id, "--out-dir", tmp_path / "app", "--mode", "append")[0] == 0
    (app,) = (tmp_path / "app").glob(f"task{t.id}_upload_*.json")
    err = one_line_error(*run("restore", app, "--task", t.id))
    assert "names no backup" in err


# ---------------------------------------------------------------------------------------------------------------
# connection options and credentials

def test_timeout_and_retries_reach_the_client(run, cvat_env, made, monkeypatch):
    import cvat_nb.cvat
    made_here, real = [], cvat_nb.cvat.connect
    def spy(*a, **kw):
        made_here.append(real(*a, **kw))
        return made_here[-1]
    monkeypatch.setattr(cvat_nb.cvat, "connect", spy)
    t = made.empty_task()
    for argv, timeout, retries in ((("--timeout", "7.5", "--retries", "1"), 7.5, 1), ((), 60.0, 3),
                                   (("--retries", "0"), 60.0, 0)):
        code, out, err = run("tasks", "--name", t.name, *argv)
        assert code == 0 and out.startswith(f"{t.id}\t"), err
        c = made_here.pop()
        rest, policy = c.client.api_client.rest_client, c.client.api_client.configuration.retries
        assert (c.timeout, c.retries, rest.timeout) == (timeout, retries, timeout)
        assert (policy.connect, policy.read, policy.status) == (retries,) * 3


def test_unreachable_server_one_line(run, cvat_env, monkeypatch):
    monkeypatch.setenv("CVAT_URL", "http://127.0.0.1:9")
    err = one_line_error(*run("tasks", "--retries", "0", "--timeout", "2"))
    assert "cannot reach CVAT at http://127.0.0.1:9" in err


def test_wrong_token_one_line(run, cvat_env, monkeypatch):
    bad = f"not-a-token-{uuid.uuid4().hex}"
    for k in ("CVAT_USERNAME", "CVAT_PASSWORD"): monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", bad)
    err = one_line_error(*run("tasks"))
    assert f"CVAT at {cvat_env.url} refused the access token" in err and bad not in err


def test_missing_task_one_line(run, cvat_env, made, cv, tmp_path):
    gone = made.empty_task()
    cv.client.tasks.remove_by_ids([gone.id])
    for argv in (("task", gone.id), ("upload", SAMPLE, "--task", gone.id, "--out-dir", tmp_path),
                 ("download", "--task", gone.id, "--out", tmp_path / "x.zip"), ("check", SAMPLE, "--task", gone.id)):
        err = one_line_error(*run(*argv))
        assert f"no task {gone.id} on {cvat_env.url}" in err, (argv, err)
    err = one_line_error(*run("upload", SAMPLE, "--task", gone.name, "--out-dir", tmp_path))
    assert f"no task named '{gone.name}' on {cvat_env.url}" in err
    assert not list(tmp_path.iterdir())


def test_missing_password_not_interactive_one_line(run, cvat_env, monkeypatch):
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("CVAT_PASSWORD", raising=False)
    monkeypatch.setenv("CVAT_USERNAME", cvat_env.username or "someone")
    err = one_line_error(*run("tasks"))
    assert "CVAT_PASSWORD" in err and "not interactive" in err


@pytest.fixture
def password_env(cvat_env, monkeypatch):
    "CVAT_USERNAME and CVAT_PASSWORD, no token; skipped against a real server not given a password."
    if not (cvat_env.username and cvat_env.password):
        pytest.skip("password login: set CVAT_USERNAME and CVAT_PASSWORD (with --cvat-url) to run it")
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("CVAT_USERNAME", cvat_env.username)
    monkeypatch.setenv("CVAT_PASSWORD", cvat_env.password)
    return cvat_env


def test_terminal_run_asks_for_the_password_without_echo(run, password_env, made, monkeypatch):
    import getpass, sys
    t = made.empty_task()
    monkeypatch.delenv("CVAT_PASSWORD")
    monkeypatch.setattr(sys, "stdin", _Tty())
    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": asked.append(prompt) or password_env.password)
    code, out, err = run("tasks", "--name", t.name)
    assert code == 0 and out.startswith(f"{t.id}\t{t.name}\t"), err
    assert len(asked) == 1 and password_env.username in asked[0] and password_env.url in asked[0]
    no_secret(password_env, asked[0])


def test_wrong_password_one_line(run, password_env, monkeypatch):
    monkeypatch.setenv("CVAT_PASSWORD", password_env.password + "x")
    err = one_line_error(*run("tasks"))
    assert f"refused user '{password_env.username}' and its password" in err
    assert password_env.password + "x" not in err
