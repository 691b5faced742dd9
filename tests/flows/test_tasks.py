"""The user-facing CVAT flows of cvat_nb, through the server's API only: log in (token, password, environment, bad
credentials, no server), find a task or a project (id, name, URL, missing, ambiguous), describe a task, create one from
a COCO file (frame order, labels, projects, refusals before anything is created), upload (replace with its backup and
manifest, append, refused before sending), download, review, and the `cvat-nb` subcommands that talk to a server."""
from __future__ import annotations
import contextlib, io, json, re, shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cvat_sdk import models

from cvat_nb.coco import Dataset
from cvat_nb.cvat import BACKUP_FORMAT, Cvat, connect, describe_task, fix_for_task, roundtrip
from cvat_nb.errors import CvatNbError
from cvat_nb.skeleton import Skeleton
from .conftest import LABELS, SAMPLE, STREET, label_ids, no_secret, sample

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

IMAGES = STREET[0].parent
FRAMES = [dict(name=p.name, width=480, height=320) for p in STREET]
TOL = 1e-3  # coordinates come back as 32-bit floats


def reordered() -> Dataset:
    "The sample with its images in a non-lexicographic order, to see that the task keeps the dataset's order."
    ds = sample()
    order = ["street_03.jpg", "street_01.jpg", "street_04.jpg", "street_02.jpg"]
    return ds.replace(images=sorted(ds.images, key=lambda im: order.index(im["file_name"])))


def box(t, points=(1.0, 1.0, 5.0, 5.0), frame=0, label="sign") -> dict:
    return dict(type="rectangle", frame=frame, label_id=label_ids(t)[label], points=list(points))


def unordered(ann:dict) -> dict:
    "Annotations as the server gave them, each list sorted: equal whatever order the server lists them in."
    key = lambda o: json.dumps(o, sort_keys=True)
    return {k: sorted(ann[k], key=key) if isinstance(ann[k], list) else ann[k] for k in ann}


def requests_sent(cv:Cvat, monkeypatch) -> list:
    "Every request `cv`'s client sends from now on, as `(method, path)`, seen from the client's side."
    rest, sent = cv.client.api_client.rest_client, []
    real = rest.request
    def record(method, url, *a, **kw):
        sent.append((method, urlsplit(url).path))
        return real(method, url, *a, **kw)
    monkeypatch.setattr(rest, "request", record)
    return sent


def changes(sent:list) -> list: return [r for r in sent if r[0] not in ("GET", "HEAD")]


def needs_password(server):
    if not (server.username and server.password):
        pytest.skip("password login: set CVAT_USERNAME and CVAT_PASSWORD (only CVAT_ACCESS_TOKEN is set)")


def needs_token(server):
    if not server.token: pytest.skip("token login: set CVAT_ACCESS_TOKEN (only CVAT_USERNAME and CVAT_PASSWORD are set)")


# ---------------------------------------------------------------------------------------------------------------
# connect

ENV = ("CVAT_URL", "CVAT_ACCESS_TOKEN", "CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ORG")


@pytest.fixture
def bare_env(monkeypatch):
    "No CVAT_* variable set: `connect` uses only what it is given."
    for k in ENV: monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_connect_with_token(server, cv, bare_env):
    needs_token(server)
    with connect(server.url, token=server.token) as c:
        assert isinstance(c, Cvat) and c.user and c.user == cv.user
        if server.username: assert c.user == server.username
        assert repr(c) == f"Cvat(url='{server.url.rstrip('/')}', user='{c.user}')"
        no_secret(server, repr(c))


def test_connect_with_password(server, bare_env):
    needs_password(server)
    with connect(server.url, username=server.username, password=server.password) as c:
        assert c.user == server.username and repr(c) == f"Cvat(url='{server.url.rstrip('/')}', user='{server.username}')"
        no_secret(server, repr(c))


@pytest.mark.parametrize("how", ["password", "token"])
def test_connect_from_environment(server, cv, bare_env, how):
    (needs_password if how == "password" else needs_token)(server)
    monkeypatch = bare_env
    monkeypatch.setenv("CVAT_URL", server.url)
    if how == "password":
        monkeypatch.setenv("CVAT_USERNAME", server.username); monkeypatch.setenv("CVAT_PASSWORD", server.password)
    else: monkeypatch.setenv("CVAT_ACCESS_TOKEN", server.token)
    with connect() as c: assert c.user == cv.user and c.url == server.url.rstrip("/")


@pytest.mark.parametrize("how", ["token", "password"])
def test_bad_credentials_one_line_without_secret(server, cv, bare_env, how):
    wrong = "bad-" + (server.token or "token") if how == "token" else (server.password or "no-such-password") + "x"
    auth = dict(token=wrong) if how == "token" else dict(username=cv.user, password=wrong)
    with pytest.raises(CvatNbError) as e: connect(server.url, **auth)
    msg = str(e.value)
    assert "\n" not in msg and "refused" in msg and wrong not in msg
    no_secret(server, msg)
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_a_user_given_in_the_call_is_not_overridden_by_a_token_in_the_environment(server, cv, bare_env):
    "With CVAT_ACCESS_TOKEN set, connect(username=, password=) logs in as that user, or fails: never with the token."
    needs_token(server)
    bare_env.setenv("CVAT_ACCESS_TOKEN", server.token)
    with pytest.raises(CvatNbError, match="refused user"): connect(server.url, username=cv.user, password="wrong-pw")
    with connect(server.url) as c: assert c.user == cv.user  # nothing given: the environment's token


def test_missing_settings_and_unreachable(bare_env):
    secret = "pat-not-sent-123"
    with pytest.raises(CvatNbError, match="CVAT_URL"): connect()
    with pytest.raises(CvatNbError, match="no credentials"): connect("http://127.0.0.1:9")
    with pytest.raises(CvatNbError, match="cannot reach") as e: connect("http://127.0.0.1:9", token=secret, retries=0)
    assert secret not in str(e.value)
    with pytest.raises(CvatNbError, match="http://"): connect("127.0.0.1:9", token=secret, retries=0)


# ---------------------------------------------------------------------------------------------------------------
# find_task, find_project, task_info, describe_task

def gone_task(made) -> int:
    "The id of a task that was there and is no more: an id no task has."
    t = made.empty_task()
    t.remove()
    return t.id


def test_find_task(cv, made, server):
    t = made.task(LABELS, STREET[:1])
    assert cv.find_task(t.id).id == t.id
    assert cv.find_task(str(t.id)).id == t.id
    assert cv.find_task(t.name).id == t.id
    assert cv.find_task(f"{server.url}/tasks/{t.id}").id == t.id
    assert cv.find_task(f"{server.url}/tasks/{t.id}/jobs/1").id == t.id
    gone = gone_task(made)
    with pytest.raises(CvatNbError, match=rf"no task {gone} "): cv.find_task(gone)


def test_find_task_missing_and_ambiguous(cv, made, name):
    first = made.empty_task(name=name)
    with pytest.raises(CvatNbError, match=rf"no task named '{re.escape(name.upper())}'.*near: '{re.escape(name)}'"):
        cv.find_task(name.upper())
    other = made.empty_task(name=name)
    with pytest.raises(CvatNbError, match=rf"2 tasks are named '{re.escape(name)}' on http:.* \(ids .*{other.id}") as e:
        cv.find_task(name)
    assert str(first.id) in str(e.value) and "pass the id" in str(e.value)


def test_find_project_by_id_name_url_missing_and_ambiguous(cv, made, server, name):
    p = made.project(LABELS, name=name)
    for ref in (p.id, str(p.id), name, f"{server.url}/projects/{p.id}"): assert cv.find_project(ref).id == p.id, ref
    with pytest.raises(CvatNbError, match=rf"no project named '{re.escape(name.upper())}'.*near: '{re.escape(name)}'"):
        cv.find_project(name.upper())
    assert [(x["id"], x["tasks"]) for x in cv.list_projects(name)] == [(p.id, 0)]
    twin = made.project(LABELS, name=name)
    with pytest.raises(CvatNbError, match=rf"2 projects are named '{re.escape(name)}'.*{twin.id}.*pass the id"):
        cv.find_project(name)
    gone = made.project(LABELS)
    gone.remove()
    with pytest.raises(CvatNbError, match=rf"no project {gone.id} "): cv.find_project(gone.id)


def test_find_task_in_a_project(cv, made, server):
    "Task names repeat across projects: the project tells them apart; a task outside it is refused."
    north, south = made.project(LABELS, name=made.name("north")), made.project(LABELS, name=made.name("south"))
    day = made.name("day 1")
    tn, ts = (made.task(name=day, project=p.id, images=STREET[:1]) for p in (north, south))
    with pytest.raises(CvatNbError, match=rf"2 tasks are named '{re.escape(day)}'.*pass the id"): cv.find_task(day)
    assert cv.find_task(day, project=south.name).id == ts.id
    assert cv.find_task(day, project=north.id).id == tn.id
    assert cv.find_task(day, project=f"{server.url}/projects/{south.id}").id == ts.id
    other = made.name("day 2")
    with pytest.raises(CvatNbError, match=rf"no task named '{re.escape(other)}' in project '{re.escape(south.name)}'"):
        cv.find_task(other, project=south.id)
    loose = made.empty_task()
    with pytest.raises(CvatNbError, match=rf"task {loose.id} .* is not in project .*in no project"):
        cv.find_task(loose.id, project=north.id)
    with pytest.raises(CvatNbError, match=rf"task {tn.id} .* is not in project .*it is in project {north.id}"):
        cv.find_task(tn.id, project=south.id)
    info = cv.task_info(day, project=south.id)
    assert (info["id"], info["project_id"], info["size"]) == (ts.id, south.id, 1)
    assert [t["id"] for t in cv.list_tasks(project=north.id)] == [tn.id]
    assert [(p["id"], p["tasks"]) for p in cv.list_projects(north.name)] == [(north.id, 1)]


def test_task_info(cv, made):
    pose = Skeleton("person", ["nose", "eye"], [("nose", "eye")])
    sk = made.task([pose.cvat_label()], STREET[:1])
    info = cv.task_info(sk.id)
    assert info["labels"] == [dict(name="person", type="skeleton", attributes=[], sublabels=["nose", "eye"],
                                   sublabel_attributes={})]
    t = made.task(LABELS, STREET)
    info = cv.task_info(t.name)
    assert info["id"] == t.id and info["name"] == t.name and info["project_id"] is None
    assert info["frames"] == FRAMES and info["size"] == 4 and len(info["jobs"]) == 1
    assert [l["name"] for l in info["labels"]] == ["car", "person", "sign"]
    assert [l["type"] for l in info["labels"]] == ["polygon", "mask", "any"]


def test_describe_task(cv, made, server):
    t = made.task(LABELS, STREET)
    lines = describe_task(cv.task_info(t.id)).splitlines()
    assert lines[0] == f"task {t.id} '{t.name}': 4 frames, 1 job  {server.url.rstrip('/')}/tasks/{t.id}"
    assert "  car (polygon)" in lines and "  person (mask)" in lines and "jobs:" in lines
    assert [l.split()[1] for l in lines if "480×320" in l] == [p.name for p in STREET]
    short = describe_task(cv.task_info(t.id), frames=2)
    assert "  … 2 more" in short and "street_04.jpg" in short and "street_02.jpg" not in short
    p = made.project(LABELS)
    inside = made.task(project=p.id, images=STREET[:1])
    assert describe_task(cv.task_info(inside.id)).startswith(f"task {inside.id} '{inside.name}' in project {p.id}: "
                                                             "1 frame, 1 job")


# ---------------------------------------------------------------------------------------------------------------
# create_task

def test_create_task_frames_in_dataset_order(cv, made, tmp_path):
    ds, nm = reordered(), made.name("street-new")
    task, path = cv.create_task(nm, ds, IMAGES, out_dir=tmp_path, progress=False)
    made.adopt(task)
    names = [im["file_name"] for im in ds.images]
    t = cv.client.tasks.retrieve(task)
    assert t.name == nm and [f.name for f in t.get_frames_info()] == names
    assert t.image_quality == 95
    assert [l["name"] for l in cv.task_info(task)["labels"]] == ["car", "person", "sign"]
    m = json.loads(Path(path).read_text())
    assert Path(path).parent == tmp_path and m["task"] == task
    assert m["frames"] == [dict(frame=i, name=n, file_name=n) for i, n in enumerate(names)]
    assert [f["name"] for f in cv.task_info(task)["frames"]] == names


def test_create_task_keeps_file_names_with_folders(cv, made, tmp_path):
    (tmp_path / "imgs/a").mkdir(parents=True)
    shutil.copy(IMAGES / "street_01.jpg", tmp_path / "imgs/a/street_01.jpg")
    shutil.copy(IMAGES / "street_02.jpg", tmp_path / "imgs/street_02.jpg")
    ds = sample().subset(["street_01.jpg", "street_02.jpg"]).rename({"street_01.jpg": "a/street_01.jpg"})
    task, path = cv.create_task(made.name("folders"), ds, tmp_path / "imgs", out_dir=tmp_path, progress=False)
    made.adopt(task)
    m = json.loads(Path(path).read_text())
    assert [(f["name"], f["file_name"]) for f in m["frames"]] == [("street_01.jpg", "a/street_01.jpg"),
                                                                   ("street_02.jpg", "street_02.jpg")]
    assert [f["name"] for f in cv.task_info(task)["frames"]] == ["street_01.jpg", "street_02.jpg"]


def test_create_task_refuses_duplicate_basenames_before_sending(cv, made, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    for d in "ab": shutil.copy(IMAGES / "street_01.jpg", tmp_path / d / "street_01.jpg")
    ds = sample().subset(["street_01.jpg", "street_02.jpg"])
    ds = ds.rename({"street_01.jpg": "a/street_01.jpg", "street_02.jpg": "b/street_01.jpg"})
    nm, sent = made.name("dup"), requests_sent(cv, monkeypatch)
    with pytest.raises(CvatNbError, match="base name"): cv.create_task(nm, ds, tmp_path, out_dir=tmp_path)
    assert changes(sent) == []  # nothing was sent that creates anything
    assert cv.list_tasks(name=nm) == []  # nothing was created
    assert not list(tmp_path.glob("*.json"))


def test_create_task_missing_image_refused(cv, made, tmp_path, monkeypatch):
    ds, nm = sample().rename({"street_04.jpg": "nowhere.jpg"}), made.name("missing")
    sent = requests_sent(cv, monkeypatch)
    with pytest.raises(CvatNbError, match="not found"): cv.create_task(nm, ds, IMAGES, out_dir=tmp_path)
    assert changes(sent) == [] and cv.list_tasks(name=nm) == []


def test_create_task_in_a_project_uses_its_labels(cv, made, tmp_path, monkeypatch):
    p = made.project(LABELS)
    nm = made.name("in project")
    task, path = cv.create_task(nm, sample(), IMAGES, out_dir=tmp_path, project=p.name, progress=False)
    made.adopt(task)
    info = cv.task_info(task)
    assert info["project_id"] == p.id and info["size"] == 4
    assert sorted(l["name"] for l in info["labels"]) == ["car", "person", "sign"]
    assert [t["id"] for t in cv.list_tasks(project=p.id)] == [task]
    bare, refused = made.project([{"name": "car"}]), made.name("refused")
    sent = requests_sent(cv, monkeypatch)
    with pytest.raises(CvatNbError, match=r"has no label for 2 categories: 'person', 'sign'.*nothing was created"):
        cv.create_task(refused, sample(), IMAGES, out_dir=tmp_path / "r", project=bare.id, progress=False)
    assert sent and changes(sent) == []  # the project's labels were read, nothing else was sent
    assert cv.list_tasks(name=refused) == [] and cv.list_tasks(project=bare.id) == []


# ---------------------------------------------------------------------------------------------------------------
# upload, download

def test_upload_replace_backup_manifest_download(server, cv, made, tmp_path):
    t = made.task(LABELS, STREET)
    t.set_annotations(models.LabeledDataRequest(shapes=[box(t)]))
    ds = sample()
    man = cv.upload(ds, t.name, out_dir=tmp_path, progress=False)
    assert len(cv.annotations(t.id)["shapes"]) == len(ds.annotations)
    assert man["task_id"] == t.id and man["mode"] == "replace" and man["format"] == "COCO 1.0"
    assert man["annotations"] == len(ds.annotations) and man["server_version"] == str(cv.client.get_server_version())
    assert man["status"] == "imported" and man["backup_format"] == BACKUP_FORMAT
    backup = Path(man["backup"])
    assert backup.parent == tmp_path and backup.exists()
    (old,) = json.loads(backup.read_text())["annotations"]["shapes"]  # the old rectangle
    assert old["type"] == "rectangle" and old["points"] == pytest.approx([1, 1, 5, 5], abs=TOL)
    written = list(tmp_path.glob(f"task{t.id}_upload_*.json"))
    assert len(written) == 1 and json.loads(written[0].read_text()) == man
    assert {p.name for p in tmp_path.iterdir()} == {backup.name, written[0].name}
    no_secret(server, written[0].read_text(), backup.read_text())
    back = cv.download(t.id, tmp_path / "out.zip", progress=False)
    assert (tmp_path / "out.zip").exists()
    assert len(back.annotations) == len(ds.annotations)
    masks = lambda d: sum(isinstance(a.get("segmentation"), dict) for a in d.annotations)
    assert masks(back) == masks(ds) > 0


def test_upload_append(cv, made, tmp_path):
    t, n = made.task(LABELS, STREET), len(sample().annotations)
    cv.upload(sample(), t.id, out_dir=tmp_path, progress=False)
    man = cv.upload(sample(), t.id, mode="append", out_dir=tmp_path, progress=False)
    assert man["mode"] == "append" and man["backup"] is None
    shapes = cv.annotations(t.id)["shapes"]
    assert len(shapes) == 2 * n
    per = {}
    for s in shapes: per[(s["frame"], s["type"])] = per.get((s["frame"], s["type"]), 0) + 1
    assert per and all(v % 2 == 0 for v in per.values())  # every object twice
    with pytest.raises(CvatNbError, match="mode must be"):
        cv.upload(sample(), t.id, mode="merge", out_dir=tmp_path, progress=False)


def test_rejected_upload_is_not_sent(cv, made, tmp_path, monkeypatch):
    t = made.task(LABELS, STREET)
    cv.upload(sample(), t.id, out_dir=tmp_path, progress=False)
    before, files = cv.annotations(t.id), set(tmp_path.iterdir())
    assert before["shapes"]
    ds = sample()
    ds.images[0]["file_name"] = "Street_01.jpg"
    sent = requests_sent(cv, monkeypatch)
    with pytest.raises(CvatNbError, match="not uploaded") as e: cv.upload(ds, t.id, out_dir=tmp_path, progress=False)
    assert "matches no frame" in str(e.value) and e.value.report.codes()["no-frame"] == 1
    assert sent and changes(sent) == []  # the task was read; no backup, no import, nothing that changes it
    assert unordered(cv.annotations(t.id)) == unordered(before)
    assert set(tmp_path.iterdir()) == files  # no backup, no manifest


def test_server_failure_becomes_error_with_hint(cv, made, tmp_path, monkeypatch):
    "A file the pre-flight would stop, let through: the server's own refusal is one line with what to do."
    import cvat_nb.cvat as m
    t = made.task(LABELS, STREET)
    monkeypatch.setattr(m, "preflight", lambda *a, **k: m.Report([]))  # let a bad file through to the server
    ds = sample()
    ds.images[0]["file_name"] = "Street_01.jpg"
    before = cv.annotations(t.id)
    with pytest.raises(CvatNbError, match=r"Could not match item id: 'Street_01'.*fix_for_task") as e:
        cv.upload(ds, t.id, out_dir=tmp_path, backup=False, progress=False)
    assert "\n" not in str(e.value)
    assert unordered(cv.annotations(t.id))["shapes"] == unordered(before)["shapes"] == []


def test_append_refused_on_a_server_without_import_mode(cv, made, standin, tmp_path, monkeypatch):
    "Needs the stand-in to claim an older version (2.60.0) than the first with import_mode."
    t = made.task(LABELS, STREET)
    monkeypatch.setattr(standin, "version", "2.60.0")
    with pytest.raises(CvatNbError, match=r"CVAT 2.60.0 .* has no import_mode=append .*nothing was sent"):
        cv.upload(sample(), t.id, out_dir=tmp_path, mode="append", progress=False)
    assert cv.annotations(t.id)["shapes"] == [] and list(tmp_path.iterdir()) == []
    assert cv.upload(sample(), t.id, out_dir=tmp_path, progress=False)["status"] == "imported"  # replace still works


def test_cvat_preflight_and_fix_round_trip(cv, made, tmp_path):
    t = made.task(LABELS, STREET)
    ds = sample().rename(lambda n: f"train/{n[:-4]}.png")
    assert cv.preflight(ds, t.id).codes()["no-frame"] == 4
    fixed, done = fix_for_task(ds, cv.task_info(t.id)["frames"])
    assert len(done) == 4 and cv.preflight(fixed, t.id).ok
    cv.upload(fixed, t.id, out_dir=tmp_path, progress=False)
    shapes = cv.annotations(t.id)["shapes"]
    assert len(shapes) == len(ds.annotations)
    assert sorted({s["frame"] for s in shapes}) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------------------------------------------
# create → upload → review

def test_create_upload_review_everything_matched(cv, made, tmp_path):
    ds = sample()
    task, _ = cv.create_task(made.name("flow"), ds, IMAGES, out_dir=tmp_path, progress=False)
    made.adopt(task)
    cv.upload(ds, task, out_dir=tmp_path, backup=False, progress=False)
    r = cv.review(task, ds)
    assert r["ok"], r["changed"]
    assert r["changed"] == [] and r["missing_images"] == []
    assert r["sent"] == r["returned"] == len(ds.annotations)
    per = {c["name"]: sum(a["category_id"] == c["id"] for a in ds.annotations) for c in ds.categories}
    assert per
    for name, n in per.items(): assert r["counts"][name]["matched"] == n, (name, r["counts"][name])
    n_masks = sum(isinstance(a["segmentation"], dict) for a in ds.annotations)
    assert n_masks and r["counts"]["person"]["masks_kept"] == n_masks
    assert not any("masks_lost" in c for c in r["counts"].values())


def test_review_sees_missing_and_lost_masks(cv, made, tmp_path):
    from cvat_nb.codecs import decode_rle, mask_to_polygons
    t, ds = made.task(LABELS, STREET), sample()
    cv.upload(ds, t.id, out_dir=tmp_path, backup=False, progress=False)
    back = cv.download(t.id, tmp_path / "back.zip", progress=False)
    mask = next(a for a in back.annotations if isinstance(a["segmentation"], dict))
    drop = next(a for a in back.annotations if not isinstance(a["segmentation"], dict))
    as_poly = {**mask, "iscrowd": 0, "segmentation": mask_to_polygons(decode_rle(mask["segmentation"])).outer}
    changed = back.replace(annotations=[as_poly if a is mask else a for a in back.annotations if a is not drop])
    r = roundtrip(ds, changed)
    assert not r["ok"]
    assert sorted(c["status"] for c in r["changed"]) == ["mask lost", "missing"]
    assert r["counts"]["person"]["masks_lost"] == 1 and r["counts"]["person"]["matched"] == 4


def test_review_sees_a_box_moved_in_cvat(cv, made, tmp_path):
    "A box moved in CVAT after the upload (by a quarter of its width: IoU 0.6) shows up in the review."
    from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
    t, ds = made.task(LABELS, STREET), sample()
    cv.upload(ds, t.id, out_dir=tmp_path, backup=False, progress=False)
    boxes = [s for s in cv.annotations(t.id)["shapes"] if s["type"] == "rectangle"]
    assert boxes
    b = min(boxes, key=lambda s: (s["frame"], s["points"]))
    x1, y1, x2, y2 = b["points"]
    moved = [x1 + (x2 - x1) / 4, y1, x2 + (x2 - x1) / 4, y2]
    t.update_annotations(models.PatchedLabeledDataRequest(shapes=[{**b, "points": moved}]),
                         action=AnnotationUpdateAction("update"))
    (now,) = [s for s in cv.annotations(t.id)["shapes"] if s["id"] == b["id"]]
    assert now["points"] == pytest.approx(moved, abs=TOL)
    r = cv.review(t.id, ds)
    (c,) = r["changed"]
    assert c["status"].startswith("moved (IoU 0.6") and c["iou"] < 0.95 and not r["ok"]
    assert c["image"] == FRAMES[b["frame"]]["name"] and c["category"] == "sign"


# ---------------------------------------------------------------------------------------------------------------
# the command line

def run(*argv):
    from cvat_nb.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_cli_tasks(cvat_env, made, name):
    street = made.task(LABELS, STREET, name=f"{name} street")
    other = made.empty_task(name=f"{name} other")
    code, out, err = run("tasks")
    assert code == 0, err
    assert f"{street.id}\t{street.name}\t4 frames" in out and f"{other.id}\t{other.name}\t" in out
    assert f"{other.name}\tno data" in out  # CONTRACT: a task without data has no `size` in the server's answer
    code, out, err = run("tasks", "--name", name)
    assert code == 0 and sorted(out.splitlines()) == sorted(f"{t.id}\t{t.name}\t{size}\tannotation"
                                                            for t, size in ((other, "no data"), (street, "4 frames")))
    code, out, err = run("tasks", "--name", street.name)
    assert code == 0 and street.name in out and other.name not in out
    no_secret(cvat_env, out, err)


def test_cli_tasks_password_login(cvat_env, made, monkeypatch):
    needs_password(cvat_env)
    t = made.task(LABELS, STREET[:1])
    monkeypatch.delenv("CVAT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("CVAT_USERNAME", cvat_env.username); monkeypatch.setenv("CVAT_PASSWORD", cvat_env.password)
    code, out, err = run("tasks", "--name", t.name)
    assert code == 0 and f"{t.id}\t{t.name}" in out, err
    no_secret(cvat_env, out, err)


def test_cli_bad_token_one_line(cvat_env, monkeypatch):
    wrong = "wrong-" + (cvat_env.token or "token")
    monkeypatch.setenv("CVAT_ACCESS_TOKEN", wrong)
    code, out, err = run("tasks")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert wrong not in out + err
    no_secret(cvat_env, out, err)


def test_cli_check(cvat_env, made, tmp_path):
    t = made.task(LABELS, STREET)
    code, out, err = run("check", SAMPLE, "--task", t.id)
    assert code == 0, out + err
    bad = sample().rename({"street_01.jpg": "train/street_01.png"})
    bad.save(tmp_path / "bad.json")
    code, out, err = run("check", tmp_path / "bad.json", "--task", t.id)
    assert code == 1 and "matches no frame" in out + err
    no_secret(cvat_env, out, err)


def test_cli_upload_and_download(cvat_env, cv, made, tmp_path):
    t, n = made.task(LABELS, STREET), len(sample().annotations)
    code, out, err = run("upload", SAMPLE, "--task", t.id, "--out-dir", tmp_path)
    assert code == 0, err
    assert len(cv.annotations(t.id)["shapes"]) == n
    assert list(tmp_path.glob(f"task{t.id}_backup_*.json")) and list(tmp_path.glob(f"task{t.id}_upload_*.json"))
    code, out, err = run("upload", SAMPLE, "--task", t.name, "--mode", "append", "--no-backup", "--out-dir", tmp_path / "b")
    assert code == 0, err
    assert f"to task {t.id} '{t.name}'" in out and "(append)" in out
    assert len(cv.annotations(t.id)["shapes"]) == 2 * n
    assert not list((tmp_path / "b").glob("*backup*"))
    code, out, err = run("download", "--task", t.id, "--out", tmp_path / "got.zip")
    assert code == 0, err
    assert len(Dataset.load(tmp_path / "got.zip").annotations) == 2 * n
    no_secret(cvat_env, out, err)


def test_cli_upload_refused(cvat_env, cv, made, tmp_path):
    t = made.task(LABELS, STREET)
    sample().rename({"street_01.jpg": "x/nope.jpg"}).save(tmp_path / "bad.json")
    code, out, err = run("upload", tmp_path / "bad.json", "--task", t.id, "--out-dir", tmp_path / "out")
    assert code == 1 and "not uploaded" in err and len(err.strip().splitlines()) == 1
    assert cv.annotations(t.id)["shapes"] == [] and not (tmp_path / "out").exists()


def test_cli_create_task(cvat_env, cv, made, tmp_path):
    nm = made.name("fresh")
    code, out, err = run("create-task", nm, SAMPLE, "--images", IMAGES, "--out-dir", tmp_path)
    for t in cv.list_tasks(name=nm): made.adopt(t["id"])  # whatever it made is deleted, even when a check fails
    assert code == 0, err
    (task,) = cv.list_tasks(name=nm)
    assert task["name"] == nm and task["size"] == 4
    assert f"created task {task['id']} '{nm}'" in out
    assert (tmp_path / f"task{task['id']}_frames.json").exists()
    assert [f["name"] for f in cv.task_info(task["id"])["frames"]] == [im["file_name"] for im in sample().images]


def test_cli_url_flag_overrides_env(cvat_env, made, monkeypatch):
    t = made.task(LABELS, STREET[:1])
    monkeypatch.setenv("CVAT_URL", "http://127.0.0.1:9")
    code, out, err = run("tasks", "--url", cvat_env.url, "--name", t.name)
    assert code == 0 and f"{t.id}\t{t.name}" in out, err
