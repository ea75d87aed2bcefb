"""Serving the app with waitress: one log line per request, JSON even on a crash."""

from __future__ import annotations

import json
import logging
import sys
import time

import waitress

from .app import make_app
from .config import ServerConfig

log = logging.getLogger("racer.server")
access_log = logging.getLogger("racer.server.access")

CRASH = json.dumps(
    {"error": {"code": "error", "message": "internal server error", "details": {}}}
).encode()


class _Logged:
    """The response body; logs the request's line once the body is done."""

    def __init__(self, body, on_close):
        self._body = body
        self._on_close = on_close

    def __iter__(self):
        return iter(self._body)

    def close(self):
        try:
            if hasattr(self._body, "close"):
                self._body.close()
        finally:
            self._on_close()


class AccessLog:
    """WSGI middleware: logs each request, and answers JSON if the app raises."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.monotonic()
        status = ["-"]

        def recording_start_response(status_line, headers, exc_info=None):
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except Exception:
            log.exception(
                "unhandled error in %s %s",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
            )
            recording_start_response(
                "500 Internal Server Error",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(CRASH))),
                ],
                sys.exc_info(),
            )
            body = [CRASH]
        return _Logged(body, lambda: self._log(environ, status[0], started))

    @staticmethod
    def _log(environ, status: str, started: float) -> None:
        access_log.info(
            '%s "%s %s" %s %.1fms',
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            status,
            (time.monotonic() - started) * 1000,
        )


def serve(config: ServerConfig) -> None:
    """Serve until interrupted."""
    waitress.serve(
        AccessLog(make_app(config)),
        host=config.host,
        port=config.port,
        threads=config.threads,
        ident="racer",
        # The app answers 413 in JSON up to its own limit; waitress's plain one
        # is only the backstop for bodies far beyond it.
        max_request_body_size=config.max_body * 2 + 1024 * 1024,
        clear_untrusted_proxy_headers=True,
    )
