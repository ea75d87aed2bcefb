"""Build a project's image: stage its environment, then `docker build`."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import docker.errors

from . import conda, engine, lock
from .context import write_context
from .errors import BuildFailed
from .project import Project
from .settings import Settings

log = logging.getLogger("racer.build")

STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})$")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# Labels racer-build fills in through build arguments of the same Dockerfile
# step, rather than the engine's `labels` option, which adds one step each.
BUILD_LABELS = {
    "racer.identity": "RACER_IDENTITY",
    "racer.project-path": "RACER_PROJECT_PATH",
    "racer.platform": "RACER_PLATFORM",
    "racer.env-key": "RACER_ENV_KEY",
    "racer.packages": "RACER_PACKAGES",
    "racer.source.origin": "RACER_SOURCE_ORIGIN",
    "racer.source.git-url": "RACER_GIT_URL",
    "racer.source.git-ref": "RACER_GIT_REF",
    "racer.source.git-commit": "RACER_GIT_COMMIT",
    "racer.source.git-subdir": "RACER_GIT_SUBDIR",
}
# pip's own settings, handed to the build so a private index works there too.
PIP_SETTINGS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST")


def slug(name: str) -> str:
    """A project's name as Docker accepts it in image and container names."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].rstrip("-")
    return text or "project"


def identity(project: Project, command_name: str, source: str | None = None) -> str:
    """What makes two deploys 'the same app': where it comes from and its command."""
    origin = source or str(project.path)
    return hashlib.sha256(f"{origin}\0{command_name}".encode()).hexdigest()[:10]


def image_tag(project: Project, ident: str) -> str:
    return f"racer/{slug(project.name)}:{ident}"


def _stream_build(api, context, tag: str, buildargs: dict, settings: Settings) -> str:
    step_images: list[str] = []
    tail: list[str] = []
    image_id = None
    step = "the start"
    try:
        for chunk in api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            buildargs=buildargs,
            network_mode="host",
            timeout=settings.build_timeout,
        ):
            if "stream" in chunk:
                for line in ANSI_ESCAPE.sub("", chunk["stream"]).splitlines():
                    if line.strip():
                        log.info("%s", line)
                        tail = (tail + [line])[-20:]
                        if line.startswith("Step "):
                            step = line.split(" : ", 1)[0]
                        match = STEP_IMAGE.match(line)
                        if match:
                            step_images.append(match.group(1))
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                output = [t for t in tail if not t.startswith((" --->", "Step "))]
                raise BuildFailed(
                    f"the image build failed at {step.lower()}: "
                    + chunk["error"].strip().splitlines()[-1]
                    + (f" (last output: {output[-1].strip()})" if output else ""),
                    step="docker build",
                    log=tail,
                )
    except (docker.errors.APIError, docker.errors.BuildError) as exc:
        _remove_step_images(api, step_images)
        raise BuildFailed(
            f"the image build failed: {exc.explanation if hasattr(exc, 'explanation') else exc}",
            step="docker build",
            log=tail,
        ) from None
    except BuildFailed:
        _remove_step_images(api, step_images)
        raise
    return image_id or api.inspect_image(tag)["Id"]


def _remove_step_images(api, images: list[str]) -> None:
    # The legacy builder keeps each finished step as an untagged image; after a
    # failure nothing will ever use them.
    for image in reversed(images):
        try:
            api.remove_image(image, noprune=False)
        except docker.errors.APIError:
            pass


def pip_settings(requirements: list[str]) -> dict:
    if not requirements:
        return {}
    return {name: os.environ[name] for name in PIP_SETTINGS if os.environ.get(name)}


def stage_environment(
    project: Project,
    environment: str,
    settings: Settings,
    platform: str,
    relock: bool = False,
):
    """Stage the environment from its lock where it has one, else by solving.

    Returns the staged environment, the pip requirements and any warnings.
    """
    env = project.environments[environment]
    if relock:
        relock_environment(project, environment, settings, platform)
        env.lock = lock.lock_path(project.path, env.name).name
    if env.lock:
        path = project.path / env.lock
        locked = lock.locked_records(env, path, platform)
        staged = conda.stage(
            env,
            project.condarc,
            settings,
            platform,
            locked_records=locked.records,
            lock_text=path.read_text(),
        )
        return staged, locked.pip or env.pip, [w.to_json() for w in locked.warnings]
    return conda.stage(env, project.condarc, settings, platform), env.pip, []


def relock_environment(
    project: Project, environment: str, settings: Settings, platform: str
) -> Path:
    """Solve the environment anew and write its lock next to the project."""
    env = project.environments[environment]
    channels = conda.resolve_channels(env, project.condarc)
    records = conda.solve(env, channels, settings, project.condarc, platform)
    written = lock.write_lock(
        records, env, platform, lock.lock_path(project.path, env.name)
    )
    log.warning("racer: wrote %s", written.name)
    return written


def build_image(
    project: Project,
    command_name: str,
    environment: str,
    dockerfile: str,
    settings: Settings,
    source: dict | None = None,
    relock: bool = False,
) -> dict:
    """Stage the environment, build the image, and describe the result."""
    api = engine.client().api
    platform = engine.target_platform(settings)
    staged, requirements, warnings = stage_environment(
        project, environment, settings, platform, relock
    )

    ident = identity(project, command_name, (source or {}).get("origin"))
    tag = image_tag(project, ident)
    labels = {
        "racer.identity": ident,
        "racer.project-path": str(project.path),
        "racer.env-key": staged.key,
        "racer.platform": platform,
        "racer.packages": json.dumps(
            [f"{p['name']}={p['version']}={p['build']}" for p in staged.packages]
        ),
    }
    for key, value in (source or {}).items():
        if value is not None:
            labels[f"racer.source.{key}"] = str(value)
    buildargs = {BUILD_LABELS[k]: v for k, v in labels.items() if k in BUILD_LABELS}

    log.info("building %s", tag)
    with write_context(
        dockerfile, staged.prefix, project.path, requirements
    ) as context:
        image_id = _stream_build(
            api, context, tag, {**buildargs, **pip_settings(requirements)}, settings
        )
    return {
        "id": image_id,
        "tag": tag,
        "identity": ident,
        "platform": platform,
        "environment": staged.to_json(),
        "warnings": warnings,
    }
