"""Run a built image as the project's one container, replacing an older one."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import re
import secrets
import socket
import time
from urllib.parse import urlparse

import docker.errors

from . import containers, engine
from .errors import BadInput, Conflict, RacerError, RunFailed, UsageError
from .settings import Settings

log = logging.getLogger("racer.up")

PORT_SPEC = re.compile(
    r"^(?:(?P<ip>\d+(?:\.\d+)+):)?(?:(?P<host>\d+):)?(?P<container>\d+)"
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


def _host_ip(text: str, spec: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise UsageError(
            f"'{text}' in '{spec}' is not an IPv4 address", ports=spec
        ) from None


def parse_ports(specs: list[str]) -> dict[str, list]:
    """`8080:8000`, `127.0.0.1:8080:8000`, `8000` or `8000/udp`, as the SDK wants them.

    One container port may be published on several host ports; one host port
    only once.
    """
    ports: dict[str, list] = {}
    taken: set[tuple[int, str]] = set()
    for spec in specs:
        match = PORT_SPEC.match(spec.strip())
        if not match:
            raise UsageError(
                f"'{spec}' is not a port spec; use HOST:CONTAINER, e.g. 8080:8000",
                ports=spec,
            )
        proto = match["proto"] or "tcp"
        container = _port(match["container"], spec)
        host = _port(match["host"], spec) if match["host"] else container
        if (host, proto) in taken:
            raise UsageError(f"host port {host} is given twice", ports=spec)
        taken.add((host, proto))
        binding = (_host_ip(match["ip"], spec), host) if match["ip"] else host
        ports.setdefault(f"{container}/{proto}", []).append(binding)
    return ports


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not ENV_NAME.match(name):
            raise UsageError(f"'{pair}' is not KEY=VALUE", env=pair)
        env[name] = value
    return env


def _replaced(client, ident: str) -> list:
    return client.containers.list(
        all=True,
        filters={"label": [f"racer.identity={ident}", "racer.managed=true"]},
    )


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


@contextlib.contextmanager
def app_lock(ident: str):
    """One deploy of an app at a time, across processes on this machine."""
    folder = Settings.load().cache_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{ident}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _require_racer_image(client, image_id: str) -> None:
    try:
        image = client.images.get(image_id)
    except docker.errors.APIError:
        raise BadInput(f"no image '{image_id}'; build it with racer-build") from None
    if (image.labels or {}).get(engine.BUILT) != "true":
        raise BadInput(f"image '{image_id}' was not built by racer", image=image_id)


def _check_name_free(client, name: str, older: list) -> None:
    try:
        holder = client.containers.get(name)
    except docker.errors.NotFound:
        return
    if holder.id not in {c.id for c in older}:
        raise Conflict(
            f"the name {name} belongs to another container; choose another --name",
            name=name,
        )


def _create(client, image: dict, labels: dict, ports: dict, env: dict, name: str):
    try:
        return client.containers.create(
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


def _start(container, ports: dict, wait: float) -> bool | None:
    try:
        container.start()
    except docker.errors.APIError as exc:
        if _is_port_clash(exc):
            raise Conflict(
                f"a host port is already in use: {exc.explanation}",
                ports=sorted(ports),
                step="start",
            ) from None
        raise RunFailed(
            f"cannot start the container: {exc.explanation}", step="start"
        ) from None
    return _wait_until_answering(container, wait) if wait > 0 else None


def _roll_back(container, image: dict, stopped: list, wait: float) -> None:
    """Put the app back as it was: the new container and image go, the old run.

    The new image took the app's tag; the old container's image gets it back.
    """
    container.remove(force=True)
    client = engine.client()
    with contextlib.suppress(docker.errors.APIError):
        if stopped and image.get("tag"):
            repository, _, tag = image["tag"].rpartition(":")
            client.images.get(stopped[0].attrs["Image"]).tag(repository, tag)
        client.images.remove(image["id"])
    for old in stopped:
        old.start()
        with contextlib.suppress(RacerError):
            _wait_until_answering(old, wait)


def run_container(
    image: dict, labels: dict, ports: dict, env: dict, name: str, wait: float = 30.0
) -> dict:
    """Start the image as the container `name`, replacing the app's older one.

    The older container is stopped, not removed, until the new one answers;
    if the new one fails, the older one runs again.
    """
    client = engine.client()
    _require_racer_image(client, image["id"])
    ident = image["identity"]
    labels = {**labels, "racer.managed": "true", "racer.identity": ident}
    with app_lock(ident):
        older = _replaced(client, ident)
        _check_name_free(client, name, older)
        container = _create(client, image, labels, ports, env, name)
        stopped = [c for c in older if c.status == "running"]
        for old in stopped:
            log.info("stopping the previous container %s", old.name)
            old.stop(timeout=10)
        try:
            answering = _start(container, ports, wait)
            for old in older:
                old.rename(f"{old.name}-replaced-{secrets.token_hex(3)}")
            container.rename(name)
        except (RacerError, docker.errors.APIError) as exc:
            _roll_back(container, image, stopped, wait)
            if isinstance(exc, RacerError):
                raise
            raise RunFailed(
                f"cannot start the container: {exc.explanation}", step="start"
            ) from None
        for old in older:
            old_image = old.attrs.get("Image")
            old.remove(force=True)
            containers.remove_image_if_unused(old_image)
    container.reload()
    doc = containers.describe(container)
    doc["answering"] = answering
    return doc
