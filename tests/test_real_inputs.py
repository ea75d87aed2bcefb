"""The eight public projects in real-inputs, read as they are.

Each test states what conda-project 0.5.4 reports for the project (see
real-inputs/README.md) and checks that racer reports the same: environments
and their files, commands, the default environment and command, variables,
and an error wherever conda-project fails.
"""

from __future__ import annotations

import pytest
from conftest import REAL_INPUTS

from racer_tools.errors import InvalidProject
from racer_tools.lock import check_locks, locked_records
from racer_tools.project import load_project, require_valid
from racer_tools.render import render_dockerfile
from racer_tools.settings import Settings

REAL = REAL_INPUTS
EXAMPLES = "conda-project-examples"
VALID = [
    f"{EXAMPLES}/cmds-and-vars",
    f"{EXAMPLES}/condarc-settings",
    f"{EXAMPLES}/env-file-only",
    f"{EXAMPLES}/multi-env-files",
    "recipe-chatbot",
    "lembas-server",
    "jhub-apps-from-git-repo-example",
    "wind-turbine-database",
    "racer-test-project",
]


def load(name: str):
    return load_project(REAL / name)


def files_of(project) -> dict:
    return {name: env.files for name, env in project.environments.items()}


def commands_of(project) -> dict:
    return {
        name: (c.cmd, c.environment, c.variables)
        for name, c in project.commands.items()
    }


def warnings_of(project, platform: str = "linux-64") -> list[str]:
    problems = project.warnings + check_locks(project, platform)
    return [f"{p.file}: {p.message}" for p in problems if p.severity == "warning"]


def test_cmds_and_vars():
    project = require_valid(load(f"{EXAMPLES}/cmds-and-vars"))
    cmd = "python -c 'import os;print(os.getenv(\"FOO\"))'"
    assert project.name == "cmds-and-vars"
    assert files_of(project) == {"default": ["environment.yml"]}
    assert commands_of(project) == {
        "default": (cmd, "default", {}),
        "notdefault": (cmd, "default", {"FOO": "baz"}),
    }
    assert (project.default_environment, project.default_command) == (
        "default",
        "default",
    )
    assert project.variables == {"FOO": "bar"}
    assert project.variables_for(project.select("notdefault")) == {"FOO": "baz"}
    assert project.environments["default"].channels == ["defaults"]


def test_condarc_settings_is_an_environment_only_project():
    project = require_valid(load(f"{EXAMPLES}/condarc-settings"))
    assert project.name == "condarc-settings"
    assert files_of(project) == {"default": ["environment.yml"]}
    assert project.commands == {} and project.default_command is None
    assert project.environments["default"].dependencies == [
        "python=3.9",
        "pandas",
        "fsspec=2022",
        "s3fs",
    ]
    # `solver: classic` says nothing about where packages come from.
    assert project.condarc.channel_alias == "https://conda.anaconda.org"


def test_env_file_only_assumes_defaults_like_conda_project():
    project = require_valid(load(f"{EXAMPLES}/env-file-only"))
    assert files_of(project) == {"default": ["environment.yml"]}
    assert project.environments["default"].channels == ["defaults"]
    assert warnings_of(project) == [
        (
            "environment.yml: no environment file lists channels; using 'defaults', "
            "as conda-project does"
        )
    ]


def test_multi_env_files_composes_the_test_environment():
    project = require_valid(load(f"{EXAMPLES}/multi-env-files"))
    assert project.name == "mutli-env-files"
    assert files_of(project) == {
        "default": ["environment.yml"],
        "test": ["environment.yml", "extras.yml"],
    }
    assert project.environments["test"].dependencies == ["python=3.10", "pytest"]
    assert project.default_environment == "default" and project.commands == {}


@pytest.mark.parametrize(
    "name",
    [
        f"{EXAMPLES}/cmds-and-vars",
        f"{EXAMPLES}/multi-env-files",
        "lembas-server",
        "racer-test-project",
        "recipe-chatbot",
    ],
)
def test_locks_conda_project_counts_out_of_date_are_installed_with_a_warning(name):
    project = load(name)
    stale = [w for w in warnings_of(project) if "content hash differs" in w]
    assert len(stale) == sum(1 for e in project.environments.values() if e.lock)
    for env in project.environments.values():
        locked = locked_records(env, project.path / env.lock, "linux-64")
        assert locked.records and all(r.sha256 or r.md5 for r in locked.records)


def test_recipe_chatbot_mixes_string_and_mapping_commands():
    project = require_valid(load("recipe-chatbot"))
    assert commands_of(project) == {
        "chatbot": ("uvicorn backend.main:app --reload", "default", {}),
        "bulk-test": ("python scripts/bulk_test.py", "default", {}),
    }
    assert project.default_command == "chatbot"
    env = project.environments["default"]
    assert env.channels == ["defaults", "conda-forge"]
    assert env.pip == ["judgy", "monsterui", "litellm"]
    assert "pip *" in env.dependencies
    # The lock pins the pip packages too, each with its wheel's hash.
    locked = locked_records(env, project.path / env.lock, "linux-64")
    assert all("--hash=sha256:" in pin for pin in locked.pip)
    assert any(pin.startswith("litellm @ https://") for pin in locked.pip)


def test_lembas_server_has_no_default_environment_named_default():
    project = require_valid(load("lembas-server"))
    assert project.name == "demo-stream"
    assert files_of(project) == {
        "prod": ["environment-prod.yml"],
        "dev": ["environment-dev.yml", "environment-prod.yml"],
    }
    assert (project.default_environment, project.default_command) == ("prod", "prod")
    assert commands_of(project) == {
        "prod": ("fastapi run", "prod", {}),
        "dev": ("fastapi dev", "dev", {}),
        "type-check": ("mypy", "dev", {}),
        "test": ("pytest", "dev", {"PYTHONPATH": "."}),
    }
    assert project.environments["dev"].platforms == ["osx-arm64", "linux-64"]


def test_lembas_server_locks_cover_linux_and_mac_only():
    project = load("lembas-server")
    env = project.environments["prod"]
    with pytest.raises(InvalidProject, match="no packages for win-64"):
        locked_records(env, project.path / env.lock, "win-64")
    assert locked_records(env, project.path / env.lock, "osx-arm64").records


def test_jhub_apps_variables_are_text_and_its_lock_is_current():
    project = require_valid(load("jhub-apps-from-git-repo-example"))
    assert project.variables["JHUB_APP_CONFIG_keep_alive"] == "False"
    assert project.variables["JHUB_APP_CONFIG_public"] == "False"
    assert project.variables["SOMETHING_FOO"] == "bar"
    assert len(project.variables) == 9
    assert commands_of(project)["run-app"][0].endswith("--server=panel")
    assert project.default_command == "run-app"
    assert warnings_of(project) == []
    env = project.environments["default"]
    assert len(locked_records(env, project.path / env.lock, "linux-64").records) == 155


def test_wind_turbine_database_ignores_its_legacy_lock():
    project = require_valid(load("wind-turbine-database"))
    assert commands_of(project) == {
        "notebook": ("jupyter notebook us_wind_turbine_database.ipynb", "default", {}),
        "dashboard": (
            "panel serve us_wind_turbine_database.ipynb --show",
            "default",
            {},
        ),
    }
    assert project.default_command == "notebook"
    assert project.environments["default"].lock is None
    assert warnings_of(project) == [
        (
            "default.conda-lock.yml: this lock is not used: conda-project names locks "
            "conda-lock.default.yml; rename it with "
            "`git mv default.conda-lock.yml conda-lock.default.yml`"
        )
    ]


def test_racer_test_project_is_the_happy_path():
    project = require_valid(load("racer-test-project"))
    assert project.name == "test-project"
    assert commands_of(project) == {"default": ("python main.py", "default", {})}
    assert project.variables == {}
    assert project.environments["default"].dependencies == [
        "python=3.11",
        "fastapi",
        "uvicorn",
    ]


def test_deep_learning_template_fails_on_anaconda_project_commands():
    project = load("deep-learning-template")
    names = [
        "train-gpu",
        "train-cpu",
        "compress-runs",
        "tensorboard",
        "clean-empty-runs",
    ]
    expected = []
    for name in names:
        expected += [
            f"commands.{name}",
            f"commands.{name}.unix",
            f"commands.{name}.env_spec",
        ]
    assert [p.key for p in project.errors] == expected
    with pytest.raises(
        InvalidProject, match=r"conda-project.yml:12 \(commands.train-gpu\)"
    ):
        require_valid(project)


def test_demand_forecasting_agent_lists_package_specs_as_files():
    project = load("demand-forecasting-agent")
    assert project.name == "supply-chain-sam"
    assert [p.key for p in project.warnings] == [
        "channels",
        "platforms",
        "dependencies",
    ]
    missing = [p.message for p in project.errors]
    assert missing[0] == "environment file 'python=3.10' not found"
    assert len(missing) == 16 + 25 + 15
    with pytest.raises(InvalidProject):
        require_valid(project)


@pytest.mark.parametrize("name", VALID)
def test_each_valid_project_renders_a_dockerfile(name):
    project = require_valid(load(name))
    command = project.select() if project.commands else project.select("python -V")
    dockerfile = render_dockerfile(project, command, Settings())
    assert dockerfile.startswith("# Rendered by racer")
    assert '"/bin/sh", "-c"' in dockerfile
