"""racer's containers on the engine: list, inspect, logs, stop, remove, clean up.

Only containers carrying racer's label are ever touched; any other id is
treated as unknown.
"""

from __future__ import annotations

import re

import docker.errors

from . import engine
from .engine import BUILT, BUILT_FILTER, MANAGED, MANAGED_FILTER
from .errors import Conflict, NotFound, UsageError

EXIT_STATUS = re.compile(r"^Exited \((-?\d+)\)")


def _published(bindings: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    """`{"8000/tcp": ["0.0.0.0:8080"]}` from (container port, host ip, host port)."""
    published: dict[str, set] = {}
    for port, ip, host_port in bindings:
        # The engine lists an IPv6 twin of each all-interfaces binding; one will do.
        if ip != "::" and host_port:
            published.setdefault(port, set()).add(f"{ip or '0.0.0.0'}:{host_port}")
    return {port: sorted(hosts) for port, hosts in sorted(published.items())}


def _document(*, id, name, image, status, exit_code, started_at, labels, ports) -> dict:
    return {
        "id": id,
        "short_id": id[:12],
        "name": name,
        "image": image,
        "status": status,
        "exit_code": exit_code if status == "exited" else None,
        "started_at": started_at,
        "project": labels.get("racer.project"),
        "command": labels.get("racer.command"),
        "environment": labels.get("racer.environment"),
        "ports": ports,
        "urls": [
            f"http://localhost:{hosts[0].rsplit(':', 1)[1]}" for hosts in ports.values()
        ],
    }


def describe(container) -> dict:
    """A container as racer shows it, from the engine's full inspection."""
    attrs = container.attrs
    state = attrs.get("State", {})
    bindings = [
        (port, b.get("HostIp"), b.get("HostPort"))
        for port, binds in (attrs.get("NetworkSettings", {}).get("Ports") or {}).items()
        for b in binds or []
    ]
    return _document(
        id=container.id,
        name=container.name,
        image=(attrs.get("Config") or {}).get("Image"),
        status=container.status,
        exit_code=state.get("ExitCode"),
        started_at=state.get("StartedAt"),
        labels=container.labels or {},
        ports=_published(bindings),
    )


def _summarize(entry: dict) -> dict:
    """The same document from the engine's list entry, with no call per container."""
    status = entry.get("State", "")
    exit_code = None
    if status == "exited":
        match = EXIT_STATUS.match(entry.get("Status", ""))
        exit_code = int(match.group(1)) if match else None
    bindings = [
        (f"{p['PrivatePort']}/{p['Type']}", p.get("IP"), str(p.get("PublicPort", "")))
        for p in entry.get("Ports") or []
    ]
    return _document(
        id=entry["Id"],
        name=(entry.get("Names") or ["/"])[0].lstrip("/"),
        image=entry.get("Image"),
        status=status,
        exit_code=exit_code,
        started_at=None,
        labels=entry.get("Labels") or {},
        ports=_published(bindings),
    )


def list_containers(all: bool = True) -> list[dict]:
    found = engine.client().api.containers(all=all, filters=MANAGED_FILTER)
    return sorted(
        (_summarize(c) for c in found), key=lambda c: (c["project"] or "", c["name"])
    )


def get(container_id: str):
    """A racer container by id, short id or name; anything else is not found."""
    if not container_id.strip():
        raise UsageError("a container id or name is required")
    try:
        container = engine.client().containers.get(container_id)
    except docker.errors.NotFound:
        raise NotFound(
            f"no racer container '{container_id}'", container=container_id
        ) from None
    except docker.errors.APIError as exc:
        raise NotFound(
            f"no racer container '{container_id}': {exc.explanation}",
            container=container_id,
        ) from None
    if (container.labels or {}).get(MANAGED) != "true":
        # The same answer as for no container at all: others' are not ours to show.
        raise NotFound(f"no racer container '{container_id}'", container=container_id)
    return container


def status(container_id: str) -> dict:
    container = get(container_id)
    doc = describe(container)
    labels = container.labels or {}
    doc["labels"] = {k: v for k, v in sorted(labels.items()) if k.startswith("racer.")}
    return doc


def logs(
    container_id: str,
    tail: int | None = None,
    since: int | None = None,
    follow: bool = False,
):
    """The container's output: bytes, or an iterator of chunks when following."""
    container = get(container_id)
    return container.logs(
        stdout=True,
        stderr=True,
        tail=tail if tail is not None else "all",
        since=since,
        follow=follow,
        stream=follow,
    )


def stop(container_id: str, timeout: int = 10) -> dict:
    container = get(container_id)
    container.stop(timeout=timeout)
    container.reload()
    return describe(container)


def remove(container_id: str, force: bool = False) -> dict:
    container = get(container_id)
    if container.status == "running" and not force:
        raise Conflict(
            f"container {container.name} is running; stop it first or use --force",
            container=container.name,
        )
    doc = describe(container)
    image = container.attrs.get("Image")
    container.remove(force=force)
    remove_image_if_unused(image)
    return doc


def remove_image_if_unused(image_id: str | None) -> None:
    """Drop an image racer built once no container uses it, its tag with it."""
    if not image_id:
        return
    client = engine.client()
    try:
        image = client.images.get(image_id)
        if (image.labels or {}).get(BUILT) != "true" or client.containers.list(
            all=True, filters={"ancestor": image_id}
        ):
            return
        client.images.remove(image_id, force=len(image.tags) > 1)
    except docker.errors.APIError:
        pass


def cleanup() -> dict:
    """Remove stopped racer containers and the untagged images they leave."""
    client = engine.client()
    removed = []
    for status_name in ("exited", "created", "dead"):
        for container in client.containers.list(
            all=True, filters={**MANAGED_FILTER, "status": status_name}
        ):
            image = container.attrs.get("Image")
            removed.append(describe(container))
            container.remove()
            remove_image_if_unused(image)
    images = client.images.list(filters={"dangling": True, **BUILT_FILTER})
    for image in images:
        remove_image_if_unused(image.id)
    return {"removed": removed, "count": len(removed)}
