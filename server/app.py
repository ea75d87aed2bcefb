"""The Bottle application: routes, the token check, and JSON for every error.

Bottle turns only dicts into JSON and renders its own errors (404, 405, 500)
as HTML pages. Here every failure, racer's or Bottle's, becomes one JSON
document of the shape RacerError.to_json gives, with its HTTP status.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging

import docker.errors
import requests.exceptions
from bottle import Bottle, HTTPError, HTTPResponse, request, response

from racer_tools.archive import TooLarge
from racer_tools.errors import Conflict, EngineUnavailable, RacerError
from racer_tools.remote import Unauthorized

from .api import Api
from .config import ServerConfig

log = logging.getLogger("racer.server")

# (method, path, handler); the path uses OpenAPI's {braces}.
ROUTES = [
    ("GET", "/", "index"),
    ("GET", "/health", "health"),
    ("GET", "/liveness", "liveness"),
    ("GET", "/ready", "ready"),
    ("GET", "/openapi.json", "openapi"),
    ("POST", "/validate", "validate"),
    ("POST", "/dockerfile", "dockerfile"),
    ("POST", "/run", "run"),
    ("POST", "/project/status", "project_status"),
    ("POST", "/containers/run", "containers_run"),
    ("GET", "/containers", "containers_list"),
    ("GET", "/containers/{id}/status", "container_status"),
    ("GET", "/containers/{id}/logs", "container_logs"),
    ("POST", "/containers/{id}/stop", "container_stop"),
    ("DELETE", "/containers/{id}", "container_remove"),
    ("POST", "/containers/cleanup", "containers_cleanup"),
]
# Probes answer without a token, so a load balancer or orchestrator can ask.
OPEN_PATHS = {"/health", "/liveness", "/ready"}
HTTP_CODES = {
    400: "bad_input",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "error",
}


def error_response(exc: RacerError, headers: dict | None = None) -> HTTPResponse:
    return HTTPResponse(
        body=json.dumps(exc.to_json()),
        status=exc.http_status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _engine_error(exc: Exception) -> RacerError | None:
    """What an engine failure that escaped racer's own handling means to a caller.

    A 404 from the engine here is not "no such container": racer's functions
    already answer that; it means something vanished halfway through.
    """
    if isinstance(exc, docker.errors.APIError):
        log.warning("the engine refused %s %s: %s", request.method, request.path, exc)
        if exc.status_code == 409:
            return Conflict(f"the Docker engine refused: {exc.explanation}")
        return RacerError(f"the Docker engine failed: {exc.explanation}")
    if isinstance(
        exc, (requests.exceptions.ConnectionError, docker.errors.DockerException)
    ):
        return EngineUnavailable(f"the Docker engine does not answer: {exc}")
    return None


def json_errors(callback):
    """Route plugin: a RacerError, or anything else, becomes a JSON answer."""

    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except HTTPResponse:
            raise
        except RacerError as exc:
            return error_response(exc)
        except Exception as exc:  # the last line of defence: never a traceback
            translated = _engine_error(exc)
            if translated is None:
                log.exception("unexpected error in %s %s", request.method, request.path)
                translated = RacerError(
                    f"unexpected error: {type(exc).__name__}: {exc}"
                )
            return error_response(translated)

    return wrapper


def render_bottle_error(error: HTTPError) -> str:
    """Bottle's own errors (unknown path, wrong method, ...) as racer's JSON."""
    exc = RacerError(str(error.body or error.status_line))
    exc.code = HTTP_CODES.get(error.status_code, "http_error")
    response.content_type = "application/json"
    return json.dumps(exc.to_json())


def _bearer_token() -> str:
    scheme, _, token = (request.get_header("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def guard(config: ServerConfig):
    """before_request hook: the token, then the body size, before any work."""

    def check():
        if config.token and request.path not in OPEN_PATHS:
            given = _bearer_token().encode()
            if not hmac.compare_digest(given, config.token.encode()):
                raise error_response(
                    Unauthorized(
                        "a valid 'Authorization: Bearer <token>' header is required"
                    ),
                    {"WWW-Authenticate": 'Bearer realm="racer"'},
                )
        if request.content_length > config.max_body:
            raise error_response(
                TooLarge(
                    f"the request body is over {config.max_body} bytes",
                    limit=config.max_body,
                )
            )

    return check


def bottle_path(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


def make_app(config: ServerConfig) -> Bottle:
    app = Bottle()
    # Unexpected errors outside a route reach wsgi.AccessLog, which answers in JSON.
    app.config["catchall"] = False
    api = Api(config, ROUTES)
    for method, path, handler in ROUTES:
        app.route(bottle_path(path), method, getattr(api, handler))
    app.install(json_errors)
    app.add_hook("before_request", guard(config))
    app.default_error_handler = render_bottle_error
    return app
