"""JWT bearer tokens: every malformed or hostile token is refused alike, with no detail."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from app.settings import JwtAlgorithm, Settings
from tests.support.apps import client_for
from tests.support.auth import TEST_JWT_SECRET

REFUSED = "Invalid or expired credentials."


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "role": "operator", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hs(claims: dict[str, Any], secret: str = TEST_JWT_SECRET) -> str:
    return str(jwt.encode(claims, secret, algorithm="HS256"))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _whoami(settings: Settings, token: str) -> Any:
    async with client_for(settings) as client:
        return await client.get("/v1/admin/whoami", headers={"Authorization": f"Bearer {token}"})


async def test_a_valid_hs256_token_maps_to_its_role(settings: Settings) -> None:
    response = await _whoami(settings, _hs(_claims()))
    assert response.status_code == 200
    assert response.json() == {
        "id": "jwt:alice",
        "name": "alice",
        "role": "operator",
        "kind": "jwt",
    }


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "not_yet_valid",
        "no_exp",
        "wrong_secret",
        "tampered",
        "alg_none",
        "unknown_role",
        "no_subject",
        "exp_as_string",
        "nbf_as_string",
        "iat_as_string",
        "exp_as_bool",
    ],
)
async def test_bad_tokens_are_refused_alike(settings: Settings, case: str) -> None:
    now = int(time.time())
    tokens = {
        "expired": _hs(_claims(exp=now - 3600)),
        "not_yet_valid": _hs(_claims(nbf=now + 3600)),
        "no_exp": _hs(_claims(exp=None)),
        "wrong_secret": _hs(_claims(), secret="another-secret-" + "x" * 40),
        "tampered": _tamper(_hs(_claims(role="viewer"))),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(role='admin'))}.",
        "unknown_role": _hs(_claims(role="superuser")),
        "no_subject": _hs(_claims(sub=None)),
        # NumericDate claims are JSON numbers (RFC 7519); python-jose would int() a string.
        "exp_as_string": _hs(_claims(exp="9999999999")),
        "nbf_as_string": _hs(_claims(nbf=str(now - 60))),
        "iat_as_string": _hs(_claims(iat=str(now))),
        "exp_as_bool": _hs(_claims(exp=True)),
    }
    response = await _whoami(settings, tokens[case])
    assert response.status_code == 401
    assert response.json()["message"] == REFUSED  # never which part was wrong
    assert response.headers["www-authenticate"].startswith("Bearer")


def _tamper(token: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64(_claims(role='admin'))}.{signature}"


async def test_issuer_and_audience_are_checked(settings: Settings) -> None:
    strict = settings.model_copy(update={"jwt_issuer": "aurum-idp", "jwt_audience": "aurum"})
    good = _hs(_claims(iss="aurum-idp", aud="aurum"))
    assert (await _whoami(strict, good)).status_code == 200
    for bad in (_hs(_claims(iss="evil", aud="aurum")), _hs(_claims(iss="aurum-idp", aud="other"))):
        response = await _whoami(strict, bad)
        assert response.status_code == 401 and response.json()["message"] == REFUSED


async def test_scope_claim_carries_the_role(settings: Settings) -> None:
    from app.settings import RoleClaim

    scoped = settings.model_copy(update={"jwt_role_claim": RoleClaim.SCOPE})
    response = await _whoami(scoped, _hs(_claims(role=None, scope="openid aurum:viewer")))
    assert response.status_code == 200 and response.json()["role"] == "viewer"


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path_factory.mktemp("keys") / "public.pem"
    path.write_bytes(public)
    return private, path


async def test_rs256_accepts_its_own_tokens_and_refuses_hs256_made_with_the_public_key(
    settings: Settings, rsa_key: tuple[bytes, Path]
) -> None:
    private, public_path = rsa_key
    rs = settings.model_copy(
        update={
            "jwt_algorithm": JwtAlgorithm.RS256,
            "jwt_public_key_file": public_path,
            "jwt_secret": None,
        }
    )
    good = str(jwt.encode(_claims(), private.decode(), algorithm="RS256"))
    assert (await _whoami(rs, good)).status_code == 200
    # The classic confusion attack: HMAC "signed" with the public key as the secret.
    forged = _hmac_token(_claims(role="admin"), public_path.read_bytes())
    response = await _whoami(rs, forged)
    assert response.status_code == 401 and response.json()["message"] == REFUSED


def _hmac_token(claims: dict[str, Any], key: bytes) -> str:
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    digest = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


async def test_a_jwks_file_selects_the_key_by_kid(
    settings: Settings, rsa_key: tuple[bytes, Path], tmp_path: Path
) -> None:
    from jose import jwk

    private, public_path = rsa_key
    public_jwk = jwk.construct(public_path.read_text(), algorithm="RS256").to_dict()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public_jwk | {"kid": "k1"}]}))
    rs = settings.model_copy(
        update={"jwt_algorithm": JwtAlgorithm.RS256, "jwt_jwks_file": jwks, "jwt_secret": None}
    )
    rs_verifier_settings = rs
    token = str(jwt.encode(_claims(), private.decode(), algorithm="RS256", headers={"kid": "k1"}))
    assert (await _whoami(rs_verifier_settings, token)).status_code == 200
    other = str(jwt.encode(_claims(), private.decode(), algorithm="RS256", headers={"kid": "k2"}))
    assert (await _whoami(rs, other)).status_code == 401


def test_a_short_or_default_secret_stops_the_service() -> None:
    from pydantic import ValidationError

    for secret in ("changethis", "short-but-random-1", "a" * 64):
        with pytest.raises(ValidationError, match="jwt_secret"):
            Settings(_env_file=None, jwt_secret=secret)  # type: ignore[call-arg]
