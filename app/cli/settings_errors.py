"""Turn a settings ValidationError into one line an operator can act on."""

from __future__ import annotations

from pydantic import ValidationError

from app.settings import settings_env_name

# Values of these settings may hold credentials: never echo them back.
_SECRET_FIELDS = {
    "fred_api_key",
    "eia_api_key",
    "noaa_token",
    "database_url",
    "redis_url",
    "rate_limit_storage_url",
    "jwt_secret",
    "metrics_bearer_token",
}


def describe_settings_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        message = item.get("msg", "is invalid").removeprefix("Value error, ")
        if not item.get("loc"):  # a rule across settings names its variables itself
            problems.append(message)
            continue
        field = str(item["loc"][0])
        shown = ""
        if field not in _SECRET_FIELDS and "input" in item and isinstance(item["input"], str):
            shown = f" (got {item['input']!r})"
        problems.append(f"{settings_env_name(field)}: {message}{shown}")
    return "invalid setting " + "; ".join(problems)
