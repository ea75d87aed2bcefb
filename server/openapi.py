"""The OpenAPI 3 description of the server, served at GET /openapi.json.

Written by hand to say what the handlers really accept and return; a
property-based test (tests/test_server_schema.py) sends generated requests
to a live server and checks every answer against this document.
"""

from __future__ import annotations

JSON = "application/json"
NDJSON = "application/x-ndjson"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(description: str | None = None, **extra) -> dict:
    schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def _object(properties: dict, required: list[str] | None = None, **extra) -> dict:
    schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


def _answer(description: str, schema: str, media: str = JSON) -> dict:
    return {"description": description, "content": {media: {"schema": _ref(schema)}}}


ERRORS = {
    400: "Bad input: a malformed body, an invalid project, a bad port spec, an unsafe archive",
    401: "No valid bearer token (only when the server has RACER_API_TOKEN)",
    404: "No such racer container or image (racer answers the same for one it does not manage)",
    409: "Conflicts with what runs: a host port in use, a running container to remove",
    413: "The request body or the unpacked archive is over the server's limits",
    500: "The build or the container failed; details hold the log's last lines",
    503: "The Docker engine does not answer",
}


def _errors(*statuses: int) -> dict:
    return {str(s): _answer(ERRORS[s], "Error") for s in statuses}


def _operation(
    summary: str,
    ok: dict,
    statuses: tuple[int, ...],
    body: str | None = None,
    parameters: list | None = None,
    open_probe: bool = False,
) -> dict:
    operation = {"summary": summary, "responses": {**ok, **_errors(*statuses)}}
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(body)}},
        }
    if parameters:
        operation["parameters"] = parameters
    if open_probe:
        operation["security"] = []
    return operation


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


CONTAINER_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Container id, short id or name; only racer's containers are found",
    "schema": _text(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength=128),
}

PROJECT_FIELDS = {
    "archive": _text(
        "The project folder as a base64-encoded tar.gz (or tar), as "
        "`racer` packs it: .dockerignore/.gitignore honoured. A single "
        "top-level folder is unwrapped.",
        format="byte",
    ),
    "git": _ref("GitSource"),
    "path": _text(
        "An absolute folder on the server, under RACER_ALLOWED_ROOTS", minLength=1
    ),
    "command": _text(
        "A command named in the project, or a shell command for a project "
        "that names none",
        minLength=1,
    ),
    "environment": _text("An environment to use instead of the command's", minLength=1),
    "app": _text(
        "What makes two uploads the same app (default: the project's name); "
        "a deploy replaces the app's older container",
        minLength=1,
    ),
}
RUN_FIELDS = {
    "ports": {
        "type": "array",
        "items": _text(example="8080:8000"),
        "description": "HOST:CONTAINER, IP:HOST:CONTAINER or PORT[/udp]",
    },
    "env": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Variables for the container; they win over the project's",
    },
    "name": _text("Container name", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$"),
    "wait": {
        "type": "number",
        "minimum": 0,
        "maximum": 600,
        "default": 30,
        "description": "Seconds to wait for the published ports to answer",
    },
}
ONE_SOURCE = "Give the project as exactly one of `archive`, `git` or `path`."

CONTAINER = _object(
    {
        "id": _text(),
        "short_id": _text(),
        "name": _text(),
        "image": _nullable(_text()),
        "status": _text(example="running"),
        "exit_code": _nullable({"type": "integer"}),
        "started_at": _nullable(_text()),
        "project": _nullable(_text()),
        "command": _nullable(_text()),
        "environment": _nullable(_text()),
        "ports": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": _text()},
        },
        "urls": {"type": "array", "items": _text()},
        "labels": {"type": "object", "additionalProperties": _text()},
        "answering": _nullable({"type": "boolean"}),
    },
    ["id", "short_id", "name", "status", "ports", "urls"],
)

PROJECT = _object(
    {
        "path": _text(
            "Where the server read the project; for an upload a temporary "
            "folder, removed after the request"
        ),
        "name": _text(),
        "default_environment": _nullable(_text()),
        "default_command": _nullable(_text()),
        "environments": {"type": "object"},
        "commands": {"type": "object"},
        "variables": {"type": "object"},
        "condarc": {"type": "object"},
    },
    ["path", "name", "environments", "commands"],
)

SELECTION = _object(
    {
        "command": _text(),
        "cmd": _text(),
        "environment": _text(),
        "variables": {"type": "object"},
    },
    ["command", "environment"],
)

VALIDATED = {
    "project": _ref("Project"),
    "selection": _ref("Selection"),
    "source": _object({"origin": _text()}, ["origin"]),
    "warnings": {"type": "array", "items": {"type": "object"}},
}

SCHEMAS = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": _text(example="not_found"),
                    "message": _text(),
                    "details": {"type": "object"},
                },
                ["code", "message", "details"],
            )
        },
        ["error"],
    ),
    "GitSource": _object(
        {
            "url": _text("A git URL the server can clone", minLength=1),
            "ref": _text("Branch, tag or commit", minLength=1),
            "subdir": _text("The project's folder inside the repository", minLength=1),
        },
        ["url"],
    ),
    "ProjectRequest": _object(PROJECT_FIELDS, description=ONE_SOURCE),
    "RunRequest": _object({**PROJECT_FIELDS, **RUN_FIELDS}, description=ONE_SOURCE),
    "ImageRunRequest": _object(
        {
            "image": _text("Id or tag of an image racer built", minLength=1),
            **RUN_FIELDS,
        },
        ["image"],
    ),
    "Info": _object(
        {
            "name": _text(),
            "version": _text(),
            "openapi": _text(),
            "endpoints": {
                "type": "array",
                "items": _object(
                    {"method": _text(), "path": _text()}, ["method", "path"]
                ),
            },
        },
        ["name", "version", "endpoints"],
    ),
    "Health": _object(
        {"status": _text(), "version": _text(), "uptime": {"type": "number"}},
        ["status", "version"],
    ),
    "Liveness": _object({"status": _text()}, ["status"]),
    "Ready": _object(
        {
            "status": _text(),
            "engine": _object(
                {
                    "version": _nullable(_text()),
                    "api": _nullable(_text()),
                    "platform": _text(),
                }
            ),
        },
        ["status", "engine"],
    ),
    "Project": PROJECT,
    "Selection": SELECTION,
    "Validation": _object(
        {
            "valid": {"type": "boolean"},
            **VALIDATED,
            # None for a project that names no command, when none was asked for.
            "selection": {"nullable": True, "allOf": [_ref("Selection")]},
        },
        ["valid", "project", "selection", "source"],
    ),
    "Dockerfile": _object(
        {**VALIDATED, "dockerfile": _text(), "base_image": _text()},
        ["project", "selection", "dockerfile", "base_image"],
    ),
    "Image": _object(
        {"id": _text(), "tag": _nullable(_text()), "identity": _text()},
        ["id", "identity"],
    ),
    "Deploy": _object(
        {
            **VALIDATED,
            "dockerfile": _text(),
            "base_image": _text(),
            "image": _ref("Image"),
            "container": _ref("Container"),
        },
        ["project", "selection", "image", "container"],
    ),
    "ImageRun": _object(
        {
            "project": {"type": "object"},
            "selection": {"type": "object"},
            "source": {"type": "object"},
            "image": _ref("Image"),
            "container": _ref("Container"),
        },
        ["image", "container"],
    ),
    "ProjectStatus": _object(
        {
            "project": _text(),
            "selection": _ref("Selection"),
            "source": {"type": "object"},
            "identity": _text(),
            "deployed": {"type": "boolean"},
            "containers": {"type": "array", "items": _ref("Container")},
        },
        ["project", "identity", "deployed", "containers"],
    ),
    "Container": CONTAINER,
    "ContainerList": _object(
        {"containers": {"type": "array", "items": _ref("Container")}}, ["containers"]
    ),
    "Logs": _object({"id": _text(), "logs": _text()}, ["id", "logs"]),
    "LogLine": _object({"line": _text()}, ["line"]),
    "Cleanup": _object(
        {
            "removed": {"type": "array", "items": _ref("Container")},
            "count": {"type": "integer"},
        },
        ["removed", "count"],
    ),
}

SOURCE_ERRORS = (400, 401, 413, 503)
DEPLOY_ERRORS = (400, 401, 404, 409, 413, 500, 503)


def _paths() -> dict:
    return {
        "/": {
            "get": _operation(
                "What this server is and its endpoints",
                {"200": _answer("Server information", "Info")},
                (401,),
            )
        },
        "/health": {
            "get": _operation(
                "The server process answers",
                {"200": _answer("Healthy", "Health")},
                (),
                open_probe=True,
            )
        },
        "/liveness": {
            "get": _operation(
                "Liveness probe",
                {"200": _answer("Alive", "Liveness")},
                (),
                open_probe=True,
            )
        },
        "/ready": {
            "get": _operation(
                "Readiness probe: the Docker engine answers",
                {"200": _answer("Ready", "Ready")},
                (503,),
                open_probe=True,
            )
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3 document",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                    **_errors(401),
                },
            }
        },
        "/validate": {
            "post": _operation(
                "Check a project; list its environments and commands",
                {"200": _answer("The project is valid", "Validation")},
                SOURCE_ERRORS,
                body="ProjectRequest",
            )
        },
        "/dockerfile": {
            "post": _operation(
                "Render the project's Dockerfile",
                {"200": _answer("The rendered Dockerfile", "Dockerfile")},
                SOURCE_ERRORS,
                body="ProjectRequest",
            )
        },
        "/run": {
            "post": _operation(
                "Build the project's image and run it, replacing the app's older container",
                {"201": _answer("Deployed", "Deploy")},
                DEPLOY_ERRORS,
                body="RunRequest",
            )
        },
        "/project/status": {
            "post": _operation(
                "The containers running a project's app",
                {"200": _answer("The app's containers", "ProjectStatus")},
                SOURCE_ERRORS,
                body="ProjectRequest",
            )
        },
        "/containers/run": {
            "post": _operation(
                "Run an image racer built, replacing the app's older container",
                {"201": _answer("Started", "ImageRun")},
                DEPLOY_ERRORS,
                body="ImageRunRequest",
            )
        },
        "/containers": {
            "get": _operation(
                "racer's containers",
                {"200": _answer("Containers", "ContainerList")},
                (400, 401, 503),
                parameters=[
                    _query("running", {"type": "boolean"}, "Only running containers")
                ],
            )
        },
        "/containers/{id}/status": {
            "get": _operation(
                "One container",
                {"200": _answer("The container", "Container")},
                (401, 404, 503),
                parameters=[CONTAINER_ID],
            )
        },
        "/containers/{id}/logs": {
            "get": _operation(
                "A container's output",
                {
                    "200": {
                        "description": "The output; with follow=true, a stream of one JSON "
                        "document per line until the container stops",
                        "content": {
                            JSON: {"schema": _ref("Logs")},
                            NDJSON: {"schema": _ref("LogLine")},
                        },
                    }
                },
                (400, 401, 404, 503),
                parameters=[
                    CONTAINER_ID,
                    _query(
                        "tail",
                        {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                        "Only the last N lines",
                    ),
                    _query(
                        "since",
                        {"type": "integer", "minimum": 0, "maximum": 10**11},
                        "Only output since this Unix time",
                    ),
                    _query(
                        "follow", {"type": "boolean"}, "Stream new output as it comes"
                    ),
                ],
            )
        },
        "/containers/{id}/stop": {
            "post": _operation(
                "Stop a container",
                {"200": _answer("The stopped container", "Container")},
                (400, 401, 404, 503),
                parameters=[
                    CONTAINER_ID,
                    _query(
                        "timeout",
                        {"type": "integer", "minimum": 0, "maximum": 3600},
                        "Seconds to wait before killing it (default 10)",
                    ),
                ],
            )
        },
        "/containers/{id}": {
            "delete": _operation(
                "Remove a container and its image if nothing else uses it",
                {"200": _answer("The removed container", "Container")},
                (400, 401, 404, 409, 503),
                parameters=[
                    CONTAINER_ID,
                    _query(
                        "force", {"type": "boolean"}, "Remove it even while it runs"
                    ),
                ],
            )
        },
        "/containers/cleanup": {
            "post": _operation(
                "Remove stopped racer containers and the untagged images they leave",
                {"200": _answer("What was removed", "Cleanup")},
                (401, 503),
            )
        },
    }


def document(version: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "racer",
            "version": version,
            "description": "Deploy conda-projects to Docker containers. Every answer is "
            "JSON; every error has the shape of the Error schema.",
        },
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Required on every endpoint but the probes when the "
                    "server has RACER_API_TOKEN",
                }
            },
        },
        "security": [{"bearer": []}],
    }
