"""Property-based: generated requests against a live server, checked by its OpenAPI.

Schemathesis reads GET /openapi.json, generates requests for every operation
(valid and invalid ones), and checks that no answer is a 5xx and that every
status, content type and body is one the document declares.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_server_support import TOKEN

from server.app import ROUTES

# The live server, the base image and the container fixtures.
pytest_plugins = ["test_server_support"]

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=AUTH)


def defuse(case) -> None:
    """Keep generated requests off containers and images that other tests own.

    The engine resolves any unique prefix of an id, so a generated id such as
    "a" could name a real container. A "zz-" prefix is no hex id and no name
    racer gives; the answer is then the 404 the document promises.
    """
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = f"zz-{case.path_parameters['id']}"
    if isinstance(case.body, dict) and isinstance(case.body.get("image"), str):
        case.body["image"] = f"zz-{case.body['image']}"
    if isinstance(case.body, dict) and isinstance(case.body.get("git"), dict):
        case.body["git"]["url"] = "file:///nonexistent/zz-repository"


# Cleanup takes no input and would remove other tests' stopped containers.
OPERATIONS = [
    (method, path) for method, path, _ in ROUTES if path != "/containers/cleanup"
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def takes_input(operation) -> bool:
    return bool(
        operation.definition.raw.get("parameters")
        or operation.definition.raw.get("requestBody")
    )


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("method, path", OPERATIONS)
def test_the_server_keeps_its_documents_promises(
    api_schema, server, method, path, mode
):
    operation = api_schema[path][method]
    if mode is GenerationMode.NEGATIVE and not takes_input(operation):
        pytest.skip("no input to make invalid")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case):
        defuse(case)
        case.call_and_validate(
            base_url=server.url, headers=AUTH, checks=CHECKS, timeout=120
        )

    check()


def test_the_document_names_every_route_and_nothing_else(api_schema):
    documented = {
        (method.upper(), path)
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
    }
    assert documented == {(method, path) for method, path, _ in ROUTES}
