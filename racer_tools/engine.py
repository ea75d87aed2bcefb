"""The Docker engine, reached through the Docker SDK."""

from __future__ import annotations

import functools

import docker
import docker.errors

from .errors import EngineUnavailable

# Containers racer runs carry MANAGED, set when racer creates them. Images carry
# BUILT instead: a label on an image is inherited by every container made from
# it, and a plain `docker run` of a racer image is not racer's to manage.
MANAGED = "racer.managed"
BUILT = "racer.built"
MANAGED_FILTER = {"label": f"{MANAGED}=true"}
BUILT_FILTER = {"label": f"{BUILT}=true"}


@functools.cache
def client() -> docker.DockerClient:
    """One client per process; a clear error where no engine answers."""
    try:
        engine = docker.from_env(timeout=120)
        engine.ping()
    except docker.errors.DockerException as exc:
        raise EngineUnavailable(
            "the Docker engine does not answer; start it (or set DOCKER_HOST): "
            + " ".join(str(exc).split())[:200]
        ) from None
    return engine


@functools.cache
def platform() -> str:
    """The conda platform of the engine's machine, which the image runs on."""
    arch = client().info().get("Architecture", "x86_64")
    return {
        "x86_64": "linux-64",
        "aarch64": "linux-aarch64",
        "arm64": "linux-aarch64",
        "ppc64le": "linux-ppc64le",
    }.get(arch, f"linux-{arch}")


def target_platform(settings) -> str:
    """The platform to solve for: the setting, else the engine's, else linux-64."""
    if settings.platform:
        return settings.platform
    try:
        return platform()
    except EngineUnavailable:
        return "linux-64"
