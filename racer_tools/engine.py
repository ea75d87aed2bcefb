"""The Docker engine, reached through the Docker SDK."""

from __future__ import annotations

import functools

import docker
import docker.errors

from .errors import EngineUnavailable

MANAGED = "racer.managed"
MANAGED_FILTER = {"label": f"{MANAGED}=true"}


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


def platform() -> str:
    """The conda platform of the engine's machine, which the image runs on."""
    arch = client().info().get("Architecture", "x86_64")
    return {"x86_64": "linux-64", "aarch64": "linux-aarch64", "arm64": "linux-aarch64",
            "ppc64le": "linux-ppc64le"}.get(arch, f"linux-{arch}")
