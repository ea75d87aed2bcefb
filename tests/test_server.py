"""The server's endpoints on a live server: answers, errors, auth, limits, safety.

Deploys that build images are in test_server_deploy.py; the OpenAPI
property-based run is in test_server_schema.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest
from conftest import free_port
from test_archive import file_member, make_tar, special_member, symlink
from test_server_support import (
    TOKEN,
    LiveServer,
    encoded,
    start_server,
    stop_server,
    write_sleeper,
)

from server.app import make_app
from server.config import ServerConfig
from server.wsgi import AccessLog

# The live server, the base image and the container fixtures.
pytest_plugins = ["test_server_support"]

ALL_ENDPOINTS = [
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/liveness"),
    ("GET", "/ready"),
    ("GET", "/openapi.json"),
    ("POST", "/validate"),
    ("POST", "/dockerfile"),
    ("POST", "/run"),
    ("POST", "/project/status"),
    ("POST", "/containers/run"),
    ("GET", "/containers"),
    ("GET", "/containers/x/status"),
    ("GET", "/containers/x/logs"),
    ("POST", "/containers/x/stop"),
    ("DELETE", "/containers/x"),
    ("POST", "/containers/cleanup"),
]
PROBES = {"/health", "/liveness", "/ready"}


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, base_image):
    """A loopback server without a token, and with a small body and archive limit."""
    live = start_server(
        tmp_path_factory.mktemp("open-server"),
        {
            "RACER_BASE_IMAGE": base_image,
            "RACER_API_MAX_BODY": str(256 * 1024),
            "RACER_API_MAX_FILES": "50",
        },
    )
    yield live
    stop_server(live)


# Information and probes.


def test_info_lists_every_endpoint(server):
    info = server.call("GET", "/").json
    assert info["name"] == "racer" and info["version"]
    listed = {(e["method"], e["path"]) for e in info["endpoints"]}
    assert ("DELETE", "/containers/{id}") in listed
    assert len(listed) == len(ALL_ENDPOINTS)


def test_probes(server):
    assert server.call("GET", "/health").json["status"] == "ok"
    assert server.call("GET", "/liveness").json == {"status": "alive"}
    ready = server.call("GET", "/ready")
    assert ready.status == 200
    assert ready.json["engine"]["version"]


def test_ready_is_503_with_the_reason_while_the_engine_is_away(tmp_path):
    live = start_server(tmp_path, {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    try:
        ready = live.call("GET", "/ready")
        assert ready.status == 503
        assert ready.error["code"] == "engine_unavailable"
        assert "does not answer" in ready.error["message"]
        assert live.call("GET", "/health").status == 200
        assert live.call("GET", "/containers").status == 503
    finally:
        stop_server(live)


# Every answer is JSON of one shape.


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/no/such/path"),
        ("PUT", "/health"),
        ("PATCH", "/containers"),
        ("POST", "/containers"),
        ("GET", "/run"),
        ("DELETE", "/containers/cleanup/x"),
    ],
)
def test_bottle_errors_are_json(server, method, path):
    answer = server.call(method, path)
    assert answer.status in (404, 405)
    assert answer.error["code"] in ("not_found", "method_not_allowed")
    assert b"<html" not in answer.body.lower() and b"Traceback" not in answer.body


# Cleanup ignores its body and would clear stopped containers; it is tested below.
@pytest.mark.parametrize(
    "method, path", [e for e in ALL_ENDPOINTS if e != ("POST", "/containers/cleanup")]
)
def test_every_endpoint_answers_json_to_junk(server, method, path):
    answer = server.call(
        method,
        path,
        data=b"\x00\xff{not json",
        token=TOKEN,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status < 500 or answer.status == 503, answer.body
    answer.json  # noqa: B018 (asserts the content type and parses)
    assert b"Traceback" not in answer.body


@pytest.mark.parametrize(
    "body, message",
    [
        ([1, 2], "must be a JSON object"),
        ({}, "exactly one of"),
        ({"archive": "x", "path": "/srv"}, "exactly one of"),
        ({"archive": "not base64!"}, "not valid base64"),
        ({"archive": 5}, "base64 string"),
        ({"git": "https://example.invalid/x.git"}, "must be an object"),
        ({"path": "/tmp"}, "reads no folders"),
        ({"archive": base64.b64encode(b"junk").decode()}, "not a readable tar.gz"),
    ],
)
def test_bad_project_requests_are_400(server, body, message):
    answer = server.call("POST", "/validate", body)
    assert answer.status == 400
    assert message in answer.error["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"ports": "8080:8000"}, "ports"),
        ({"ports": ["nonsense"]}, None),
        ({"env": ["A=1"]}, "env"),
        ({"env": {"A": 1}}, "env"),
        ({"env": {"1BAD": "x"}}, None),
        ({"wait": -1}, "wait"),
        ({"wait": True}, "wait"),
        ({"name": "bad name!"}, "name"),
    ],
)
def test_bad_run_options_are_400_before_any_work(server, tmp_path, body, field):
    answer = server.call(
        "POST", "/run", {"archive": encoded(write_sleeper(tmp_path)), **body}
    )
    assert answer.status == 400, answer.body
    if field:
        assert answer.error["details"]["field"] == field


# Auth.


@pytest.mark.parametrize("method, path", ALL_ENDPOINTS)
def test_a_token_is_needed_everywhere_but_the_probes(server, method, path):
    answer = server.call(method, path, token=None)
    if path in PROBES:
        assert answer.status in (200, 503)
        return
    assert answer.status == 401
    assert answer.error["code"] == "unauthorized"
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer",
        "",
        f"Bearer {TOKEN[:-1]}",
    ],
)
def test_wrong_tokens_are_refused(server, header):
    answer = server.call(
        "GET", "/containers", token=None, headers={"Authorization": header}
    )
    assert answer.status == 401


def test_the_right_token_is_accepted(server):
    assert server.call("GET", "/containers").status == 200
    lower = server.call(
        "GET", "/containers", token=None, headers={"Authorization": f"bearer {TOKEN}"}
    )
    assert lower.status == 200


def test_an_open_server_needs_no_token(open_server):
    assert open_server.call("GET", "/containers").status == 200


def test_refuses_to_listen_beyond_loopback_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RACER_API_TOKEN"}
    env.update(API_HOST="0.0.0.0", API_PORT=str(free_port()))
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without RACER_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_come_from_a_dotenv_file(tmp_path):
    port = free_port()
    (tmp_path / ".env").write_text(
        f"API_PORT={port}\nRACER_API_TOKEN='from-dotenv'\n"
        f"export DOCKER_HOST=unix://{tmp_path}/no-engine.sock\n"
    )
    names = ("API_PORT", "API_HOST", "RACER_API_TOKEN", "DOCKER_HOST")
    env = {k: v for k, v in os.environ.items() if k not in names}
    process = subprocess.Popen(
        [sys.executable, "-m", "server"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    live = LiveServer(f"http://127.0.0.1:{port}", process, tmp_path, tmp_path / "log")
    try:
        for _ in range(100):
            try:
                answer = live.call("GET", "/", token="from-dotenv", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not answer on the port from .env")
        assert answer.json["name"] == "racer"
        assert live.call("GET", "/", token="wrong").status == 401
        assert live.call("GET", "/ready").status == 503
    finally:
        stop_server(live)


# Limits.


def test_a_body_over_the_limit_is_413(open_server):
    answer = open_server.call(
        "POST",
        "/validate",
        data=b"{" + b" " * (300 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 413
    assert answer.error["code"] == "too_large"


def test_an_archive_with_too_many_files_is_413(open_server):
    data = make_tar(
        file_member("environment.yml", b"name: x\ndependencies: []\n"),
        *(file_member(f"f{i}.txt") for i in range(60)),
    )
    answer = open_server.call(
        "POST", "/validate", {"archive": base64.b64encode(data).decode()}
    )
    assert answer.status == 413
    assert "more than 50 members" in answer.error["message"]


# Uploads: unsafe ones refused, and nothing left behind.


@pytest.mark.parametrize(
    "members",
    [
        [file_member("../escape.txt")],
        [file_member("/tmp/abs.txt")],
        [symlink("link", "/etc")],
        [symlink("link", "../../..")],
        [symlink("a", "."), symlink("b", "a/..")],
        [symlink("through", "/tmp"), file_member("through/evil.txt")],
        [special_member("dev", tarfile.CHRTYPE)],
        [special_member("fifo", tarfile.FIFOTYPE)],
    ],
)
def test_unsafe_uploads_are_refused_and_leave_nothing(server, members):
    data = make_tar(
        file_member("environment.yml", b"name: x\ndependencies: []\n"), *members
    )
    for path in ("/validate", "/dockerfile", "/run", "/project/status"):
        answer = server.call("POST", path, {"archive": base64.b64encode(data).decode()})
        assert answer.status == 400, answer.body
        assert answer.error["code"] == "unsafe_archive"
    assert list(server.tmpdir.iterdir()) == []
    assert not os.path.exists("/tmp/abs.txt")


def test_validate_an_upload(server, tmp_path):
    project = write_sleeper(tmp_path / "proj", name="uploaded")
    answer = server.call("POST", "/validate", {"archive": encoded(project)})
    assert answer.status == 200, answer.body
    doc = answer.json
    assert doc["valid"] is True
    assert doc["project"]["name"] == "uploaded"
    assert doc["source"]["origin"] == "archive:uploaded"
    assert doc["source"]["kind"] == "archive"
    assert list(server.tmpdir.iterdir()) == []


def test_an_upload_wrapped_in_a_folder(server, tmp_path):
    project = write_sleeper(tmp_path / "wrapped", name="wrapped")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        tar.add(project, arcname="wrapped")
    answer = server.call(
        "POST",
        "/validate",
        {"archive": base64.b64encode(raw.getvalue()).decode(), "app": "other-name"},
    )
    assert answer.status == 200, answer.body
    assert answer.json["source"]["origin"] == "archive:other-name"


def test_an_invalid_project_is_400_with_its_problems(server):
    data = make_tar(file_member("conda-project.yml", b"name: bad\nenvironments: 5\n"))
    answer = server.call(
        "POST", "/validate", {"archive": base64.b64encode(data).decode()}
    )
    assert answer.status == 400
    error = answer.error
    assert error["code"] == "invalid_project"
    assert error["details"]["problems"]


def test_an_unknown_command_is_400(server, tmp_path):
    answer = server.call(
        "POST",
        "/validate",
        {"archive": encoded(write_sleeper(tmp_path)), "command": "nope"},
    )
    assert answer.status == 400
    assert answer.error["code"] == "usage"


def test_dockerfile_of_an_upload(server, tmp_path, base_image):
    answer = server.call(
        "POST", "/dockerfile", {"archive": encoded(write_sleeper(tmp_path))}
    )
    assert answer.status == 200, answer.body
    doc = answer.json
    assert doc["dockerfile"].startswith("# Rendered by racer")
    assert f"FROM {base_image}" in doc["dockerfile"]


def test_a_project_from_git(server, git_url):
    answer = server.call(
        "POST", "/validate", {"git": {"url": git_url, "subdir": "app"}}
    )
    assert answer.status == 200, answer.body
    doc = answer.json
    assert doc["project"]["name"] == "from-git"
    assert doc["source"]["origin"] == f"{git_url}#app"
    assert len(doc["source"]["git-commit"]) == 40
    assert "None" not in doc["source"].values()

    for bad in (
        {"url": git_url, "ref": "no-such-branch"},
        {"url": git_url, "ref": "-x"},
        {"url": "ext::sh -c touch% /tmp/pwned"},
        {"url": "file:///etc"},
    ):
        refused = server.call("POST", "/validate", {"git": bad})
        assert refused.status == 400, (bad, refused.body)
    assert not os.path.exists("/tmp/pwned")


# Folders on the server, under the allowed roots only.


def test_server_paths_only_under_allowed_roots(tmp_path, base_image):
    allowed = tmp_path / "apps"
    write_sleeper(allowed / "one", name="one")
    write_sleeper(tmp_path / "elsewhere", name="elsewhere")
    (allowed / "sneaky").symlink_to(tmp_path / "elsewhere")
    live = start_server(
        tmp_path / "srv",
        {
            "RACER_ALLOWED_ROOTS": f"/nonexistent:{allowed}",
            "RACER_BASE_IMAGE": base_image,
        },
    )
    try:
        ok = live.call("POST", "/validate", {"path": str(allowed / "one")})
        assert ok.status == 200, ok.body
        assert ok.json["source"]["origin"] == str((allowed / "one").resolve())
        for path in (
            str(tmp_path / "elsewhere"),
            str(allowed / "sneaky"),
            str(allowed / ".." / "elsewhere"),
            "relative/path",
        ):
            refused = live.call("POST", "/validate", {"path": path})
            assert refused.status == 400, path
    finally:
        stop_server(live)


# Containers (made directly on the engine: no build needed).


def test_containers_list_status_logs_stop_remove(server, racer_container):
    container = racer_container()
    listed = server.call("GET", "/containers").json["containers"]
    assert container.id in {c["id"] for c in listed}

    status = server.call("GET", f"/containers/{container.name}/status").json
    assert status["id"] == container.id and status["status"] == "running"
    assert status["labels"]["racer.managed"] == "true"

    for _ in range(50):
        logs = server.call("GET", f"/containers/{container.id}/logs?tail=5").json
        if "started" in logs["logs"]:
            break
        time.sleep(0.1)
    assert "started\n" in logs["logs"]

    busy = server.call("DELETE", f"/containers/{container.id}")
    assert busy.status == 409 and busy.error["code"] == "conflict"

    stopped = server.call("POST", f"/containers/{container.id}/stop?timeout=1").json
    assert stopped["status"] == "exited"
    running_only = server.call("GET", "/containers?running=true").json["containers"]
    assert container.id not in {c["id"] for c in running_only}

    removed = server.call("DELETE", f"/containers/{container.id}")
    assert removed.status == 200 and removed.json["id"] == container.id
    assert server.call("GET", f"/containers/{container.id}/status").status == 404


def test_delete_with_force_removes_a_running_container(server, racer_container):
    container = racer_container()
    assert server.call("DELETE", f"/containers/{container.id}?force=true").status == 200
    assert server.call("GET", f"/containers/{container.id}/status").status == 404


def test_logs_follow_streams_json_lines(server, racer_container):
    container = racer_container(
        command="for i in 1 2 3; do echo line$i; sleep 0.3; done"
    )
    request = urllib.request.Request(
        f"{server.url}/containers/{container.id}/logs?follow=true",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response]
    assert [doc["line"] for doc in lines] == ["started", "line1", "line2", "line3"]


def test_containers_racer_does_not_manage_are_not_found(server, engine, base_image):
    other = engine.containers.run(
        base_image, ["sleep", "infinity"], detach=True, init=True
    )
    try:
        for method, path in (
            ("GET", "/status"),
            ("GET", "/logs"),
            ("POST", "/stop"),
            ("DELETE", ""),
        ):
            answer = server.call(method, f"/containers/{other.id}{path}")
            assert answer.status == 404, (method, path)
            assert answer.error["message"] == f"no racer container '{other.id}'"
        assert other.id not in {
            c["id"] for c in server.call("GET", "/containers").json["containers"]
        }
        other.reload()
        assert other.status == "running"
    finally:
        other.remove(force=True)


def test_unknown_container_and_bad_queries(server):
    assert server.call("GET", "/containers/no-such-thing/status").status == 404
    assert server.call("GET", "/containers/no-such-thing/logs?tail=-1").status == 400
    assert (
        server.call("POST", "/containers/no-such-thing/stop?timeout=abc").status == 400
    )
    assert server.call("DELETE", "/containers/no-such-thing?force=maybe").status == 400


def test_cleanup_removes_stopped_racer_containers(server, racer_container):
    container = racer_container(command="true")
    container.wait(timeout=30)
    cleaned = server.call("POST", "/containers/cleanup").json
    assert container.id in {c["id"] for c in cleaned["removed"]}
    assert cleaned["count"] == len(cleaned["removed"])


def test_containers_run_needs_a_racer_image(server, base_image):
    answer = server.call("POST", "/containers/run", {"image": base_image})
    assert answer.status == 404
    assert "racer did not build it" in answer.error["message"]
    assert server.call("POST", "/containers/run", {}).status == 400


# The request log.


def test_one_log_line_per_request(tmp_path):
    live = start_server(tmp_path)
    try:
        before = live.log_text().count('"GET /health"')
        for _ in range(3):
            live.call("GET", "/health")
        live.call("GET", "/missing")
        # The line is written once the answer is sent, a moment after the client has it.
        for _ in range(50):
            if '"GET /missing"' in live.log_text():
                break
            time.sleep(0.1)
    finally:
        stop_server(live)
    text = live.log_text()
    assert text.count('"GET /health" 200') == before + 3
    assert text.count('"GET /missing" 404') == 1


# The last lines of defence, in-process: failures no live request can provoke.


def call_wsgi(app, path: str) -> tuple[str, dict, bytes]:
    environ = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    body = app(environ, start_response)
    data = b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return seen["status"], seen["headers"], data


def test_an_unexpected_error_in_a_route_is_a_json_500():
    app = make_app(ServerConfig())

    def boom():
        raise ValueError("boom")

    app.route("/boom", "GET", boom)
    status, headers, body = call_wsgi(app, "/boom")
    assert status.startswith("500")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["message"] == "unexpected error: ValueError: boom"


def test_a_crash_outside_any_route_is_a_json_500():
    def broken(environ, start_response):
        raise RuntimeError("broken before answering")

    status, headers, body = call_wsgi(AccessLog(broken), "/")
    assert status.startswith("500")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "error"
