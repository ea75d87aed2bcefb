"""Read and check what a request carries: its JSON body and query parameters.

Every flaw is a BadInput naming the field, so the caller gets a 400 saying
what to fix rather than a failure deep inside a step.
"""

from __future__ import annotations

import json

from bottle import LocalRequest

from racer_tools.archive import TooLarge
from racer_tools.errors import BadInput

TRUE_WORDS = {"1", "true", "yes"}
FALSE_WORDS = {"0", "false", "no"}
MAX_WAIT = 600.0


def json_body(request: LocalRequest, max_body: int) -> dict:
    """The body as a JSON object; an empty body is an empty object."""
    if request.content_length > max_body:
        raise TooLarge(f"the request body is over {max_body} bytes", limit=max_body)
    data = request.body.read(max_body + 1)
    if len(data) > max_body:
        raise TooLarge(f"the request body is over {max_body} bytes", limit=max_body)
    if not data.strip():
        return {}
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"the request body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadInput("the request body must be a JSON object")
    return doc


def optional_text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"'{name}' must be a non-empty string", field=name)
    return value


def text_list(body: dict, name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(f"'{name}' must be a list of strings", field=name)
    return value


def variables(body: dict, name: str = "env") -> list[str]:
    """`{"KEY": "value"}` as the `KEY=value` list the steps take."""
    value = body.get(name, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, str) for v in value.values()
    ):
        raise BadInput(
            f"'{name}' must be an object of names to string values", field=name
        )
    return [f"{key}={text}" for key, text in value.items()]


def wait_seconds(body: dict, default: float = 30.0) -> float:
    value = body.get("wait", default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_WAIT
    ):
        raise BadInput(
            f"'wait' must be a number of seconds from 0 to {MAX_WAIT:g}", field="wait"
        )
    return float(value)


def query_int(
    request: LocalRequest, name: str, low: int, high: int, default: int | None = None
) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"'{name}' must be a whole number", field=name) from None
    if not low <= value <= high:
        raise BadInput(f"'{name}' must be between {low} and {high}", field=name)
    return value


def query_flag(request: LocalRequest, name: str) -> bool:
    text = (request.query.get(name) or "false").lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise BadInput(f"'{name}' must be true or false", field=name)
