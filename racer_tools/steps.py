"""The pipeline's steps as plain functions over one JSON document.

`racer-validate | racer-render | racer-build | racer-up` pass this document
along stdout; `racer run` and the server call the same functions in-process.
"""

from __future__ import annotations

from . import build, up
from .errors import BadInput
from .project import Project, load_project, require_valid
from .render import render_dockerfile
from .settings import Settings


def validate(path: str, command: str | None = None, environment: str | None = None,
             source: dict | None = None) -> dict:
    """Check the project and pick what will run; raises on any error."""
    project = require_valid(load_project(path))
    chosen = project.select(command, environment)
    return {
        "project": project.to_json(),
        "selection": {
            "command": chosen.name,
            "cmd": chosen.cmd,
            "environment": chosen.environment,
            "variables": chosen.variables,
        },
        "source": source or {"origin": str(project.path)},
        "warnings": [p.to_json() for p in project.warnings],
    }


def _reload(doc: dict) -> tuple[Project, object]:
    try:
        path = doc["project"]["path"]
        selection = doc["selection"]
        command, environment = selection["command"], selection["environment"]
        cmd = selection["cmd"]
    except (KeyError, TypeError):
        raise BadInput("the input is not a racer-validate document "
                       "(it lacks project.path or selection)") from None
    project = require_valid(load_project(path))
    chosen = project.select(command if command in project.commands else cmd, environment)
    return project, chosen


def render(doc: dict, settings: Settings, overrides: dict | None = None) -> dict:
    project, chosen = _reload(doc)
    ports = [int(p.split("/")[0]) for p in doc.get("expose", [])]
    dockerfile = render_dockerfile(project, chosen, settings, overrides, ports)
    return {**doc, "dockerfile": dockerfile, "base_image": settings.base_image}


def build_image(doc: dict, settings: Settings) -> dict:
    if "dockerfile" not in doc:
        raise BadInput("the input has no dockerfile; pipe it through racer-render first")
    project, chosen = _reload(doc)
    image = build.build_image(project, chosen.name, chosen.environment, doc["dockerfile"],
                              settings, doc.get("source"))
    return {**doc, "image": image}


def run_image(doc: dict, ports: list[str], env: list[str], name: str | None = None,
              wait: float = 30.0) -> dict:
    if "image" not in doc:
        raise BadInput("the input has no image; pipe it through racer-build first")
    port_map = up.parse_ports(ports)
    env_map = up.parse_env(env)
    image = doc["image"]
    project = doc["project"]
    labels = {
        "racer.project": project["name"],
        "racer.project-path": project["path"],
        "racer.command": doc["selection"]["command"],
        "racer.environment": doc["selection"]["environment"],
    }
    for key, value in (doc.get("source") or {}).items():
        labels[f"racer.source.{key}"] = str(value)
    container_name = name or f"racer-{build.slug(project['name'])}-{image['identity'][:6]}"
    container = up.run_container(image, labels, port_map, env_map, container_name, wait)
    return {**doc, "container": container}
