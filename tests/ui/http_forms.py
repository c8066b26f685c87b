"""The dashboard over HTTP without a browser: sign in through the login form, read a page's
CSRF token, mint a token for a role."""

from __future__ import annotations

import re

import httpx

from app.auth.principal import Role
from app.settings import Settings
from tests.support.auth import bearer

_HIDDEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def form_token(html: str) -> str:
    found = _HIDDEN.search(html)
    assert found, "no csrf_token input on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, credential: str) -> httpx.Response:
    form = await client.get("/ui/login")
    token = form_token(form.text)
    return await client.post("/ui/login", data={"credential": credential, "csrf_token": token})


def jwt_for(settings: Settings, role: Role) -> str:
    return bearer(settings, role)["Authorization"].removeprefix("Bearer ")
