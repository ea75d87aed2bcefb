"""Deploys from lock files, git repositories and pip sections, on the real engine."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import (
    assert_clean_error,
    free_port,
    get_json,
    run,
    stdout_json,
)

from racer_tools import errors


def deploy(*args: str, env: dict | None = None):
    return run(["racer", "--verbose", "run", *args], env=env)


def test_a_lock_is_installed_exactly_without_a_solve(engine, project, deployed):
    deployed.append(project)
    written = run(["racer", "lock", "--path", str(project)])
    assert written.returncode == 0, written.stderr
    lock_file = project / "conda-lock.default.yml"
    assert stdout_json(written)["lock"] == str(lock_file)
    locked = yaml.safe_load(lock_file.read_text())
    names = {p["name"] for p in locked["package"] if p["platform"] == "linux-64"}
    assert {"python", "bottle", "waitress"} <= names

    port = free_port()
    result = deploy("--path", str(project), "--ports", f"{port}:8000")
    assert result.returncode == 0, result.stderr
    assert "solving environment" not in result.stderr
    doc = stdout_json(result)
    assert get_json(f"http://127.0.0.1:{port}/") == (200, {"Hello": "World"})

    status = stdout_json(
        run(["racer", "status", "--container-id", doc["container"]["id"]])
    )
    installed = {
        p.split("=")[0] for p in json.loads(status["labels"]["racer.packages"])
    }
    assert installed == names


def test_a_lock_without_the_engines_platform_fails_before_building(engine, project):
    run(["racer", "lock", "--path", str(project)])
    lock_file = project / "conda-lock.default.yml"
    text = lock_file.read_text().replace("linux-64", "osx-arm64")
    lock_file.write_text(text)
    result = run(["racer", "run", "--path", str(project)])
    doc = assert_clean_error(result, errors.INVALID_PROJECT, "invalid_project")
    assert doc["error"]["details"]["file"] == "conda-lock.default.yml"
    assert not engine.images.list(filters={"label": f"racer.project-path={project}"})


def test_a_lock_missing_a_requested_package_is_an_error(project):
    run(["racer", "lock", "--path", str(project)])
    env_file = project / "environment.yml"
    env_file.write_text(env_file.read_text() + "  - wheel\n")
    result = run(["racer", "validate", "--path", str(project)])
    doc = assert_clean_error(result, errors.INVALID_PROJECT, "invalid_project")
    assert "wheel" in doc["error"]["message"]


def test_a_stale_lock_is_installed_as_committed_with_a_warning(project, deployed):
    deployed.append(project)
    run(["racer", "lock", "--path", str(project)])
    env_file = project / "environment.yml"
    env_file.write_text(env_file.read_text().replace("python=3.11", "python>=3.11"))
    result = deploy("--path", str(project), "--wait", "0")
    assert result.returncode == 0, result.stderr
    warnings = stdout_json(result)["image"]["warnings"]
    assert any("conda-lock.default.yml" == w["file"] for w in warnings), warnings

    relocked = deploy("--path", str(project), "--wait", "0", "--relock")
    assert relocked.returncode == 0, relocked.stderr
    assert stdout_json(relocked)["image"]["warnings"] == []


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repository(tmp_path, project) -> Path:
    """A real repository holding the test project in a subfolder, tagged v1."""
    repo = tmp_path / "repo"
    (repo / "apps").mkdir(parents=True)
    project.rename(repo / "apps" / "hello")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "hello")
    git(repo, "tag", "v1")
    (repo / "apps" / "hello" / "conda-project.yml").write_text("name: [broken\n")
    git(repo, "commit", "-qam", "break the project")
    return repo


def test_deploy_from_git_records_the_commit(engine, repository, deployed):
    url = f"file://{repository}"
    port = free_port()
    result = deploy(
        "--git",
        url,
        "--ref",
        "v1",
        "--subdir",
        "apps/hello",
        "--allow-local-git",
        "--ports",
        f"{port}:8000",
    )
    assert result.returncode == 0, result.stderr
    doc = stdout_json(result)
    deployed.append(Path(doc["project"]["path"]))
    assert get_json(f"http://127.0.0.1:{port}/") == (200, {"Hello": "World"})
    commit = git(repository, "rev-parse", "v1^{commit}")
    labels = engine.containers.get(doc["container"]["id"]).labels
    assert labels["racer.source.git-commit"] == commit
    assert (
        engine.images.get(doc["image"]["id"]).labels["racer.source.git-commit"]
        == commit
    )

    broken = run(
        ["racer", "run", "--git", url, "--subdir", "apps/hello", "--allow-local-git"]
    )
    doc = assert_clean_error(broken, errors.INVALID_PROJECT, "invalid_project")
    assert doc["error"]["details"]["file"] == "conda-project.yml"
    assert doc["error"]["details"]["line"] == 2  # where the unclosed list ends


@pytest.mark.parametrize("url", ["-uhttps://x/y", "ext::sh -c touch% /tmp/pwned"])
def test_unsafe_git_urls_are_refused(url):
    result = run(["racer", "validate", "--git", url])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "error" in stdout_json(result)


def test_local_repositories_need_the_option(repository):
    result = run(
        [
            "racer",
            "validate",
            "--git",
            f"file://{repository}",
            "--ref",
            "v1",
            "--subdir",
            "apps/hello",
        ]
    )
    assert result.returncode != 0
    assert (
        "--allow-local-git" in stdout_json(result)["error"]["message"]
        or "local" in stdout_json(result)["error"]["message"]
    )


def make_wheel(folder: Path) -> Path:
    """A real pure-Python wheel, written by hand: a module and its metadata."""
    name, version = "racer_greeting", "1.0"
    files = {
        f"{name}.py": b"GREETING = 'hello from pip'\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: racer-greeting\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: racer-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    wheel.write_bytes(buffer.getvalue())
    return wheel


@pytest.fixture
def wheel_index(tmp_path):
    """A PEP 503 index with one wheel, served on loopback."""
    root = tmp_path / "index"
    package = root / "simple" / "racer-greeting"
    package.mkdir(parents=True)
    wheel = make_wheel(package)
    (package / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n')
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(
        *a, directory=str(root), **kw
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


def test_a_pip_section_is_installed_in_the_build(project, wheel_index, deployed):
    deployed.append(project)
    env_file = project / "environment.yml"
    env_file.write_text(
        env_file.read_text() + "  - pip\n  - pip:\n    - racer-greeting==1.0\n"
    )
    main = project / "main.py"
    main.write_text(
        main.read_text().replace(
            'return {"Hello": "World"}',
            'import racer_greeting\n    return {"Hello": racer_greeting.GREETING}',
        )
    )
    port = free_port()
    result = deploy(
        "--path",
        str(project),
        "--ports",
        f"{port}:8000",
        env={"PIP_INDEX_URL": wheel_index},
    )
    assert result.returncode == 0, result.stderr
    assert "Successfully installed racer-greeting-1.0" in result.stderr
    assert get_json(f"http://127.0.0.1:{port}/") == (200, {"Hello": "hello from pip"})
