"""racer's commands against a racer server instead of the local engine.

Used when `RACER_API_URL` (or `--api-url`) is set. A local project folder is
packed and uploaded, since the server cannot read the caller's disk. The
server's JSON errors come back as the same RacerError classes the local code
raises, so a command prints the same document and exits with the same code
either way.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from . import errors
from .archive import TooLarge, UnsafeArchive, pack
from .errors import ENGINE_UNAVAILABLE, RacerError
from .settings import Settings, config_path, read_config_file
from .up import parse_env, parse_ports

DEFAULT_TIMEOUT = 60.0
GIT_URL = re.compile(r"^(?:(?:https?|git|ssh|file)://|[\w.-]+@[\w.-]+:)")
SERVER_PATH_PREFIX = "server:"


class Unauthorized(RacerError):
    """The server wants a token (`RACER_API_TOKEN`) and got none or a wrong one."""

    code = "unauthorized"
    http_status = 401


class ServerUnavailable(RacerError):
    """No racer server answers at the configured URL."""

    code = "server_unavailable"
    exit_code = ENGINE_UNAVAILABLE
    http_status = 503


# Every error the server can send, by the code in its JSON document.
ERROR_CLASSES = {
    cls.code: cls
    for cls in (
        RacerError,
        errors.UsageError,
        errors.BadInput,
        errors.InvalidProject,
        errors.SolveFailed,
        errors.BuildFailed,
        errors.RunFailed,
        errors.Conflict,
        errors.NotFound,
        errors.EngineUnavailable,
        UnsafeArchive,
        TooLarge,
        Unauthorized,
        ServerUnavailable,
    )
}


def error_from_json(doc: dict, status: int) -> RacerError:
    """The RacerError a server's `{"error": {...}}` document stands for."""
    body = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(body, dict):
        return RacerError(
            f"the server answered HTTP {status} without an error document"
        )
    cls = ERROR_CLASSES.get(body.get("code"), RacerError)
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    exc = cls(str(body.get("message") or f"HTTP {status}"), **details)
    if cls is RacerError and body.get("code"):
        # An error this client does not know keeps the server's code.
        exc.code = str(body["code"])
        exc.http_status = status
    return exc


@dataclass
class Client:
    """A racer server's address, its token and how long to wait for it."""

    url: str
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def _request(self, method: str, path: str, body: dict | None, query: dict | None):
        url = self.url.rstrip("/") + path
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return urllib.request.Request(url, data=data, headers=headers, method=method)

    def _open(self, request: urllib.request.Request, timeout: float):
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raise _error_from_response(exc) from None
        except (urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerUnavailable(
                f"the racer server at {self.url} does not answer: {reason}",
                url=self.url,
            ) from None
        except TimeoutError:
            raise ServerUnavailable(
                f"the racer server at {self.url} gave no answer within {timeout:g} s",
                url=self.url,
            ) from None

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        query: dict | None = None,
        timeout: float | None = None,
    ) -> dict:
        """One request; its JSON document, or the RacerError the server sent."""
        wait = max(self.timeout, timeout or 0)
        with self._open(self._request(method, path, body, query), wait) as response:
            return _read_json(response)

    def stream(self, path: str, query: dict | None = None) -> Iterator[dict]:
        """A newline-delimited JSON stream, one document at a time."""
        request = self._request("GET", path, None, query)
        # A followed stream may stay quiet for long; wait without a limit.
        response = self._open(request, None)
        with response:
            for line in response:
                if line.strip():
                    yield json.loads(line)


def _query_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_json(response) -> dict:
    text = response.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise RacerError(
            "the server's answer is not JSON: " + text[:200].decode(errors="replace")
        ) from None


def _error_from_response(exc: urllib.error.HTTPError) -> RacerError:
    text = exc.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        first = text.decode(errors="replace").strip().splitlines()[:1]
        return RacerError(
            f"the server answered HTTP {exc.code}: "
            + (first[0][:200] if first else exc.reason)
        )
    return error_from_json(doc, exc.code)


def _settings() -> dict[str, str]:
    values = read_config_file(config_path())
    values.update({k: v for k, v in os.environ.items() if k.startswith("RACER_")})
    return values


def from_env(
    api_url: str | None = None,
    default_url: str | None = None,
    default_token: str | None = None,
) -> Client | None:
    """The client `--api-url` or `RACER_API_URL` asks for; None means work locally."""
    values = _settings()
    url = api_url or values.get("RACER_API_URL") or default_url
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise errors.UsageError(
            f"the racer server's URL '{url}' must start with http:// or https://",
            setting="RACER_API_URL",
        )
    token = values.get("RACER_API_TOKEN") or default_token
    return Client(url, token or None, api_timeout(values))


def api_timeout(values: dict[str, str]) -> float:
    text = values.get("RACER_API_TIMEOUT", "")
    try:
        timeout = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        raise errors.UsageError(
            f"RACER_API_TIMEOUT '{text}' is not a number of seconds",
            setting="RACER_API_TIMEOUT",
        ) from None
    if timeout <= 0:
        raise errors.UsageError(
            "RACER_API_TIMEOUT must be above 0", setting="RACER_API_TIMEOUT"
        )
    return timeout


def source_for(path: str, ref: str | None = None, subdir: str | None = None) -> dict:
    """How the server gets the project at `path`: a git URL, its own disk, or an upload.

    `server:/srv/apps/x` names a folder on the server (under its allowed roots).
    """
    if GIT_URL.match(path):
        git = {"url": path, "ref": ref, "subdir": subdir}
        return {"git": {k: v for k, v in git.items() if v is not None}}
    if path.startswith(SERVER_PATH_PREFIX):
        return {"path": path[len(SERVER_PATH_PREFIX) :]}
    return {"archive": base64.b64encode(pack(path)).decode("ascii")}


def _project_body(
    path: str,
    command: str | None,
    environment: str | None,
    ref: str | None = None,
    subdir: str | None = None,
) -> dict:
    body = source_for(path, ref, subdir)
    body.update(
        {
            k: v
            for k, v in (("command", command), ("environment", environment))
            if v is not None
        }
    )
    return body


# The user-facing verbs, each returning what the local command returns.


def _post_project(endpoint: str):
    """A verb that sends a project and its selection, and returns the answer."""

    def call(
        client: Client,
        path: str,
        command: str | None = None,
        environment: str | None = None,
        *,
        ref: str | None = None,
        subdir: str | None = None,
    ) -> dict:
        body = _project_body(path, command, environment, ref, subdir)
        return client.call("POST", endpoint, body)

    return call


validate = _post_project("/validate")
dockerfile = _post_project("/dockerfile")


def run(
    client: Client,
    path: str,
    command: str | None = None,
    environment: str | None = None,
    ports: list[str] = (),
    env: list[str] = (),
    name: str | None = None,
    wait: float = 30.0,
    *,
    ref: str | None = None,
    subdir: str | None = None,
) -> dict:
    """Upload and deploy; bad ports or variables fail here, before any upload."""
    parse_ports(list(ports))
    variables = parse_env(list(env))
    body = _project_body(path, command, environment, ref, subdir)
    body.update({"ports": list(ports), "env": variables, "wait": wait})
    if name is not None:
        body["name"] = name
    # A deploy builds an image, which takes minutes, not the usual seconds.
    return client.call("POST", "/run", body, timeout=Settings().build_timeout + wait)


project_status = _post_project("/project/status")


def status(
    client: Client, container_id: str | None = None, list_all: bool = False
) -> dict:
    """What `racer status` shows, from the server's engine."""
    if container_id:
        return container_status(client, container_id)
    if list_all:
        return list_containers(client)
    ready = client.call("GET", "/ready")
    listed = list_containers(client)["containers"]
    return {
        "engine": ready.get("engine"),
        "containers": {
            "total": len(listed),
            "running": sum(1 for c in listed if c["status"] == "running"),
        },
    }


def list_containers(client: Client, running: bool = False) -> dict:
    return client.call("GET", "/containers", query={"running": running or None})


def container_status(client: Client, container_id: str) -> dict:
    return client.call("GET", f"/containers/{_quoted(container_id)}/status")


def container_logs(
    client: Client, container_id: str, tail: int | None = None, since: int | None = None
) -> str:
    doc = client.call(
        "GET",
        f"/containers/{_quoted(container_id)}/logs",
        query={"tail": tail, "since": since},
    )
    return doc["logs"]


def follow_logs(
    client: Client, container_id: str, tail: int | None = None, since: int | None = None
) -> Iterator[str]:
    """The container's output line by line as it comes, newline included."""
    for doc in client.stream(
        f"/containers/{_quoted(container_id)}/logs",
        {"tail": tail, "since": since, "follow": True},
    ):
        yield doc["line"] + "\n"


def stop_container(client: Client, container_id: str, timeout: int = 10) -> dict:
    return client.call(
        "POST",
        f"/containers/{_quoted(container_id)}/stop",
        query={"timeout": timeout},
        timeout=timeout + 30,
    )


def remove_container(client: Client, container_id: str, force: bool = False) -> dict:
    return client.call(
        "DELETE", f"/containers/{_quoted(container_id)}", query={"force": force or None}
    )


def cleanup(client: Client) -> dict:
    return client.call("POST", "/containers/cleanup")


def _quoted(container_id: str) -> str:
    return urllib.parse.quote(container_id, safe="")
