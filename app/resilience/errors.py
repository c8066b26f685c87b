"""Conditions of the guarded client. Each carries its HTTP status for the admin API and a
message an operator can act on; none is a 500."""

from __future__ import annotations

from app.errors import AurumError


class ProviderCallError(AurumError):
    """A provider call did not produce a usable response."""

    status_code = 502
    code = "provider_error"


class QuotaExhausted(ProviderCallError):
    status_code = 429
    code = "quota_exhausted"


class CircuitOpen(ProviderCallError):
    status_code = 503
    code = "circuit_open"


class ProviderThrottled(ProviderCallError):
    """The provider said slow down (429 or a throttle body) and retries ran out."""

    status_code = 429
    code = "provider_throttled"


class ProviderUnavailable(ProviderCallError):
    """5xx, timeouts, connection errors or error bodies, after the retries."""

    status_code = 502
    code = "provider_unavailable"


class ProviderRejected(ProviderCallError):
    """A client error (4xx other than 429): the request must change; never retried and not
    counted against the breaker."""

    status_code = 502
    code = "provider_rejected"
