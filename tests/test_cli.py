"""The commands' contract: JSON on stdout, one line on stderr, exit codes."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error, run, stdout_json

from racer_tools import errors


def test_validate_prints_the_pipeline_document(project):
    result = run(["racer-validate", "--path", str(project)])
    assert result.returncode == 0, result.stderr
    doc = stdout_json(result)
    assert doc["project"]["name"] == "test-project"
    assert doc["selection"] == {
        "command": "default",
        "cmd": "python main.py",
        "environment": "default",
        "variables": {},
    }
    assert doc["project"]["environments"]["default"]["dependencies"] == [
        "python=3.11",
        "bottle",
        "waitress",
    ]
    assert result.stderr == ""


def test_missing_folder(tmp_path):
    result = run(["racer-validate", "--path", str(tmp_path / "nope")])
    doc = assert_clean_error(result, errors.INVALID_PROJECT, "invalid_project")
    assert doc["error"]["details"]["file"].endswith("nope")


def test_folder_that_is_not_a_project(tmp_path):
    (tmp_path / "README").write_text("hello")
    result = run(["racer", "validate", "--path", str(tmp_path)])
    doc = assert_clean_error(result, errors.INVALID_PROJECT, "invalid_project")
    assert "not a conda-project" in doc["error"]["message"]


def test_broken_yaml_names_file_and_line(project):
    (project / "conda-project.yml").write_text("name: x\nenvironments:\n  default: [\n")
    result = run(["racer-validate", "--path", str(project)])
    doc = assert_clean_error(result, errors.INVALID_PROJECT, "invalid_project")
    details = doc["error"]["details"]
    assert details["file"] == "conda-project.yml"
    assert details["line"] == 4


def test_all_problems_are_reported_at_once(project):
    (project / "conda-project.yml").write_text(
        "environments:\n  default: [environment.yml, missing.yml]\n"
        "commands:\n  web: {cmd: python main.py, environment: nope}\n"
    )
    result = run(["racer", "validate", "--path", str(project)])
    doc = assert_clean_error(result, errors.INVALID_PROJECT, "invalid_project")
    keys = {(p.get("key"), p.get("line")) for p in doc["error"]["details"]["problems"]}
    assert ("name", None) in keys
    assert ("environments.default[1]", 2) in keys
    assert ("commands.web.environment", 4) in keys


def test_bad_port_spec_fails_before_building(project):
    result = run(["racer", "run", "--path", str(project), "--ports", "80a:8000"])
    doc = assert_clean_error(result, errors.USAGE, "usage")
    assert doc["error"]["details"]["ports"] == "80a:8000"


@pytest.mark.parametrize("spec", ["70000:8000", "8080:0", "abc", "8080:8000:9000:1"])
def test_port_specs_out_of_range(project, spec):
    result = run(["racer", "run", "--path", str(project), "--ports", spec])
    assert_clean_error(result, errors.USAGE, "usage")


def test_unknown_switch_is_a_usage_error_without_the_whole_help():
    result = run(["racer-validate", "--no-such-switch"])
    assert_clean_error(result, errors.USAGE, "usage")
    assert result.stderr == "racer-validate: error: Unknown switch --no-such-switch\n"


def test_missing_argument_is_a_usage_error():
    result = run(["racerctl", "containers", "status"])
    assert_clean_error(result, errors.USAGE, "usage")


@pytest.mark.parametrize("output", ["/nonexistent-dir/Dockerfile", "/tmp"])
def test_dockerfile_output_that_cannot_be_written(project, output):
    result = run(["racer", "dockerfile", "--path", str(project), "--output", output])
    assert_clean_error(result, errors.USAGE, "usage")


@pytest.mark.parametrize("spec", ["999.1.1.1:8080:8000", "", "8080:8000,8080:8001"])
def test_port_specs_that_are_refused(project, spec):
    result = run(["racer", "run", "--path", str(project), "--ports", spec])
    assert_clean_error(result, errors.USAGE, "usage")


def test_help_goes_to_stderr():
    result = run(["racer-build", "--help"])
    assert result.returncode == 0
    assert result.stdout == ""
    assert "racer-build" in result.stderr


@pytest.mark.parametrize("command", ["racer-render", "racer-build", "racer-up"])
def test_a_failed_previous_stage_is_passed_on_silently(command):
    failed = {"error": {"code": "invalid_project", "message": "boom", "details": {}}}
    result = run([command], stdin=json.dumps(failed))
    assert result.returncode == errors.INVALID_PROJECT
    assert stdout_json(result) == failed
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["racer-render", "racer-build", "racer-up"])
def test_text_on_stdin_is_not_a_document(command):
    result = run([command], stdin="Error: something\n")
    assert_clean_error(result, errors.BAD_INPUT, "bad_input")


def test_render_is_deterministic(project):
    first = run(["racer", "dockerfile", "--path", str(project)])
    second = run(["racer", "dockerfile", "--path", str(project)])
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert "COPY env/ /opt/env/" in first.stdout
    assert 'CMD ["/bin/sh", "-c", "python main.py"]\n' in first.stdout
    assert first.stdout.rstrip().endswith("COPY app/ /app/")


def test_dockerfile_output_file(project, tmp_path):
    target = tmp_path / "Dockerfile"
    result = run(
        ["racer", "dockerfile", "--path", str(project), "--output", str(target)]
    )
    assert result.returncode == 0, result.stderr
    assert stdout_json(result) == {"output": str(target)}
    assert target.read_text().startswith("# Rendered by racer")


def test_environment_only_project_needs_a_command(tmp_path):
    (tmp_path / "environment.yml").write_text("dependencies: [python=3.11]\n")
    checked = run(["racer", "validate", "--path", str(tmp_path)])
    assert checked.returncode == 0, checked.stderr
    assert stdout_json(checked)["selection"] is None
    result = run(["racer-validate", "--path", str(tmp_path)])
    doc = assert_clean_error(result, errors.USAGE, "usage")
    assert "--command" in doc["error"]["message"]
    result = run(["racer-validate", "--path", str(tmp_path), "--command", "python -V"])
    assert stdout_json(result)["selection"]["cmd"] == "python -V"


def test_variables_with_dollar_signs_are_literal(project):
    (project / "conda-project.yml").write_text(
        "name: t\nenvironments: {default: [environment.yml]}\n"
        "commands: {default: python main.py}\nvariables: {GREETING: 'a $HOME \"b\"'}\n"
    )
    result = run(["racer", "dockerfile", "--path", str(project)])
    assert 'GREETING="a \\$HOME \\"b\\""' in result.stdout


def test_unknown_racerctl_container_is_not_found():
    result = run(["racerctl", "containers", "status", "no-such-container-xyz"])
    assert_clean_error(result, errors.NOT_FOUND, "not_found")


def test_exit_codes_are_distinct():
    codes = [
        errors.OK,
        errors.FAILED,
        errors.USAGE,
        errors.INVALID_PROJECT,
        errors.SOLVE_FAILED,
        errors.BUILD_FAILED,
        errors.RUN_FAILED,
        errors.ENGINE_UNAVAILABLE,
        errors.NOT_FOUND,
        errors.BAD_INPUT,
    ]
    assert len(set(codes)) == len(codes)


def test_a_yaml_alias_bomb_is_refused_quickly(project):
    lines = ["name: x", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("environments: {default: [environment.yml]}")
    (project / "conda-project.yml").write_text("\n".join(lines) + "\n")
    result = run(["racer", "validate", "--path", str(project)], timeout=30)
    doc = assert_clean_error(result, errors.INVALID_PROJECT, "invalid_project")
    assert "aliases" in doc["error"]["message"]
