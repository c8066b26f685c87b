"""API key material: `aur_<prefix>_<secret>`, 32 random bytes of secret.

Only the SHA-256 of the whole key is stored. A slow password hash is unnecessary here: the
secret is 256 random bits, not a human password, so it cannot be guessed from its hash, and a
fast hash keeps verification off the request's critical path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

KEY_PREFIX = "aur"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 8
SECRET_BYTES = 32


@dataclass(frozen=True)
class NewKey:
    plaintext: str  # shown once, never stored
    prefix: str
    key_hash: str


def generate_key() -> NewKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return NewKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def split_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a well-formed key, else None (no DB lookup for garbage)."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != PREFIX_LENGTH:
        return None
    if len(parts[2]) < 40:
        return None
    return parts[1]


def matches(plaintext: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), key_hash)
