"""The harness for the server's tests (this module holds no tests).

A real server runs in a subprocess on a loopback port, with its own TMPDIR so
a test can check that uploads leave nothing behind. Containers and images a
test creates carry racer's labels and are removed afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from conftest import free_port

from racer_tools import archive

TOKEN = "test-token-5f1c"
# A project that solves to no packages, so it builds without any conda channel.
SLEEPER_CMD = "sh -c 'while true; do sleep 1; done'"
BASE_IMAGES = ("racer-base:bookworm", "racer-test-base:bookworm")
# Server settings a developer's shell may hold that would change what a test sees.
CLEARED = (
    "RACER_API_URL",
    "RACER_API_TOKEN",
    "RACER_ALLOWED_ROOTS",
    "API_HOST",
    "API_PORT",
    "RACER_API_MAX_BODY",
    "RACER_API_MAX_FILES",
    "RACER_API_MAX_UNPACKED",
    "DEBUG",
)


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    @property
    def json(self):
        assert self.headers.get("content-type", "").startswith("application/json"), (
            self.status,
            self.headers,
            self.body[:200],
        )
        return json.loads(self.body)

    @property
    def error(self) -> dict:
        doc = self.json
        assert set(doc) == {"error"} and set(doc["error"]) == {
            "code",
            "message",
            "details",
        }
        return doc["error"]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    tmpdir: Path
    log: Path
    token: str | None = None
    env: dict = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        body=None,
        *,
        token: str | None = "default",
        data: bytes | None = None,
        headers: dict | None = None,
        timeout: float = 900,
    ) -> Answer:
        token = self.token if token == "default" else token
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(
            self.url + path, data=data, headers=sent, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Answer(
                    response.status, _lower(response.headers), response.read()
                )
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, _lower(exc.headers), exc.read())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _lower(headers) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def server_env(tmp: Path, port: int, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    (tmp / "tmp").mkdir(exist_ok=True)
    env.update(
        {
            "API_HOST": "127.0.0.1",
            "API_PORT": str(port),
            "TMPDIR": str(tmp / "tmp"),
            # A developer's ~/.config/racer/config.env must not change the tests.
            "RACER_CONFIG": str(tmp / "no-config.env"),
            "RACER_CACHE_DIR": str(tmp / "cache"),
        }
    )
    env.update(extra or {})
    return env


def start_server(
    tmp: Path, extra: dict | None = None, token: str | None = None, wait: float = 20.0
) -> LiveServer:
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(
        tmp, port, {**({"RACER_API_TOKEN": token} if token else {}), **(extra or {})}
    )
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server"],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(
        f"http://127.0.0.1:{port}", process, tmp / "tmp", log, token, env
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log_text()}")
        try:
            if server.call("GET", "/liveness", timeout=2).status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the server did not answer: {server.log_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def base_image(engine) -> str:
    """A base image the engine has; bootstrapped from Debian when there is none."""
    for name in BASE_IMAGES:
        try:
            engine.images.get(name)
            return name
        except docker.errors.ImageNotFound:
            pass
    return bootstrap_base_image(BASE_IMAGES[-1])


def bootstrap_base_image(name: str) -> str:
    root = Path(f"/tmp/racer-test-rootfs-{uuid.uuid4().hex[:8]}")
    try:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(root)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        tar = subprocess.Popen(
            ["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE
        )
        subprocess.run(
            ["docker", "import", "-", name],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
            timeout=900,
        )
        tar.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return name


@pytest.fixture(scope="module")
def server(tmp_path_factory, base_image):
    """A server that wants a token, as one reachable from elsewhere would."""
    live = start_server(
        tmp_path_factory.mktemp("server"), {"RACER_BASE_IMAGE": base_image}, token=TOKEN
    )
    yield live
    stop_server(live)


@pytest.fixture
def racer_container(engine, base_image):
    """Starts containers labelled as racer's (without a build) and removes them."""
    made = []

    def make(project: str = "server-test", command: str = "sleep infinity", **labels):
        container = engine.containers.run(
            base_image,
            ["sh", "-c", f"echo started; {command}"],
            detach=True,
            init=True,
            name=f"racer-test-{uuid.uuid4().hex[:10]}",
            labels={"racer.managed": "true", "racer.project": project, **labels},
        )
        made.append(container)
        return container

    yield make
    for container in made:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


def write_sleeper(
    folder: Path, name: str = "sleeper", command: str = SLEEPER_CMD
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "environment.yml").write_text("name: default\ndependencies: []\n")
    (folder / "conda-project.yml").write_text(
        f"name: {name}\nenvironments:\n  default:\n    - environment.yml\n"
        f"commands:\n  default: {json.dumps(command)}\n"
    )
    (folder / "app.txt").write_text("hello\n")
    return folder


def encoded(folder: Path) -> str:
    return base64.b64encode(archive.pack(folder)).decode()


@pytest.fixture
def apps(engine):
    """Collects app names used with uploads; removes their containers and images."""
    names: list[str] = []
    yield names
    for name in names:
        remove_app(engine, f"archive:{name}")


def remove_app(engine, origin: str) -> None:
    """Remove every container and image of the app deployed from `origin`."""
    label = {"label": [f"racer.source.origin={origin}"]}
    images = set()
    for container in engine.containers.list(all=True, filters=label):
        images.add(container.attrs["Image"])
        container.remove(force=True)
    images.update(image.id for image in engine.images.list(filters=label))
    for image in images:
        try:
            engine.images.remove(image, force=True)
        except docker.errors.APIError:
            pass


@pytest.fixture
def git_url(tmp_path):
    """A repository with a project in app/, served by `git daemon` on loopback."""
    repo = tmp_path / "repos" / "project.git"
    write_sleeper(repo / "app", name="from-git")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "project"], check=True)
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={tmp_path / 'repos'}",
            str(tmp_path / "repos"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"git://127.0.0.1:{port}/project.git"
    daemon.terminate()
    daemon.wait(timeout=10)
