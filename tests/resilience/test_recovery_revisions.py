"""Revisions published while a provider was down reach the store after it recovers: the
recovery (a reset here) leaves a marker in PostgreSQL, and the next full collection re-reads
every series' revision window, although the outage window's backfill already brought the new
period (after which the series looked unchanged, and its revisions stayed wrong until the
daily re-read). Checked against the sandbox's truth for a series of each frequency the sandbox
revises (it revises the three newest periods): the window must span enough periods, not a
fixed number of days."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.sandbox.server import SandboxServer
from app.settings import Settings
from tests.support.outage import API, outage_of

CASES = {
    # case: (provider, series id in the provider file, the sandbox's key)
    "eia-weekly": (
        "eia",
        "petroleum/pri/spt:weekly:RBRTE:value",
        "petroleum/pri/spt:weekly:RBRTE",
    ),
    "eia-monthly": (
        "eia",
        "electricity/retail-sales:monthly:CO/RES:price",
        "electricity/retail-sales:monthly:CO/RES",
    ),
    "fred-monthly": ("fred", "UNRATE", "UNRATE"),
    "fred-quarterly": ("fred", "GDP", "GDP"),
    "worldbank-monthly": ("worldbank", "CPTOTSAXN:USA", "CPTOTSAXN:USA"),
    "worldbank-quarterly": (
        "worldbank",
        "DP.DOD.DECD.CR.PS.CD:USA",
        "DP.DOD.DECD.CR.PS.CD:USA",
    ),
    "worldbank-annual": ("worldbank", "NY.GDP.MKTP.CD:USA", "NY.GDP.MKTP.CD:USA"),
    "noaa-daily": ("noaa", "GHCND:USW00014895:TMAX", "GHCND:USW00014895:TMAX"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_revisions_published_during_an_outage_are_stored_after_recovery(
    case: str,
    settings: Settings,
    database_url: str,
    redis_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    provider, series_id, key = CASES[case]

    def truth() -> dict[str, str | None]:
        body = sandbox.control("GET", f"truth/{provider}/{key}")
        if provider == "noaa":  # no row for a missing value; metric units are tenths / 10
            return {
                o["date"]: _raw(round(o["value"] / 10, 1))
                for o in body["observations"]
                if o["value"] is not None
            }
        return {o["date"]: _raw(o["value"]) for o in body["observations"]}

    async with outage_of(
        provider, series_id, settings=settings, database_url=database_url,
        redis_url=redis_url, sandbox=sandbox, tmp_path=tmp_path,
    ) as outage:  # fmt: skip
        assert (await outage.run())["status"] == "succeeded"
        assert _numbers(outage.stored()) == _numbers(truth())

        # The outage: calls fail, and meanwhile the provider publishes a period and revises
        # older values.
        outage.fault()
        published = sandbox.control("POST", "advance", {"series": [f"{provider}:{key}"]})
        (change,) = published["changed"][provider]
        assert change["appended"] and change["revised"]
        assert (await outage.run())["status"] == "failed"
        assert (await outage.health())["breaker"]["state"] == "open"

        # Recovery: the fault is lifted, an operator resets the breaker.
        outage.lift()
        reset = await outage.client.post(
            f"{API}/circuit-breakers/{provider}/reset", headers=outage.headers
        )
        assert reset.status_code == 200, reset.text
        assert outage.recovery_pending()

        # The runbook's backfill of the outage window brings the new period...
        new = change["appended"][0]
        window = await outage.run(start=new, end=change["appended"][-1])
        assert window["status"] == "succeeded"
        assert outage.recovery_pending()  # a window does not re-read revisions
        # ...and the next run re-reads the revision window: every value is the provider's.
        assert (await outage.run())["status"] == "succeeded"
        stored, expected = _numbers(outage.stored()), _numbers(truth())
        wrong = {d: (stored.get(d), v) for d, v in expected.items() if stored.get(d) != v}
        assert not wrong, f"stored values differ from the provider's: {wrong}"
        assert not outage.recovery_pending()  # consumed by the successful run


def _raw(value: float | None) -> str | None:
    return None if value is None else repr(value)


def _numbers(values: dict[str, str | None]) -> dict[str, float | None]:
    out = {}
    for day, raw in values.items():
        try:
            out[day] = None if raw in (None, "", ".") else float(raw)  # type: ignore[arg-type]
        except ValueError:
            out[day] = None
    return out
