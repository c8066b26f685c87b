"""`aurum redis-cli ARGS...`: the runbooks' `redis-cli` lines against the Redis the service
uses (AURUM_REDIS_URL, else the embedded default's port), printed as `redis-cli --raw` does.
A bare `redis-cli` reads whatever listens on 6379, which is not the embedded default's."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import typer
from pydantic import ValidationError

from app.cli.ops.exits import CliError, Exit
from app.cli.settings_errors import describe_settings_error
from app.settings import Settings

EMBEDDED_HOST = "127.0.0.1"  # app/embedded/redis.py binds the embedded server here


def service_redis_url() -> str:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise CliError(describe_settings_error(exc), Exit.USAGE) from None
    if settings.redis_url:
        return settings.redis_url
    return f"redis://{EMBEDDED_HOST}:{settings.embedded_redis_port}/0"


def _shown(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def _with_database(url: str, database: int | None) -> str:
    if database is None:
        return url
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _lines(value: Any) -> list[bytes]:
    """A reply as `redis-cli --raw` prints it: nil an empty line, arrays one item a line."""
    if value is None:
        return [b""]
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, bool):
        return [b"1" if value else b"0"]
    if isinstance(value, int | float):
        return [str(value).encode()]
    if isinstance(value, str):
        return [value.encode()]
    if isinstance(value, dict):
        out: list[bytes] = []
        for key, item in value.items():
            out += _lines(key) + _lines(item)
        return out
    if isinstance(value, list | tuple | set):
        return [line for item in value for line in _lines(item)]
    return [str(value).encode()]


def _split(args: list[str]) -> tuple[int | None, list[str]]:
    """redis-cli's own leading options we honour: --raw (always on) and -n DB."""
    database = None
    rest = list(args)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in {"--raw", "--no-raw"}:
            continue
        if option == "-n" and rest:
            try:
                database = int(rest.pop(0))
            except ValueError:
                raise CliError("-n takes a database number", Exit.USAGE) from None
            continue
        raise CliError(
            f"redis-cli option {option} is not supported here (only --raw and -n DB): the "
            "connection is the service's Redis",
            Exit.USAGE,
        )
    return database, rest


def redis_cli(
    args: list[str] = typer.Argument(
        None,
        metavar="[--raw] [-n DB] COMMAND [ARG]...",
        help="e.g. --raw get external:provider_status:fred",
    ),
) -> None:
    """Run one Redis command against the service's Redis, printed like `redis-cli --raw`."""
    database, command = _split(args or [])
    if not command:
        raise CliError("give a Redis command, e.g. aurum redis-cli GET key", Exit.USAGE)
    url = _with_database(service_redis_url(), database)
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    client.response_callbacks.clear()  # raw replies: PONG, OK, bytes, as redis-cli shows them
    try:
        reply = client.execute_command(*command)
    except redis.ResponseError as exc:
        typer.echo(f"(error) {exc}", err=True)
        raise typer.Exit(int(Exit.REFUSED)) from None
    except redis.RedisError as exc:
        raise CliError(f"Redis at {_shown(url)}: {exc}", Exit.UNAVAILABLE) from None
    finally:
        client.close()
    for line in _lines(reply):
        typer.echo(line)
