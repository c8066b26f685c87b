"""What a provider's stored rows should be: the sandbox's truth in the collector's form, and
the comparison the scenarios report (missing, unexpected and different dates)."""

from __future__ import annotations

import math
from typing import Any

from tests.scenarios.harness.providers import ProviderSpec
from tests.scenarios.harness.sandbox import SandboxProcess
from tests.scenarios.harness.service import ServiceProcess


def expected(sandbox: SandboxProcess, spec: ProviderSpec, series_id: str) -> dict[str, Any]:
    return spec.stored_form(sandbox.truth(spec.name, spec.sandbox_key(series_id)))


def stored(service: ServiceProcess, provider: str, series_id: str) -> dict[str, Any]:
    """Verification only: the rows as PostgreSQL holds them (the default tenant)."""
    rows = service.sql(
        "SELECT obs_date::text, value FROM external_timeseries_obs "
        "WHERE tenant_id = 'default' AND provider = %s AND series_id = %s",
        provider,
        series_id,
    )
    return dict(rows)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def differences(want: dict[str, Any], have: dict[str, Any], limit: int = 5) -> dict[str, Any]:
    """Empty when equal; else a few examples of each kind of difference."""
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    wrong = sorted(d for d in set(want) & set(have) if not _same(want[d], have[d]))
    out: dict[str, Any] = {}
    if missing:
        out["missing"] = (len(missing), missing[-limit:])
    if extra:
        out["unexpected"] = (len(extra), extra[-limit:])
    if wrong:
        out["different"] = (len(wrong), {d: (have[d], want[d]) for d in wrong[-limit:]})
    return out


def mismatches(
    service: ServiceProcess, sandbox: SandboxProcess, spec: ProviderSpec
) -> dict[str, Any]:
    """Per series of `spec` that differs from the truth, how (stored, then truth values)."""
    out = {}
    for series_id in spec.datasets:
        diff = differences(
            expected(sandbox, spec, series_id), stored(service, spec.name, series_id)
        )
        if diff:
            out[series_id] = diff
    return out
