"""Deploys through the server: real builds, real containers, ten at once."""

from __future__ import annotations

import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

from test_server_support import TOKEN, encoded, remove_app, write_sleeper

from racer_tools import remote

# The live server, the base image and the container fixtures.
pytest_plugins = ["test_server_support"]


def app_name() -> str:
    return f"srv-{uuid.uuid4().hex[:8]}"


def app_containers(engine, app: str) -> list:
    return engine.containers.list(
        all=True,
        filters={"label": [f"racer.source.origin=archive:{app}", "racer.managed=true"]},
    )


def test_run_an_upload_and_replace_it(server, engine, apps, tmp_path):
    app = app_name()
    apps.append(app)
    project = write_sleeper(tmp_path / "proj")
    first = server.call(
        "POST",
        "/run",
        {
            "archive": encoded(project),
            "app": app,
            "wait": 2,
            "env": {"GREETING": "hi there"},
        },
    )
    assert first.status == 201, first.body
    doc = first.json
    assert doc["container"]["status"] == "running"
    assert doc["source"]["origin"] == f"archive:{app}"
    running = engine.containers.get(doc["container"]["id"])
    assert "GREETING=hi there" in running.attrs["Config"]["Env"]
    assert running.exec_run(["cat", "/app/app.txt"]).output == b"hello\n"

    (project / "app.txt").write_text("changed\n")
    second = server.call(
        "POST", "/run", {"archive": encoded(project), "app": app, "wait": 2}
    )
    assert second.status == 201, second.body
    replacement = second.json["container"]
    assert [c.id for c in app_containers(engine, app)] == [replacement["id"]]
    assert (
        engine.containers.get(replacement["id"])
        .exec_run(["cat", "/app/app.txt"])
        .output
        == b"changed\n"
    )
    assert list(server.tmpdir.iterdir()) == []

    status = server.call(
        "POST", "/project/status", {"archive": encoded(project), "app": app}
    )
    assert status.status == 200, status.body
    assert status.json["deployed"] is True
    assert [c["id"] for c in status.json["containers"]] == [replacement["id"]]
    assert status.json["identity"] == second.json["image"]["identity"]


def test_run_a_built_image_again(server, engine, apps, tmp_path):
    app = app_name()
    apps.append(app)
    deployed = server.call(
        "POST",
        "/run",
        {"archive": encoded(write_sleeper(tmp_path)), "app": app, "wait": 1},
    ).json
    again = server.call(
        "POST",
        "/containers/run",
        {"image": deployed["image"]["tag"], "wait": 1, "name": f"{app}-b"},
    )
    assert again.status == 201, again.body
    container = again.json["container"]
    assert container["name"] == f"{app}-b" and container["status"] == "running"
    # The same app: the new container replaced the deployed one.
    assert [c.id for c in app_containers(engine, app)] == [container["id"]]


def test_ten_deploys_at_once_leave_one_container(server, engine, apps, tmp_path):
    app = app_name()
    apps.append(app)
    body = {"archive": encoded(write_sleeper(tmp_path)), "app": app, "wait": 1}
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: server.call("POST", "/run", body), range(10)))
    assert [a.status for a in answers] == [201] * 10, [
        a.body[:600] for a in answers if a.status != 201
    ]
    started = {a.json["container"]["id"] for a in answers}
    assert len(started) == 10
    left = app_containers(engine, app)
    assert len(left) == 1 and left[0].status == "running"
    assert left[0].id in started
    assert list(server.tmpdir.iterdir()) == []


def test_a_command_that_exits_is_a_run_failure_and_leaves_nothing(
    server, engine, apps, tmp_path
):
    app = app_name()
    apps.append(app)
    project = write_sleeper(tmp_path, command="echo giving up; exit 3")
    answer = server.call(
        "POST", "/run", {"archive": encoded(project), "app": app, "wait": 10}
    )
    assert answer.status == 500, answer.body
    error = answer.error
    assert error["code"] == "run_failed", error
    assert "giving up" in error["message"]
    assert app_containers(engine, app) == []


def test_a_host_port_in_use_is_a_conflict(server, engine, apps, tmp_path):
    app = app_name()
    apps.append(app)
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        answer = server.call(
            "POST",
            "/run",
            {
                "archive": encoded(write_sleeper(tmp_path)),
                "app": app,
                "ports": [f"{port}:8000"],
                "wait": 1,
            },
        )
    assert answer.status == 409, answer.body
    assert answer.error["code"] == "conflict"
    assert app_containers(engine, app) == []


def test_remote_run_deploys_a_local_folder(server, engine, apps, tmp_path):
    name = app_name()
    apps.append(name)
    project = write_sleeper(tmp_path / "p", name=name)
    client = remote.Client(server.url, TOKEN)
    doc = remote.run(client, str(project), env=["MODE=remote"], wait=1)
    assert doc["container"]["status"] == "running"
    assert doc["source"]["origin"] == f"archive:{name}"
    status = remote.project_status(client, str(project))
    assert status["deployed"] is True
    assert [c["id"] for c in status["containers"]] == [doc["container"]["id"]]


def test_run_from_git(server, engine, git_url):
    origin = f"{git_url}#app"
    try:
        answer = server.call(
            "POST", "/run", {"git": {"url": git_url, "subdir": "app"}, "wait": 1}
        )
        assert answer.status == 201, answer.body
        doc = answer.json
        assert doc["source"]["origin"] == origin
        labels = engine.containers.get(doc["container"]["id"]).labels
        assert labels["racer.source.git-commit"] == doc["source"]["git-commit"]
    finally:
        remove_app(engine, origin)
