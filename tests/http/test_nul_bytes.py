"""A NUL in any string of any request is a 422 naming the field, never a 500 or 503.

The routes and their string inputs come from the app's own OpenAPI document, so a route or a
field added later is covered without touching this test.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.auth.principal import Role
from app.main import create_app
from app.settings import Settings
from tests.support.apps import running_app
from tests.support.auth import bearer

NUL = "a\x00b"
_METHODS = {"get", "post", "put", "patch", "delete"}


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _is_string(schema: dict[str, Any], document: dict[str, Any]) -> bool:
    schema = _resolve(schema, document)
    options = schema.get("anyOf", [schema])
    return any(_resolve(option, document).get("type") == "string" for option in options)


def _cases(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path template, location, field) for every string input of every route."""
    cases = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            for parameter in operation.get("parameters", []):
                if _is_string(parameter["schema"], document):
                    cases.append((method, path, parameter["in"], parameter["name"]))
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            if body is not None:
                for name, field in _resolve(body, document).get("properties", {}).items():
                    if _is_string(field, document):
                        cases.append((method, path, "body", name))
    return cases


def _request(method: str, template: str, location: str, field: str) -> dict[str, Any]:
    def fill(match: re.Match[str]) -> str:
        return "a%00b" if (location, field) == ("path", match.group(1)) else "x"

    url = re.sub(r"\{(\w+)\}", fill, template)
    request: dict[str, Any] = {"method": method.upper(), "url": url}
    if location == "query":
        request["params"] = {field: NUL}
    elif location == "header":
        request["headers"] = {field: NUL}
    elif location == "body":
        request["json"] = {field: NUL}
    return request


async def test_a_nul_in_any_string_input_of_any_route_is_a_422_naming_it(
    settings: Settings,
) -> None:
    app = create_app(settings)
    cases = _cases(app.openapi())
    # The document really lists inputs of every kind (a guard against an empty enumeration).
    assert {location for _, _, location, _ in cases} >= {"path", "query", "body"}
    assert len(cases) > 40
    admin = bearer(settings, Role.ADMIN)
    wrong = []
    async with running_app(app) as client:
        for method, template, location, field in cases:
            request = _request(method, template, location, field)
            headers = admin | request.pop("headers", {})
            response = await client.request(**request, headers=headers)
            body = response.json()
            named = [item.get("field") for item in body.get("details") or []]
            if response.status_code != 422 or field not in named or field not in body["message"]:
                wrong.append((method, template, location, field, response.status_code, body))
    assert wrong == []


async def test_a_nul_deep_in_a_body_names_the_dotted_field(settings: Settings) -> None:
    async with running_app(create_app(settings)) as client:
        response = await client.post(
            "/runtime-config/v1/features/external_read_cache",
            json={"enabled": True, "configuration": {"note": ["ok", NUL]}},
            headers=bearer(settings, Role.OPERATOR),
        )
    assert response.status_code == 422
    assert response.json()["details"][0] == {
        "field": "configuration.note.1",
        "location": "body",
        "message": response.json()["details"][0]["message"],
    }


async def test_a_nul_in_a_credential_header_is_refused_before_any_lookup(
    settings: Settings,
) -> None:
    async with running_app(create_app(settings)) as client:
        response = await client.get(
            "/v1/admin/whoami", headers={"X-API-Key": "aur_abcd\x00efg_" + "x" * 40}
        )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "x-api-key"


async def test_an_escaped_percent_sign_is_not_a_nul(settings: Settings) -> None:
    async with running_app(create_app(settings)) as client:
        response = await client.get(
            "/v1/admin/audit",
            params={"action": "%00"},  # sent as %2500: the text "%00", no NUL
            headers=bearer(settings, Role.VIEWER),
        )
    assert response.status_code == 200, response.text


def test_utf16_json_is_checked_too() -> None:
    from app.http.nul_bytes import body_field

    assert body_field('{"name": "a\\u0000"}'.encode("utf-16")) == "name"
    assert body_field(b'{"name": "a\\\\u0000"}') is None  # an escaped backslash, no NUL
    assert body_field(httpx.Request("POST", "http://x", json={"a": 1}).content) is None
