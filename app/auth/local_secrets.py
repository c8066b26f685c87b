"""Secrets the embedded default keeps in its data directory (mode 0600), so a newcomer's
`make run` works with tokens and keys without configuring anything."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

JWT_SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name, not a secret
BOOTSTRAP_KEY_FILE = "bootstrap-admin-key"


def write_private(path: Path, content: str) -> None:
    """Create `path` readable by its owner only (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content + "\n")
    os.chmod(path, 0o600)


def local_jwt_secret(data_dir: Path) -> str:
    """The HS256 secret of the embedded default, created on first use."""
    path = data_dir / JWT_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(48)
    write_private(path, secret)
    return secret
