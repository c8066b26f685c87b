"""The flags the service knows, each with the schema its configuration must satisfy.

A flag is only useful if code reads it; each definition names its consumer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import InvalidInput, NotFound

PROVIDERS = ("fred", "eia", "noaa", "worldbank")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadCacheConfig(_Config):
    ttl_seconds: int = Field(default=900, ge=1, le=86_400)


class IngestConfig(_Config):
    """Unset fields keep each provider's own value from the provider file (its batch sizes
    and workers differ), so the flag's default changes nothing."""

    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    max_workers: int | None = Field(default=None, ge=1, le=64)


class ApiRateLimitConfig(_Config):
    """Unset `rps` overrides nothing: AURUM_RATE_LIMIT_DEFAULT's per-second limit stays in
    force (the flag's read shows which limit is, as `in_force`)."""

    rps: float | None = Field(default=None, gt=0, le=100_000)


class PerProviderConfig(_Config):
    """`{"fred": true, "eia": false}`: providers not named keep their configured value."""

    fred: bool | None = None
    eia: bool | None = None
    noaa: bool | None = None
    worldbank: bool | None = None


@dataclass(frozen=True)
class FlagDefinition:
    name: str
    description: str
    consumer: str
    schema: type[_Config]
    default_enabled: bool = False
    default_configuration: dict[str, Any] = field(default_factory=dict)

    def validate(self, configuration: dict[str, Any]) -> dict[str, Any]:
        """The full configuration (defaults filled in), or InvalidInput naming the field."""
        try:
            model = self.schema.model_validate(configuration)
        except ValidationError as exc:
            details = [
                {
                    "field": ".".join(["configuration", *map(str, err["loc"])]),
                    "message": err["msg"],
                }
                for err in exc.errors()
            ]
            fields = ", ".join(f"'{d['field']}': {d['message']}" for d in details)
            message = f"Invalid configuration for {self.name}: {fields}"
            raise InvalidInput(message, details=details) from None
        return model.model_dump(exclude_none=True)


FLAGS: dict[str, FlagDefinition] = {
    flag.name: flag
    for flag in (
        FlagDefinition(
            "external_read_cache",
            "Serve /v1/external reads from Redis for ttl_seconds; stale copies if Postgres fails.",
            "read API",
            ReadCacheConfig,
        ),
        FlagDefinition(
            "external_ingest",
            "Ingest batch size and parallel workers used by the next collection runs.",
            "ingest pipeline",
            IngestConfig,
            default_enabled=True,
        ),
        FlagDefinition(
            "api_rate_limit",
            "Override the inbound per-second limit (requests per second per principal).",
            "inbound rate limiter",
            ApiRateLimitConfig,
        ),
        FlagDefinition(
            "adaptive_rate_limiting",
            "Per provider: cut the outbound rate on 429s and recover slowly.",
            "outbound limiter",
            PerProviderConfig,
            default_enabled=True,
        ),
        FlagDefinition(
            "provider_enabled",
            "Per provider: the allow-list toggle; a disabled provider is not collected.",
            "collectors",
            PerProviderConfig,
            default_enabled=True,
        ),
        FlagDefinition(
            "provider_fallback",
            "Per provider: read from its mirror URL instead of the live API.",
            "collectors",
            PerProviderConfig,
        ),
    )
}


def definition(name: str) -> FlagDefinition:
    try:
        return FLAGS[name]
    except KeyError:
        known = ", ".join(sorted(FLAGS))
        raise NotFound(f"No flag named {name!r}; known flags: {known}.") from None
