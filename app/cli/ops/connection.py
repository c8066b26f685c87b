"""Where the service is and how to authenticate: flags, AURUM_* variables, a profile in the
config file, or (run in the project folder against the embedded default) its bootstrap key."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.cli.ops.exits import CliError, Exit

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_CONFIG = Path("~/.config/aurum/config.toml")
BOOTSTRAP_KEY_FILE = "bootstrap-admin-key"  # app/auth/local_secrets.py names it the same
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str | None
    token: str | None
    source: str  # where the credential came from, for error messages (never the secret)

    def headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


def config_path() -> Path:
    return Path(os.environ.get("AURUM_CLI_CONFIG") or DEFAULT_CONFIG).expanduser()


def read_profile(name: str) -> dict[str, str]:
    """`[profiles.<name>]` of the config file; a usage error naming the file otherwise."""
    path = config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CliError(f"profile {name!r}: no config file at {path}", Exit.USAGE) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", Exit.USAGE) from None
    profiles = data.get("profiles", {})
    profile = profiles.get(name) if isinstance(profiles, dict) else None
    if not isinstance(profile, dict):
        known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) else ""
        raise CliError(f"no profile {name!r} in {path} (profiles: {known or 'none'})", Exit.USAGE)
    unknown = set(profile) - {"url", "api_key", "token"}
    if unknown:
        raise CliError(
            f"profile {name!r} in {path}: unknown keys {', '.join(sorted(unknown))} "
            "(allowed: url, api_key, token)",
            Exit.USAGE,
        )
    return {key: str(value) for key, value in profile.items()}


def data_dir() -> Path:
    """The embedded default's data directory as `aurum serve` resolves it (AURUM_DATA_DIR,
    also from .env, else .data), relative to where the command runs."""
    from pydantic import ValidationError

    from app.settings import Settings

    try:
        return Settings().data_dir
    except ValidationError:  # an unrelated bad setting: read the one variable we need
        return Path(os.environ.get("AURUM_DATA_DIR") or ".data")


def is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOCAL_HOSTS


def bootstrap_key() -> tuple[str, Path] | None:
    path = data_dir() / BOOTSTRAP_KEY_FILE
    try:
        key = path.read_text().strip()
    except OSError:
        return None
    return (key, path) if key else None


def resolve(profile: str | None) -> Connection:
    """A named profile's values first, then AURUM_API_URL / AURUM_API_KEY / AURUM_TOKEN, then
    the defaults; with no credential and a local URL, the embedded default's bootstrap key."""
    name = profile or os.environ.get("AURUM_PROFILE") or None
    chosen = read_profile(name) if name else {}
    url = chosen.get("url") or os.environ.get("AURUM_API_URL") or DEFAULT_URL
    if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).hostname:
        raise CliError(f"the API URL must be http(s)://host[:port], got {url!r}", Exit.USAGE)
    url = url.rstrip("/")
    if chosen.get("api_key") or chosen.get("token"):
        return Connection(url, chosen.get("api_key"), chosen.get("token"), f"profile {name}")
    key, token = os.environ.get("AURUM_API_KEY"), os.environ.get("AURUM_TOKEN")
    if key:
        return Connection(url, key, None, "AURUM_API_KEY")
    if token:
        return Connection(url, None, token, "AURUM_TOKEN")
    if is_local(url):
        found = bootstrap_key()
        if found is not None:
            return Connection(url, found[0], None, f"the bootstrap key in {found[1]}")
    return Connection(url, None, None, "no credential")
