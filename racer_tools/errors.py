"""One root exception, a subclass per kind of failure, and the exit codes.

Each error carries the data that explains it; entry points turn it into one
line on stderr, one JSON document on stdout and the exit code below. The server
maps the same classes to HTTP statuses.
"""

from __future__ import annotations

# Exit codes, defined once.
OK = 0
FAILED = 1
USAGE = 2
INVALID_PROJECT = 3
SOLVE_FAILED = 4
BUILD_FAILED = 5
RUN_FAILED = 6
ENGINE_UNAVAILABLE = 7
NOT_FOUND = 8
BAD_INPUT = 9


class RacerError(Exception):
    """Root of every error racer reports to a user."""

    code = "error"
    exit_code = FAILED
    http_status = 500

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}

    def to_json(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
            }
        }


class UsageError(RacerError):
    code = "usage"
    exit_code = USAGE
    http_status = 400


class BadInput(RacerError):
    """A document or value handed to a command is not what it expects."""

    code = "bad_input"
    exit_code = BAD_INPUT
    http_status = 400


class InvalidProject(RacerError):
    """The folder is not a conda-project, or one of its files is wrong."""

    code = "invalid_project"
    exit_code = INVALID_PROJECT
    http_status = 400

    def __init__(self, message: str, problems: list | None = None, **details):
        super().__init__(message, problems=problems, **details)
        self.problems = problems or []


class SolveFailed(RacerError):
    code = "solve_failed"
    exit_code = SOLVE_FAILED
    http_status = 400


class BuildFailed(RacerError):
    code = "build_failed"
    exit_code = BUILD_FAILED
    http_status = 500


class RunFailed(RacerError):
    code = "run_failed"
    exit_code = RUN_FAILED
    http_status = 500


class Conflict(RacerError):
    """The request clashes with what is running, e.g. a host port in use."""

    code = "conflict"
    exit_code = RUN_FAILED
    http_status = 409


class NotFound(RacerError):
    code = "not_found"
    exit_code = NOT_FOUND
    http_status = 404


class EngineUnavailable(RacerError):
    code = "engine_unavailable"
    exit_code = ENGINE_UNAVAILABLE
    http_status = 503


class PreviousFailed(RacerError):
    """The previous command in a pipe failed; its document is passed on as is."""

    code = "previous_failed"

    def __init__(self, doc: dict):
        super().__init__(str(doc["error"].get("message")))
        self.doc = doc
        self.exit_code = exit_code_of(doc["error"].get("code"))


def exit_code_of(code) -> int:
    """The exit code that goes with an error document's code."""
    pending = [RacerError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls.exit_code
        pending.extend(cls.__subclasses__())
    return FAILED
