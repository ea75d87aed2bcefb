"""Every folder under tests/corpus is a project and the exact verdict on it.

`expected.json` holds the problems racer must report (severity, file, key,
line, message, in order) and, for a project without errors, everything
racer reads from it. A case may name a `platform`: its locks are then
checked for that platform too, as a build would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from racer_tools.errors import INVALID_PROJECT, USAGE, InvalidProject
from racer_tools.lock import check_locks
from racer_tools.project import load_project, require_valid

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file())


def read_case(case: str) -> tuple[Path, dict]:
    expected = json.loads((CORPUS / case / "expected.json").read_text())
    return CORPUS / case / expected.get("path", "."), expected


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_problems_are_exactly_the_expected_ones(case):
    folder, expected = read_case(case)
    project = load_project(folder)
    problems = [p.to_json() for p in project.problems]
    if "platform" in expected:
        problems += [p.to_json() for p in check_locks(project, expected["platform"])]
    assert problems == expected["problems"]


@pytest.mark.parametrize("case", CASES)
def test_a_valid_project_reads_as_expected(case):
    folder, expected = read_case(case)
    project = load_project(folder)
    if "project" not in expected:
        with pytest.raises(InvalidProject) as raised:
            require_valid(project)
        assert raised.value.problems == [p.to_json() for p in project.problems]
        return
    doc = require_valid(project).to_json()
    assert doc.pop("path") == str(folder.resolve())
    assert doc == expected["project"]


@pytest.mark.parametrize("case", CASES)
def test_every_error_names_its_file(case):
    folder, expected = read_case(case)
    for problem in expected["problems"]:
        assert problem["severity"] in ("error", "warning")
        assert (folder / problem["file"]).is_file()


def test_a_yaml_error_points_at_its_line():
    project = load_project(CORPUS / "bad-yaml")
    [problem] = project.errors
    assert (problem.file, problem.line) == ("conda-project.yml", 8)


def test_yaml_1_2_values_become_the_text_conda_project_stores():
    project = load_project(CORPUS / "variables-yaml12")
    assert project.variables["DEBUG"] == "yes"
    assert project.variables["MODE"] == "755"
    assert project.variables["ENABLED"] == "True"


# Running a project's command ------------------------------------------------------


def test_command_variables_override_project_ones_and_the_user_wins():
    project = load_project(CORPUS / "mapping-commands")
    shout = project.select("shout")
    assert project.variables_for(shout) == {
        "GREETING": "HELLO",
        "PORT": "8000",
        "VOLUME": "11",
    }
    assert project.variables_for(shout, {"GREETING": "hi", "TOKEN": "t"}) == {
        "GREETING": "hi",
        "PORT": "8000",
        "TOKEN": "t",
        "VOLUME": "11",
    }
    assert project.missing_variables(shout) == ["TOKEN"]
    assert project.missing_variables(shout, {"TOKEN": "t"}) == []


def test_environment_file_variables_are_not_set():
    project = load_project(CORPUS / "env-file-variables")
    assert project.variables_for(project.select()) == {"FROM_PROJECT": "project"}


def test_a_command_named_default_wins_over_the_first():
    project = load_project(CORPUS / "default-not-first")
    assert project.select().name == "default"
    assert project.select("test").cmd == "pytest"


def test_an_environment_only_project_needs_a_literal_command():
    project = load_project(CORPUS / "env-only")
    with pytest.raises(Exception, match="--command"):
        project.select()
    chosen = project.select("flask run --port 8000")
    assert (chosen.cmd, chosen.environment) == ("flask run --port 8000", "default")


def test_a_shell_command_runs_beside_named_ones_but_a_misspelt_name_fails():
    project = load_project(CORPUS / "minimal")
    assert project.select("python -m http.server 9000").environment == "default"
    with pytest.raises(Exception, match="no command 'serv'"):
        project.select("serv")


def test_an_environment_can_be_chosen_for_a_command():
    project = load_project(CORPUS / "multi-file-composition")
    assert project.select("run", "test").environment == "test"
    with pytest.raises(Exception, match="no environment 'docs'"):
        project.select("run", "docs")


# The racer-validate command --------------------------------------------------------


def run_validate(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(CORPUS.parents[1])}
    code = "from racer_tools.commands.validate import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "--path", str(folder), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "case",
    ["bad-yaml", "forbidden-command-keys", "missing-env-file", "bad-variable-name"],
)
def test_validate_reports_errors_as_one_json_document_and_one_line(case):
    result = run_validate(CORPUS / case)
    assert result.returncode == INVALID_PROJECT
    doc = json.loads(result.stdout)
    _, expected = read_case(case)
    assert doc["error"]["code"] == "invalid_project"
    assert doc["error"]["details"]["problems"] == expected["problems"]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("racer-validate: error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("case", "args"),
    [("minimal", []), ("unknown-keys", []), ("env-only", ["--command", "flask run"])],
)
def test_validate_passes_a_valid_project_on(case, args):
    result = run_validate(CORPUS / case, *args)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    _, expected = read_case(case)
    assert doc["project"]["environments"] == expected["project"]["environments"]
    assert doc["warnings"] == [
        p for p in expected["problems"] if p["severity"] == "warning"
    ]
    assert "Traceback" not in result.stderr


def test_validate_asks_for_a_command_where_the_project_names_none():
    result = run_validate(CORPUS / "env-only")
    assert result.returncode == USAGE
    assert json.loads(result.stdout)["error"]["code"] == "usage"
    assert result.stderr.count("\n") == 1 and "--command" in result.stderr
