"""Run a built image as the project's one container, replacing an older one."""

from __future__ import annotations

import logging
import re
import secrets
import socket
import time
from urllib.parse import urlparse

import docker.errors

from . import containers, engine
from .errors import Conflict, RunFailed, UsageError

log = logging.getLogger("racer.up")

PORT_SPEC = re.compile(
    r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d+):)?(?P<container>\d+)"
    r"(?:/(?P<proto>tcp|udp))?$"
)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _port(text: str, spec: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise UsageError(
            f"port {port} in '{spec}' is not between 1 and 65535", ports=spec
        )
    return port


def parse_ports(specs: list[str]) -> dict[str, tuple[str, int] | int]:
    """`8080:8000`, `127.0.0.1:8080:8000`, `8000` or `8000/udp`, as the SDK wants them."""
    ports: dict = {}
    for spec in specs:
        match = PORT_SPEC.match(spec.strip())
        if not match:
            raise UsageError(
                f"'{spec}' is not a port spec; use HOST:CONTAINER, e.g. 8080:8000",
                ports=spec,
            )
        container = _port(match["container"], spec)
        host = _port(match["host"], spec) if match["host"] else container
        key = f"{container}/{match['proto'] or 'tcp'}"
        ports[key] = (match["ip"], host) if match["ip"] else host
    return ports


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not ENV_NAME.match(name):
            raise UsageError(f"'{pair}' is not KEY=VALUE", env=pair)
        env[name] = value
    return env


def _replaced(client, ident: str, keep_id: str):
    return [
        c
        for c in client.containers.list(
            all=True,
            filters={"label": [f"racer.identity={ident}", "racer.managed=true"]},
        )
        if c.id != keep_id
    ]


def _is_port_clash(exc: docker.errors.APIError) -> bool:
    text = str(exc.explanation or exc).lower()
    return "port is already allocated" in text or "address already in use" in text


def _engine_is_local() -> bool:
    return engine.client().api.base_url.startswith(("http+unix", "http+docker"))


def _probe_addresses(container) -> list[tuple[str, int]]:
    """Where to knock for each published TCP port.

    The engine's port proxy accepts connections on the host port even when
    nothing listens inside, so a local engine is asked at the container's own
    address; a remote one only through its published ports.
    """
    settings = container.attrs["NetworkSettings"]
    published = {
        k: b
        for k, b in (settings.get("Ports") or {}).items()
        if k.endswith("/tcp") and b
    }
    if _engine_is_local():
        ips = [n.get("IPAddress") for n in (settings.get("Networks") or {}).values()]
        ip = next((i for i in ips if i), None)
        if ip:
            return [(ip, int(k.split("/")[0])) for k in published]
    base = engine.client().api.base_url
    host = urlparse(base.replace("tcp://", "http://")).hostname or "127.0.0.1"
    return [(host, int(b[0]["HostPort"])) for b in published.values()]


def _wait_until_answering(container, wait: float) -> bool:
    """True once every published TCP port accepts a connection.

    Without published ports, a second of running stands in for answering.
    """
    started = time.monotonic()
    deadline = started + wait
    while time.monotonic() < deadline:
        container.reload()
        if container.status not in ("running", "created"):
            tail = container.logs(tail=20).decode(errors="replace").strip()
            raise RunFailed(
                f"the container stopped right after starting (exit code "
                f"{container.attrs['State'].get('ExitCode')}): "
                + (tail.splitlines()[-1] if tail else "no output"),
                step="start",
                log=tail.splitlines(),
            )
        addresses = _probe_addresses(container)
        if addresses and all(_connects(host, port) for host, port in addresses):
            return True
        if not addresses and time.monotonic() - started >= 1.0:
            return True
        time.sleep(0.1)
    return False


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def run_container(
    image: dict, labels: dict, ports: dict, env: dict, name: str, wait: float = 30.0
) -> dict:
    """Start the image as the container `name`; an older one of the app goes away."""
    client = engine.client()
    ident = image["identity"]
    labels = {**labels, "racer.managed": "true", "racer.identity": ident}
    try:
        container = client.containers.create(
            image["id"],
            name=f"{name}-{secrets.token_hex(3)}",
            labels=labels,
            ports=ports,
            environment=env,
            init=True,
            detach=True,
            restart_policy={"Name": "unless-stopped"},
        )
    except docker.errors.APIError as exc:
        raise RunFailed(
            f"cannot create the container: {exc.explanation}", step="create"
        ) from None

    older = _replaced(client, ident, container.id)
    was_running = [c for c in older if c.status == "running"]
    for old in was_running:
        log.info("stopping the previous container %s", old.name)
        old.stop(timeout=10)
    try:
        container.start()
    except docker.errors.APIError as exc:
        container.remove(force=True)
        for old in was_running:
            old.start()
        if _is_port_clash(exc):
            raise Conflict(
                f"a host port is already in use: {exc.explanation}",
                ports=sorted(str(p) for p in ports.values()),
                step="start",
            ) from None
        raise RunFailed(
            f"cannot start the container: {exc.explanation}", step="start"
        ) from None

    for old in older:
        old_image = old.attrs.get("Image")
        old.remove(force=True)
        containers.remove_image_if_unused(old_image)
    try:
        container.rename(name)
        container.reload()
    except docker.errors.APIError:
        # An app that exits at once is being restarted by the engine, which
        # refuses the rename meanwhile.
        tail = container.logs(tail=20).decode(errors="replace").strip()
        container.remove(force=True)
        raise RunFailed(
            "the container stopped right after starting: "
            + (tail.splitlines()[-1] if tail else "no output"),
            step="start",
            log=tail.splitlines(),
        ) from None

    answering = None
    if wait > 0:
        try:
            answering = _wait_until_answering(container, wait)
        except RunFailed:
            container.remove(force=True)
            raise
    doc = containers.describe(container)
    doc["answering"] = answering
    return doc
