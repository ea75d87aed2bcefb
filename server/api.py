"""The endpoints: each reads its input, calls racer's own steps, returns a dict.

Nothing here deploys or inspects containers itself; the work is done by
racer_tools.steps and racer_tools.containers, the same functions the commands
call. Errors are RacerErrors; app.py turns them into JSON answers.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator

import docker.errors
from bottle import request, response

from racer_tools import __version__, build, containers, engine, steps, up
from racer_tools.errors import BadInput, NotFound
from racer_tools.project import load_project
from racer_tools.settings import Settings

from .config import ServerConfig
from .inputs import (
    json_body,
    optional_text,
    query_flag,
    query_int,
    text_list,
    variables,
    wait_seconds,
)
from .sources import Source, project_source

# Docker's own rule for container names.
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
MAX_TAIL = 1_000_000
MAX_SINCE = 10**11
MAX_STOP_TIMEOUT = 3600
# What steps.run_image labels a container with, besides racer.source.*.
RUN_LABELS = (
    "racer.project",
    "racer.project-path",
    "racer.command",
    "racer.environment",
)


class ProjectLocks:
    """One lock per app, so two deploys of it never build or replace at once.

    Locks are never dropped: one per app deployed since the server started.
    """

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    @contextlib.contextmanager
    def hold(self, doc: dict) -> Iterator[None]:
        # What build.identity hashes: the app's origin and its command.
        key = (str(doc["source"]["origin"]), str(doc["selection"]["command"]))
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


def _log_lines(chunks) -> Iterator[bytes]:
    """Engine output chunks as one JSON document per line."""
    pending = b""
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield _ndjson({"line": line.decode("utf-8", errors="replace")})
    if pending:
        yield _ndjson({"line": pending.decode("utf-8", errors="replace")})


def _ndjson(doc: dict) -> bytes:
    return (json.dumps(doc) + "\n").encode()


def _run_options(body: dict) -> tuple[list[str], list[str], str | None, float]:
    """Ports, variables, name and wait, checked before any slow work."""
    ports, env = text_list(body, "ports"), variables(body)
    up.parse_ports(ports)
    up.parse_env(env)
    name = optional_text(body, "name")
    if name is not None and not CONTAINER_NAME.match(name):
        raise BadInput(
            f"'{name}' is not a container name: use letters, digits, '_', '.' and '-'",
            field="name",
        )
    return ports, env, name, wait_seconds(body)


def _racer_image(ref: str):
    try:
        image = engine.client().images.get(ref)
    except docker.errors.APIError:
        raise NotFound(f"no racer image '{ref}'", image=ref) from None
    if (image.labels or {}).get(engine.BUILT) != "true":
        raise NotFound(f"no racer image '{ref}' (racer did not build it)", image=ref)
    return image


def _document_for_image(image) -> dict:
    """The pipeline document racer-build would have written for this image."""
    labels = image.labels or {}
    needed = ("racer.identity", "racer.project", "racer.command", "racer.environment")
    if not all(labels.get(key) for key in needed):
        raise BadInput(
            "the image lacks racer's labels; build it with racer", image=image.id
        )
    source = {
        key.removeprefix("racer.source."): value
        for key, value in labels.items()
        if key.startswith("racer.source.")
    }
    path = labels.get("racer.project-path", "")
    return {
        "project": {"name": labels["racer.project"], "path": path},
        "selection": {
            "command": labels["racer.command"],
            "environment": labels["racer.environment"],
        },
        "source": {"origin": path, **source},
        "image": {
            "id": image.id,
            "tag": (image.tags or [None])[0],
            "identity": labels["racer.identity"],
        },
    }


def _run_built_image(image, doc: dict, ports, env, name, wait: float) -> dict:
    """Start a container from an image racer built, labelled as a deploy would be.

    Unlike steps.run_image this reads nothing from the project's folder, which
    may be long gone (an upload's is); the image's labels say what it is. So
    variables the project requires are not checked here.
    """
    labels = {
        key: value
        for key, value in image.labels.items()
        if key in RUN_LABELS or key.startswith("racer.source.")
    }
    ident = doc["image"]["identity"]
    container_name = name or f"racer-{build.slug(doc['project']['name'])}-{ident[:6]}"
    container = up.run_container(
        doc["image"],
        labels,
        up.parse_ports(ports),
        up.parse_env(env),
        container_name,
        wait,
    )
    return {**doc, "container": container}


class Api:
    """The handlers; one instance per server, holding its settings and locks."""

    def __init__(self, config: ServerConfig, routes: list[tuple[str, str, str]]):
        self.config = config
        self.routes = routes
        self.locks = ProjectLocks()
        self.started = time.monotonic()

    def _body(self) -> dict:
        return json_body(request, self.config.max_body)

    # Probes and information.

    def index(self) -> dict:
        return {
            "name": "racer",
            "version": __version__,
            "openapi": "/openapi.json",
            "endpoints": [{"method": m, "path": p} for m, p, _ in self.routes],
        }

    def health(self) -> dict:
        return {
            "status": "ok",
            "version": __version__,
            "uptime": round(time.monotonic() - self.started, 3),
        }

    def liveness(self) -> dict:
        return {"status": "alive"}

    def ready(self) -> dict:
        client = engine.client()
        version = client.version()
        return {
            "status": "ready",
            "engine": {
                "version": version.get("Version"),
                "api": version.get("ApiVersion"),
                "platform": engine.platform(),
            },
        }

    def openapi(self) -> dict:
        from .openapi import document

        return document(__version__)

    # Projects.

    def _validated(
        self, source: Source, body: dict, require_command: bool = True
    ) -> dict:
        doc = steps.validate(
            str(source.path),
            optional_text(body, "command"),
            optional_text(body, "environment"),
            require_command=require_command,
        )
        recorded = source.record(doc["project"]["name"], optional_text(body, "app"))
        if recorded is not None:
            doc["source"] = recorded
        return doc

    def validate(self) -> dict:
        body = self._body()
        with project_source(body, self.config) as source:
            return {"valid": True, **self._validated(source, body, False)}

    def dockerfile(self) -> dict:
        body = self._body()
        with project_source(body, self.config) as source:
            return steps.render(self._validated(source, body), Settings.load())

    def run(self) -> dict:
        body = self._body()
        ports, env, name, wait = _run_options(body)
        settings = Settings.load()
        with project_source(body, self.config) as source:
            doc = self._validated(source, body)
            steps.require_variables(doc, up.parse_env(env))
            with self.locks.hold(doc):
                doc = steps.build_image(steps.render(doc, settings), settings)
                doc = steps.run_image(doc, ports, env, name, wait)
        response.status = 201
        return doc

    def project_status(self) -> dict:
        body = self._body()
        with project_source(body, self.config) as source:
            doc = self._validated(source, body)
            project = load_project(doc["project"]["path"])
        ident = build.identity(
            project, doc["selection"]["command"], doc["source"]["origin"]
        )
        found = engine.client().containers.list(
            all=True,
            filters={"label": [f"{engine.MANAGED}=true", f"racer.identity={ident}"]},
        )
        described = [containers.describe(c) for c in found]
        return {
            "project": doc["project"]["name"],
            "selection": doc["selection"],
            "source": doc["source"],
            "identity": ident,
            "deployed": any(c["status"] == "running" for c in described),
            "containers": described,
        }

    # Containers.

    def containers_run(self) -> dict:
        body = self._body()
        ref = optional_text(body, "image")
        if ref is None:
            raise BadInput(
                "'image' is required: the id or tag of an image racer built",
                field="image",
            )
        ports, env, name, wait = _run_options(body)
        image = _racer_image(ref)
        doc = _document_for_image(image)
        with self.locks.hold(doc):
            doc = _run_built_image(image, doc, ports, env, name, wait)
        response.status = 201
        return doc

    def containers_list(self) -> dict:
        running = query_flag(request, "running")
        return {"containers": containers.list_containers(all=not running)}

    def container_status(self, id: str) -> dict:
        return containers.status(id)

    def container_logs(self, id: str):
        tail = query_int(request, "tail", 0, MAX_TAIL)
        since = query_int(request, "since", 0, MAX_SINCE)
        if not query_flag(request, "follow"):
            data = containers.logs(id, tail, since)
            return {"id": id, "logs": data.decode("utf-8", errors="replace")}
        chunks = containers.logs(id, tail, since, follow=True)
        response.content_type = "application/x-ndjson"
        return _log_lines(chunks)

    def container_stop(self, id: str) -> dict:
        timeout = query_int(request, "timeout", 0, MAX_STOP_TIMEOUT, default=10)
        return containers.stop(id, timeout)

    def container_remove(self, id: str) -> dict:
        return containers.remove(id, query_flag(request, "force"))

    def containers_cleanup(self) -> dict:
        return containers.cleanup()
