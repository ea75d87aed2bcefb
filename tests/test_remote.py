"""The HTTP client and racerctl against a server: same output, same exit codes."""

from __future__ import annotations

import base64
import io
import tarfile

import pytest
from conftest import free_port, run, stdout_json
from test_server_support import TOKEN, write_sleeper

from racer_tools import errors, remote

# The live server, the base image and the container fixtures.
pytest_plugins = ["test_server_support"]

# Errors come back as the classes the local code raises.


@pytest.mark.parametrize("cls", sorted(set(remote.ERROR_CLASSES.values()), key=str))
def test_each_error_round_trips(cls):
    sent = cls("it went wrong", container="abc")
    back = remote.error_from_json(sent.to_json(), sent.http_status)
    assert type(back) is cls
    assert back.to_json() == sent.to_json()
    assert back.exit_code == sent.exit_code


def test_invalid_project_keeps_its_problems():
    sent = errors.InvalidProject("bad", problems=[{"file": "x", "message": "m"}])
    back = remote.error_from_json(sent.to_json(), 400)
    assert back.problems == [{"file": "x", "message": "m"}]


def test_an_unknown_error_code_is_kept():
    back = remote.error_from_json(
        {"error": {"code": "method_not_allowed", "message": "no", "details": {}}}, 405
    )
    assert back.code == "method_not_allowed" and back.exit_code == errors.FAILED
    assert "without an error document" in remote.error_from_json([1], 500).message


# Where the project comes from.


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a/b.git",
        "git@example.com:a/b.git",
        "ssh://git@example.com/a.git",
        "file:///srv/repo",
    ],
)
def test_git_urls_go_as_git(url):
    assert remote.source_for(url, ref="main") == {"git": {"url": url, "ref": "main"}}


def test_server_paths_and_uploads(tmp_path):
    assert remote.source_for("server:/srv/apps/x") == {"path": "/srv/apps/x"}
    project = write_sleeper(tmp_path / "p")
    data = base64.b64decode(remote.source_for(str(project))["archive"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(tar.getnames()) == [
            "app.txt",
            "conda-project.yml",
            "environment.yml",
        ]


def test_a_missing_folder_fails_before_any_upload(tmp_path):
    client = remote.Client("http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(errors.InvalidProject, match="no such folder"):
        remote.validate(client, str(tmp_path / "missing"))
    with pytest.raises(errors.UsageError):
        remote.run(client, str(tmp_path), ports=["nonsense"])


# Settings.


def test_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RACER_CONFIG", str(tmp_path / "none.env"))
    for name in ("RACER_API_URL", "RACER_API_TOKEN", "RACER_API_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    assert remote.from_env() is None
    monkeypatch.setenv("RACER_API_URL", "http://h:1")
    monkeypatch.setenv("RACER_API_TOKEN", "t")
    monkeypatch.setenv("RACER_API_TIMEOUT", "2.5")
    assert remote.from_env() == remote.Client("http://h:1", "t", 2.5)
    assert remote.from_env("http://other:2").url == "http://other:2"
    monkeypatch.setenv("RACER_API_TIMEOUT", "soon")
    with pytest.raises(errors.UsageError, match="RACER_API_TIMEOUT"):
        remote.from_env()


def test_settings_from_racers_config_file(monkeypatch, tmp_path):
    config = tmp_path / "config.env"
    config.write_text("RACER_API_URL=http://configured:8000\nRACER_API_TOKEN=abc\n")
    monkeypatch.setenv("RACER_CONFIG", str(config))
    monkeypatch.delenv("RACER_API_URL", raising=False)
    monkeypatch.delenv("RACER_API_TOKEN", raising=False)
    assert remote.from_env() == remote.Client(
        "http://configured:8000", "abc", remote.DEFAULT_TIMEOUT
    )


# Against a live server.


def client_for(server) -> remote.Client:
    return remote.Client(server.url, TOKEN, 30)


def test_validate_and_dockerfile_remotely(server, tmp_path):
    project = write_sleeper(tmp_path / "p", name="remote-one")
    doc = remote.validate(client_for(server), str(project))
    assert doc["valid"] is True and doc["project"]["name"] == "remote-one"
    assert remote.dockerfile(client_for(server), str(project))["dockerfile"]


def test_server_errors_become_the_same_exceptions(server, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "conda-project.yml").write_text("name: bad\nenvironments: 5\n")
    with pytest.raises(errors.InvalidProject) as caught:
        remote.validate(client_for(server), str(bad))
    assert caught.value.exit_code == errors.INVALID_PROJECT
    with pytest.raises(errors.NotFound):
        remote.container_status(client_for(server), "no-such-container")
    with pytest.raises(remote.Unauthorized):
        remote.list_containers(remote.Client(server.url, "wrong"))


def test_no_server_is_server_unavailable():
    with pytest.raises(remote.ServerUnavailable) as caught:
        remote.Client(f"http://127.0.0.1:{free_port()}", timeout=2).call(
            "GET", "/health"
        )
    assert caught.value.exit_code == errors.ENGINE_UNAVAILABLE


def test_status_remotely(server):
    doc = remote.status(client_for(server))
    assert doc["engine"]["version"] and "total" in doc["containers"]


# racerctl: the same document and exit code, locally or through the server.


def racerctl(server, *args, remote_mode: bool):
    env = {"RACER_API_TOKEN": TOKEN, "RACER_CONFIG": "/nonexistent"}
    env["RACER_API_URL"] = server.url if remote_mode else ""
    return run(["racerctl", *args], env=env, timeout=120)


def same_either_way(server, *args):
    local, through = (racerctl(server, *args, remote_mode=m) for m in (False, True))
    assert local.returncode == through.returncode, (local.stderr, through.stderr)
    assert local.stderr == through.stderr
    return local, through


def test_racerctl_container_commands_match(server, racer_container):
    container = racer_container()
    local, through = same_either_way(server, "containers", "status", container.id)
    assert local.returncode == 0
    assert stdout_json(local) == stdout_json(through)

    local, through = same_either_way(server, "containers", "logs", container.id)
    assert local.stdout == through.stdout == "started\n"

    for args in (
        ("containers", "status", "no-such"),
        ("containers", "stop", "no-such"),
        ("containers", "remove", "no-such"),
    ):
        local, through = same_either_way(server, *args)
        assert local.returncode == errors.NOT_FOUND
        assert stdout_json(local) == stdout_json(through)

    listed = stdout_json(racerctl(server, "containers", "list", remote_mode=True))
    assert container.id in {c["id"] for c in listed["containers"]}
    stopped = racerctl(
        server, "containers", "stop", container.id, "-t", "1", remote_mode=True
    )
    assert stdout_json(stopped)["status"] == "exited"
    removed = racerctl(server, "containers", "remove", container.id, remote_mode=True)
    assert stdout_json(removed)["id"] == container.id


def test_racerctl_follows_logs_through_the_server(server, racer_container):
    container = racer_container(command="echo more; sleep 0.5; echo done")
    result = racerctl(
        server, "containers", "logs", "-f", container.id, remote_mode=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\nmore\ndone\n"


def test_racerctl_api_url_switch(server):
    result = run(
        ["racerctl", "containers", "list", "--api-url", server.url],
        env={"RACER_API_TOKEN": TOKEN, "RACER_API_URL": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "containers" in stdout_json(result)


@pytest.mark.parametrize(
    "command, key",
    [
        ("health", "status"),
        ("liveness", "status"),
        ("readiness", "engine"),
        ("info", "endpoints"),
    ],
)
def test_racerctl_asks_the_server(server, command, key):
    result = racerctl(server, command, remote_mode=True)
    assert result.returncode == 0, result.stderr
    assert key in stdout_json(result)


def test_racerctl_with_no_server(tmp_path):
    result = run(["racerctl", "health", "--api-url", f"http://127.0.0.1:{free_port()}"])
    assert result.returncode == errors.ENGINE_UNAVAILABLE
    assert stdout_json(result)["error"]["code"] == "server_unavailable"
    assert len(result.stderr.strip().splitlines()) == 1


def test_racerctl_runs_the_server_in_the_background(tmp_path):
    port = str(free_port())
    files = [
        "--pid-file",
        str(tmp_path / "s.pid"),
        "--log-file",
        str(tmp_path / "s.log"),
    ]
    env = {"RACER_API_TOKEN": "", "RACER_API_URL": "", "API_HOST": "127.0.0.1"}

    def ctl(*args):
        return run(["racerctl", "server", *args, *files], env=env, timeout=60)

    started = ctl("start", "--port", port)
    try:
        assert started.returncode == 0, started.stderr
        doc = stdout_json(started)
        assert doc["url"] == f"http://127.0.0.1:{port}"
        assert (tmp_path / "s.pid").read_text().split()[0] == str(doc["pid"])

        again = ctl("start", "--port", port)
        assert again.returncode == errors.RUN_FAILED
        assert stdout_json(again)["error"]["code"] == "conflict"

        status = stdout_json(ctl("status"))
        assert status["answering"] is True and status["pid"] == doc["pid"]

        restarted = stdout_json(ctl("restart", "--port", port))
        assert restarted["pid"] != doc["pid"]
    finally:
        stopped = ctl("stop")
    assert stopped.returncode == 0 and stdout_json(stopped)["stopped"] is True
    assert not (tmp_path / "s.pid").exists()
    assert ctl("status").returncode == errors.NOT_FOUND
    assert stdout_json(ctl("stop"))["stopped"] is False
    assert "serving on" in (tmp_path / "s.log").read_text()


def test_racerctl_refuses_an_exposed_server_without_a_token(tmp_path):
    result = run(
        [
            "racerctl",
            "server",
            "start",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--pid-file",
            str(tmp_path / "p"),
            "--log-file",
            str(tmp_path / "l"),
        ],
        env={"RACER_API_TOKEN": ""},
    )
    assert result.returncode == errors.USAGE
    assert "without RACER_API_TOKEN" in stdout_json(result)["error"]["message"]
    assert not (tmp_path / "p").exists()
