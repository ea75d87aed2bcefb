"""Render a project's Dockerfile: a pure function of the project and settings.

Inputs are sorted, so the same project always renders the same bytes and the
engine's layer cache hits.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from .build import BUILD_LABELS
from .project import Command, Project
from .settings import APP_DIR, ENV_PREFIX, Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _double_quoted(value) -> str:
    # A Dockerfile's ENV and LABEL expand `$`; a literal one must be escaped.
    text = json.dumps(str(value))
    return text.replace("$", "\\$")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["dq"] = _double_quoted
    env.policies["json.dumps_kwargs"] = {"sort_keys": True}
    return env


def render_dockerfile(
    project: Project,
    command: Command,
    settings: Settings,
    overrides: dict | None = None,
    ports: list[int] | None = None,
    template: str = "Dockerfile.j2",
) -> str:
    environment = project.environments[command.environment]
    variables = project.variables_for(command, overrides)
    return (
        _environment()
        .get_template(template)
        .render(
            project=project.name,
            base_image=settings.base_image,
            env_prefix=ENV_PREFIX,
            app_dir=APP_DIR,
            environment=command.environment,
            command_name=command.name,
            cmd=["/bin/sh", "-c", command.cmd],
            pip=environment.pip,
            variables=sorted(variables.items()),
            ports=sorted(set(ports or [])),
            build_labels=BUILD_LABELS,
        )
    )
