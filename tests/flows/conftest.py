"""What every CVAT flow test stands on: a server, reached only through its API.

By default that server is the stand-in (`cvat_nb.standin`), started once for the session. With `--cvat-url URL` it
is the server at URL (credentials from `CVAT_ACCESS_TOKEN`, or `CVAT_USERNAME` and `CVAT_PASSWORD`): each test makes
its own uniquely named tasks and projects and deletes them afterwards, and the session deletes whatever is left with
its name prefix. A test that needs the stand-in's insides asks for the `standin` fixture and is skipped against a
real server; tests here never read the stand-in's state otherwise.
"""
from __future__ import annotations
import json, os, uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("cvat_sdk")
from cvat_sdk import models
from cvat_nb.coco import Dataset
from cvat_nb.cvat import connect
from cvat_nb.standin import StandIn

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
SAMPLE = SAMPLES / "coco/instances_default.json"
POSES = SAMPLES / "coco/person_keypoints_default.json"
STREET = sorted((SAMPLES / "images").glob("street_0*.jpg"))
PEOPLE = sorted((SAMPLES / "people").glob("people_0*.jpg"))
LABELS = [{"name": "car", "type": "polygon"}, {"name": "person", "type": "mask"}, {"name": "sign", "type": "any"}]
STANDIN_USER, STANDIN_PASSWORD, STANDIN_TOKEN = "django", "Pw-s3cret-9", "pat-s3cret-123"
PREFIX = f"cvat_nb-test-{uuid.uuid4().hex[:8]}"  # every task and project a session makes starts with it


@dataclass
class Server:
    "The server the flows run against, and how to log in to it."
    url: str
    token: str | None
    username: str | None
    password: str | None
    standin: StandIn | None = None  # None: a real server
    poll: float = 0.5
    org: str | None = None  # CVAT_ORG: the organization every test works in

    @property
    def live(self) -> bool: return self.standin is None

    def connect(self, **kw):
        creds = dict(token=self.token) if self.token else dict(username=self.username, password=self.password)
        return connect(self.url, poll=self.poll, org=self.org, **{**creds, **kw})

    def secrets(self) -> list: return [s for s in (self.token, self.password) if s]


STARTED = datetime.now(timezone.utc)


def _delete_leftovers(srv:Server):
    "Delete every task and project of this session (a failed test may leave some behind), the demo's tasks too."
    with srv.connect() as cv:
        ours = lambda x: x.name.startswith(PREFIX) or (x.name.startswith("cvat_nb demo ") and x.created_date >= STARTED
                                                      and x.owner and x.owner.username == cv.user)
        for x in [*cv.client.tasks.list(search=PREFIX), *cv.client.tasks.list(search="cvat_nb demo "),
                  *cv.client.projects.list(search=PREFIX)]:
            if ours(x):
                try: x.remove()
                except Exception as e: print(f"could not delete {x.name!r} ({type(e).__name__}): delete it by hand")


@pytest.fixture(scope="session")
def server(request):
    url = request.config.getoption("--cvat-url")
    if not url:
        with StandIn(users={STANDIN_USER: STANDIN_PASSWORD}, tokens={STANDIN_TOKEN: STANDIN_USER}) as s:
            yield Server(s.url, STANDIN_TOKEN, STANDIN_USER, STANDIN_PASSWORD, s, poll=0.02)
        return
    env = os.environ.get
    srv = Server(url, env("CVAT_ACCESS_TOKEN"), env("CVAT_USERNAME"), env("CVAT_PASSWORD"), org=env("CVAT_ORG"))
    if not srv.token and not (srv.username and srv.password):
        pytest.exit("--cvat-url needs CVAT_ACCESS_TOKEN, or CVAT_USERNAME and CVAT_PASSWORD, in the environment", 2)
    yield srv
    _delete_leftovers(srv)


@pytest.fixture
def standin(server):
    "The stand-in itself, for a test that must reach inside it (injected faults, held imports); skipped live."
    if server.live: pytest.skip("needs the stand-in's insides (faults, held imports): not run against a real server")
    return server.standin


@pytest.fixture
def cv(server):
    with server.connect() as c: yield c


@pytest.fixture
def name(request):
    "A name for one thing this test makes, unique on the server."
    return f"{PREFIX} {request.node.name[:60]} {uuid.uuid4().hex[:6]}"


class Made:
    "What a test made on the server, deleted when it ends; also finds things by the names it gave."
    def __init__(self, cv, request): self.cv, self.request, self.tasks, self.projects = cv, request, [], []
    def name(self, what:str="") -> str:
        return f"{PREFIX} {self.request.node.name[:50]} {what} {uuid.uuid4().hex[:6]}".replace("  ", " ")

    def task(self, labels=LABELS, images=STREET, name=None, project=None, sorting:str="predefined"):
        "A task with these labels (or in `project`) and these local images in this order; the SDK task."
        spec = dict(name=name or self.name("task"), **(dict(project_id=project) if project else dict(labels=labels)))
        t = self.cv.client.tasks.create_from_data(spec=spec, resources=[str(p) for p in images],
                                                  data_params={"image_quality": 70, "sorting_method": sorting})
        self.tasks.append(t.id)
        return t

    def empty_task(self, labels=LABELS, name=None):
        "A task without data."
        t = self.cv.client.tasks.create(models.TaskWriteRequest(name=name or self.name("empty"), labels=labels))
        self.tasks.append(t.id)
        return t

    def project(self, labels=LABELS, name=None):
        p = self.cv.client.projects.create(models.ProjectWriteRequest(name=name or self.name("project"), labels=labels))
        self.projects.append(p.id)
        return p

    def adopt(self, task_id:int):
        "Delete this task too at the end (one that cvat_nb or the CLI made)."
        self.tasks.append(int(task_id))
        return task_id

    def cleanup(self):
        for tid in self.tasks:
            try: self.cv.client.tasks.remove_by_ids([tid])
            except Exception: pass
        for pid in self.projects:
            try: self.cv.client.projects.retrieve(pid).remove()
            except Exception: pass


@pytest.fixture
def made(cv, request):
    m = Made(cv, request)
    yield m
    m.cleanup()


@pytest.fixture
def cvat_env(server, monkeypatch):
    "The environment a user sets for `cvat-nb` and `connect()`: CVAT_URL and the credentials."
    monkeypatch.setenv("CVAT_URL", server.url)
    for k in ("CVAT_ACCESS_TOKEN", "CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ORG"): monkeypatch.delenv(k, raising=False)
    if server.org: monkeypatch.setenv("CVAT_ORG", server.org)
    if server.token: monkeypatch.setenv("CVAT_ACCESS_TOKEN", server.token)
    else:
        monkeypatch.setenv("CVAT_USERNAME", server.username); monkeypatch.setenv("CVAT_PASSWORD", server.password)
    return server


def sample() -> Dataset:
    "The street sample: 4 images, cars (polygons), people (COCO RLE masks), signs (boxes with scores)."
    return Dataset(json.loads(SAMPLE.read_text()))


def poses() -> Dataset:
    "The people sample: 2 images, 4 poses of COCO's 17 keypoints, some outside (v=0), one occluded (v=1)."
    return Dataset(json.loads(POSES.read_text()))


def label_ids(task) -> dict:
    "A task's label ids by name, sublabels as `parent/name`."
    out = {}
    for l in task.get_labels():
        out[l.name] = l.id
        for s in l.sublabels or []: out[f"{l.name}/{s.name}"] = s.id
    return out


def no_secret(server:Server, *texts):
    for t in texts:
        for s in server.secrets(): assert s not in str(t)
