"""End to end on the real engine: build images, run containers, ask them over HTTP."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from conftest import (
    BIN,
    assert_clean_error,
    free_port,
    get_json,
    racer_containers,
    run,
    stdout_json,
)

from racer_tools import errors


def deploy(project: Path, port: int, *extra: str):
    return run(
        ["racer", "run", "--path", str(project), "--ports", f"{port}:8000", *extra]
    )


def test_run_answers_and_a_second_run_replaces_the_first(engine, project, deployed):
    deployed.append(project)
    port = free_port()
    result = deploy(project, port)
    assert result.returncode == 0, result.stderr
    doc = stdout_json(result)
    assert doc["container"]["status"] == "running"
    assert doc["container"]["answering"] is True
    assert get_json(f"http://127.0.0.1:{port}/") == (200, {"Hello": "World"})
    assert get_json(f"http://127.0.0.1:{port}/health") == (200, {"status": "healthy"})
    first_image = doc["image"]["id"]

    (project / "main.py").write_text(
        (project / "main.py").read_text().replace('"World"', '"Again"')
    )
    result = deploy(project, port)
    assert result.returncode == 0, result.stderr
    again = stdout_json(result)
    assert again["image"]["environment"]["reused"] is True
    assert get_json(f"http://127.0.0.1:{port}/") == (200, {"Hello": "Again"})

    running = racer_containers(engine, project)
    assert [c.id for c in running] == [again["container"]["id"]]
    # The replaced container's image is gone, not left dangling.
    assert not engine.images.list(
        filters={"dangling": True, "label": f"racer.project-path={project}"}
    )
    assert first_image not in {i.id for i in engine.images.list()}


def test_pipeline_of_small_commands(engine, project, deployed):
    deployed.append(project)
    port = free_port()
    validate = subprocess.Popen(
        [BIN / "racer-validate", "--path", project], stdout=subprocess.PIPE
    )
    render = subprocess.Popen(
        [BIN / "racer-render"], stdin=validate.stdout, stdout=subprocess.PIPE
    )
    build = subprocess.Popen(
        [BIN / "racer-build"], stdin=render.stdout, stdout=subprocess.PIPE
    )
    up = subprocess.run(
        [BIN / "racer-up", "--ports", f"{port}:8000"],
        stdin=build.stdout,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    for stage in (validate, render, build):
        assert stage.wait() == 0
    assert up.returncode == 0, up.stderr
    doc = stdout_json(up)
    assert doc["container"]["ports"] == {"8000/tcp": [f"0.0.0.0:{port}"]}
    assert get_json(f"http://127.0.0.1:{port}/") == (200, {"Hello": "World"})

    listed = stdout_json(run(["racer-ps"]))
    assert doc["container"]["id"] in [c["id"] for c in listed]


def test_verbose_shows_build_progress_on_stderr(project, deployed):
    deployed.append(project)
    result = run(["racer", "--verbose", "run", "--path", str(project), "--wait", "0"])
    assert result.returncode == 0, result.stderr
    assert "Step 1/" in result.stderr
    stdout_json(result)


def test_racerctl_acts_on_racer_containers_only(engine, project, deployed):
    deployed.append(project)
    port = free_port()
    container_id = stdout_json(deploy(project, port))["container"]["id"]
    base = engine.images.get(
        stdout_json(run(["racer", "status", "--container-id", container_id]))["image"]
    )
    stranger = engine.containers.run(base.id, ["sleep", "600"], detach=True)
    try:
        listed = stdout_json(run(["racerctl", "containers", "list"]))["containers"]
        assert container_id in [c["id"] for c in listed]
        assert stranger.id not in [c["id"] for c in listed]
        assert_clean_error(
            run(["racerctl", "containers", "stop", stranger.id]),
            errors.NOT_FOUND,
            "not_found",
        )

        status = stdout_json(run(["racerctl", "containers", "status", container_id]))
        assert status["labels"]["racer.project"] == "test-project"
        get_json(f"http://127.0.0.1:{port}/health")
        logs = run(["racerctl", "containers", "logs", container_id, "--tail", "5"])
        assert logs.returncode == 0
        assert "Serving on http://0.0.0.0:8000" in logs.stdout

        stopped = stdout_json(run(["racerctl", "containers", "stop", container_id]))
        assert stopped["status"] == "exited"
        cleaned = stdout_json(run(["racerctl", "containers", "cleanup"]))
        assert container_id in [c["id"] for c in cleaned["removed"]]
        stranger.reload()
        assert stranger.status == "running"
        assert racer_containers(engine, project) == []
    finally:
        stranger.remove(force=True)


def test_status_summary_and_list(project, deployed):
    deployed.append(project)
    container_id = stdout_json(deploy(project, free_port()))["container"]["id"]
    summary = stdout_json(run(["racer", "status"]))
    assert summary["containers"]["running"] >= 1
    assert summary["engine"]["platform"] in ("linux-64", "linux-aarch64")
    listed = stdout_json(run(["racer", "status", "--list"]))["containers"]
    assert container_id in [c["id"] for c in listed]


def test_remove_a_running_container_needs_force(engine, project, deployed):
    deployed.append(project)
    container_id = stdout_json(deploy(project, free_port()))["container"]["id"]
    refused = run(["racerctl", "containers", "remove", container_id])
    assert refused.returncode != 0
    image = engine.containers.get(container_id).attrs["Image"]
    removed = run(["racerctl", "containers", "remove", container_id, "--force"])
    assert removed.returncode == 0, removed.stderr
    assert image not in {i.id for i in engine.images.list()}
    assert_clean_error(
        run(["racerctl", "containers", "status", container_id]),
        errors.NOT_FOUND,
        "not_found",
    )


def test_environment_that_does_not_solve(engine, project, deployed):
    deployed.append(project)
    (project / "environment.yml").write_text(
        "channels: [conda-forge]\ndependencies: [python=3.11, no-such-package-racer]\n"
    )
    result = deploy(project, free_port())
    doc = assert_clean_error(result, errors.SOLVE_FAILED, "solve_failed")
    assert doc["error"]["details"]["step"] == "solve"
    assert doc["error"]["details"]["files"] == ["environment.yml"]
    assert racer_containers(engine, project) == []


def test_host_port_in_use(engine, project, deployed):
    deployed.append(project)
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = deploy(project, port)
    assert_clean_error(result, errors.RUN_FAILED, "conflict")
    assert racer_containers(engine, project) == []


def test_a_build_that_fails_leaves_no_images(engine, project, deployed):
    deployed.append(project)
    # A pip requirement from an index that does not answer fails the build.
    (project / "environment.yml").write_text(
        "channels: [conda-forge]\n"
        "dependencies: [python=3.11, bottle, waitress, pip, {pip: [racer-nowhere==1.0]}]\n"
    )
    before = {i.id for i in engine.images.list(all=True)}
    result = run(
        ["racer", "run", "--path", str(project)],
        env={"PIP_INDEX_URL": f"http://127.0.0.1:{free_port()}/simple"},
    )
    doc = assert_clean_error(result, errors.BUILD_FAILED, "build_failed")
    assert doc["error"]["details"]["step"] == "docker build"
    after = {i.id for i in engine.images.list(all=True)}
    assert after - before == set()
    assert racer_containers(engine, project) == []


def test_a_failed_redeploy_keeps_the_running_app(engine, project, deployed):
    deployed.append(project)
    port = free_port()
    first = stdout_json(deploy(project, port))["container"]
    (project / "main.py").write_text("raise SystemExit('broken release')\n")
    result = deploy(project, port)
    doc = assert_clean_error(result, errors.RUN_FAILED, "run_failed")
    assert "broken release" in doc["error"]["message"]
    assert [c.id for c in racer_containers(engine, project)] == [first["id"]]
    assert get_json(f"http://127.0.0.1:{port}/") == (200, {"Hello": "World"})
    images = engine.images.list(filters={"label": f"racer.project-path={project}"})
    assert [i.id for i in images] == [first["image"]]
    assert images[0].tags, "the running app's image keeps its tag"


def test_a_name_held_by_another_container_is_refused(engine, project, deployed):
    deployed.append(project)
    first = stdout_json(deploy(project, free_port()))["container"]
    stranger = engine.containers.create(first["image"], ["true"], name="racer-stranger")
    try:
        result = deploy(project, free_port(), "--name", "racer-stranger")
        assert_clean_error(result, errors.RUN_FAILED, "conflict")
        assert engine.containers.get(first["id"]).status == "running"
    finally:
        stranger.remove(force=True)


def test_app_that_exits_at_once_is_reported(engine, project, deployed):
    deployed.append(project)
    (project / "main.py").write_text("raise SystemExit('no config')\n")
    result = deploy(project, free_port())
    doc = assert_clean_error(result, errors.RUN_FAILED, "run_failed")
    assert "no config" in doc["error"]["message"]
    assert racer_containers(engine, project) == []


@pytest.mark.parametrize("pairs", [["1BAD=x"], ["novalue"]])
def test_bad_variables_fail_before_building(project, pairs):
    result = run(["racer", "run", "--path", str(project), *[f"-e{p}" for p in pairs]])
    assert_clean_error(result, errors.USAGE, "usage")
