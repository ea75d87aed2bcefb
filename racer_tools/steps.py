"""The pipeline's steps as plain functions over one JSON document.

`racer-validate | racer-render | racer-build | racer-up` pass this document
along stdout; `racer run` and the server call the same functions in-process.
"""

from __future__ import annotations

from . import build, engine, gitsource, lock, up
from .errors import BadInput, InvalidProject, UsageError
from .project import (
    ENVIRONMENT_FILES,
    PROJECT_FILES,
    Project,
    load_project,
    require_valid,
)
from .render import render_dockerfile
from .settings import Settings


def fetch_source(
    path: str | None,
    git: str | None,
    ref: str | None = None,
    subdir: str | None = None,
    allow_local: bool = False,
    settings: Settings | None = None,
) -> tuple[str, dict | None]:
    """The project folder to read: the path given, or a checkout of a git URL."""
    if not git:
        if ref or subdir:
            raise UsageError("--ref and --subdir go with --git")
        return path or ".", None
    cache = (settings or Settings.load()).cache_dir / "git"
    folder, info = gitsource.fetch(
        git, ref=ref, subdir=subdir, allow_local=allow_local, cache_dir=cache
    )
    if subdir is None and not any(
        (folder / name).is_file() for name in PROJECT_FILES + ENVIRONMENT_FILES
    ):
        raise InvalidProject(gitsource.no_project_message(folder, info))
    origin = info["url"] + (f"#{info['subdir']}" if info.get("subdir") else "")
    return str(folder), {"origin": origin, **{f"git-{k}": v for k, v in info.items()}}


def validate(
    path: str,
    command: str | None = None,
    environment: str | None = None,
    source: dict | None = None,
    settings: Settings | None = None,
    require_command: bool = True,
) -> dict:
    """Check the project and pick what will run; raises on any error.

    Without `require_command`, a project that names no command is still valid;
    its selection is then None.
    """
    project = load_project(path)
    project.problems.extend(
        lock.check_locks(project, engine.target_platform(settings or Settings.load()))
    )
    require_valid(project)
    if command is None and project.default_command is None and not require_command:
        selection = None
    else:
        chosen = project.select(command, environment)
        selection = {
            "command": chosen.name,
            "cmd": chosen.cmd,
            "environment": chosen.environment,
            "variables": chosen.variables,
        }
    return {
        "project": project.to_json(),
        "selection": selection,
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
        raise BadInput(
            "the input is not a racer-validate document "
            "(it lacks project.path or selection)"
        ) from None
    project = require_valid(load_project(path))
    chosen = project.select(
        command if command in project.commands else cmd, environment
    )
    return project, chosen


def render(doc: dict, settings: Settings, overrides: dict | None = None) -> dict:
    project, chosen = _reload(doc)
    ports = [int(p.split("/")[0]) for p in doc.get("expose", [])]
    dockerfile = render_dockerfile(project, chosen, settings, overrides, ports)
    return {**doc, "dockerfile": dockerfile, "base_image": settings.base_image}


def build_image(doc: dict, settings: Settings, relock: bool = False) -> dict:
    if "dockerfile" not in doc:
        raise BadInput(
            "the input has no dockerfile; pipe it through racer-render first"
        )
    project, chosen = _reload(doc)
    image = build.build_image(
        project,
        chosen.name,
        chosen.environment,
        doc["dockerfile"],
        settings,
        doc.get("source"),
        relock,
    )
    return {**doc, "image": image}


def require_variables(doc: dict, env: dict) -> None:
    """Variables the project declares without a value must be given with -e."""
    project, chosen = _reload(doc)
    missing = project.missing_variables(chosen, env)
    if missing:
        raise UsageError(
            "these variables need a value; pass -e NAME=VALUE: " + ", ".join(missing),
            variables=missing,
        )


def run_image(
    doc: dict,
    ports: list[str],
    env: list[str],
    name: str | None = None,
    wait: float = 30.0,
) -> dict:
    if "image" not in doc:
        raise BadInput("the input has no image; pipe it through racer-build first")
    port_map = up.parse_ports(ports)
    env_map = up.parse_env(env)
    require_variables(doc, env_map)
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
    container_name = (
        name or f"racer-{build.slug(project['name'])}-{image['identity'][:6]}"
    )
    container = up.run_container(image, labels, port_map, env_map, container_name, wait)
    return {**doc, "container": container}
