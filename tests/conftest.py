"""Shared fixtures: the real engine, copies of the test project, and cleanup.

Every container and image a test creates carries racer's labels; the
`deployed` fixture removes all of those belonging to the test's projects.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The real projects live in shared/ beside the repository, as on every machine
# that runs these tests; RACER_REAL_INPUTS points elsewhere.
REAL_INPUTS = Path(
    os.environ.get("RACER_REAL_INPUTS", ROOT.parent / "shared" / "real-inputs")
)
if not REAL_INPUTS.is_dir():
    raise pytest.UsageError(
        f"real-inputs not found at {REAL_INPUTS}; set RACER_REAL_INPUTS"
    )
TEST_PROJECT = ROOT / "test-project"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def engine():
    client = docker.from_env()
    client.ping()
    return client


@pytest.fixture
def project(tmp_path) -> Path:
    """A private copy of test-project, so each test is its own app."""
    copy = tmp_path / "test-project"
    shutil.copytree(TEST_PROJECT, copy)
    return copy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(
    cmd: list[str],
    stdin: str | None = None,
    timeout: float = 900,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run one of racer's commands as a user would, from the venv's bin."""
    exe = str(BIN / cmd[0])
    return subprocess.run(
        [exe, *cmd[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def stdout_json(result: subprocess.CompletedProcess):
    """Stdout must hold exactly one JSON document."""
    return json.loads(result.stdout)


def assert_clean_error(result: subprocess.CompletedProcess, exit_code: int, code: str):
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    doc = stdout_json(result)
    assert doc["error"]["code"] == code, doc
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return doc


def get_json(url: str, timeout: float = 30.0):
    """GET a URL until it answers, then its decoded JSON body."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def racer_containers(engine, project_path: Path) -> list:
    return engine.containers.list(
        all=True,
        filters={"label": ["racer.managed=true", f"racer.project-path={project_path}"]},
    )


@pytest.fixture
def deployed(engine):
    """Collects project folders; removes their containers and images afterwards."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        images = set()
        for container in racer_containers(engine, path):
            images.add(container.attrs["Image"])
            container.remove(force=True)
        for image in engine.images.list(
            filters={"label": ["racer.built=true", f"racer.project-path={path}"]}
        ):
            images.add(image.id)
        for image in images:
            try:
                engine.images.remove(image, force=True)
            except docker.errors.APIError:
                pass
