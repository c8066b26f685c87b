"""Advancing the data version, the truth endpoint and determinism: each test owns a server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.sandbox import SandboxServer
from tests.sandbox.conftest import KEY, TOKEN, truth

STATION = "GHCND:USW00094728"


@pytest.fixture
def fresh() -> Iterator[httpx.Client]:
    server = SandboxServer(enforce_limits=False)
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def _fred(http: httpx.Client, series_id: str) -> dict[str, str]:
    body = http.get("/fred/series/observations", params={**KEY, "series_id": series_id}).json()
    return {o["date"]: o["value"] for o in body["observations"]}


def test_advance_appends_and_revises_chosen_series(fresh: httpx.Client) -> None:
    before_gdp, before_unrate = _fred(fresh, "GDP"), _fred(fresh, "UNRATE")
    result = fresh.post("/_sandbox/advance", json={"series": ["fred:GDP"]}).json()
    assert result["version"] == 2
    (change,) = result["changed"]["fred"]
    after = _fred(fresh, "GDP")
    assert change["appended"] == sorted(set(after) - set(before_gdp))
    assert change["revised"] and all(
        after[d] != before_gdp[d] for d in change["revised"] if before_gdp[d] != "."
    )
    older = [d for d in before_gdp if d not in change["revised"]]
    assert all(after[d] == before_gdp[d] for d in older)
    assert _fred(fresh, "UNRATE") == before_unrate


def test_advance_moves_change_signals(fresh: httpx.Client) -> None:
    updates = fresh.get("/fred/series/updates", params=KEY).json()["seriess"]
    source = fresh.get("/worldbank/v2/source/2", params={"format": "json"}).json()[1][0]
    station = fresh.get(f"/noaa/cdo-web/api/v2/stations/{STATION}", headers=TOKEN).json()
    chosen = {
        "fred": ["DEXUSEU"],
        "worldbank": ["NY.GDP.MKTP.CD:USA"],
        "noaa": [f"{STATION}:{dt}" for dt in ("TMAX", "TMIN", "PRCP")],
    }
    fresh.post("/_sandbox/advance", json={"series": chosen}).raise_for_status()
    updates_after = fresh.get("/fred/series/updates", params=KEY).json()["seriess"]
    assert updates_after[0]["id"] == "DEXUSEU"
    assert updates_after[0]["last_updated"] > max(s["last_updated"] for s in updates)
    source_after = fresh.get("/worldbank/v2/source/2", params={"format": "json"}).json()[1][0]
    assert source_after["lastupdated"] > source["lastupdated"]
    station_after = fresh.get(f"/noaa/cdo-web/api/v2/stations/{STATION}", headers=TOKEN).json()
    assert station_after["maxdate"] > station["maxdate"]


def test_default_advance_changes_some_series_of_every_provider(fresh: httpx.Client) -> None:
    changed = fresh.post("/_sandbox/advance").json()["changed"]
    assert set(changed) == {"fred", "eia", "noaa", "worldbank"}
    assert fresh.post("/_sandbox/advance", json={"series": ["fred:NOPE"]}).status_code == 404


def test_truth_matches_every_provider(fresh: httpx.Client) -> None:
    fresh.post("/_sandbox/advance")
    expected = truth(fresh, "eia", "electricity/retail-sales:monthly:TX/COM")
    rows = fresh.get(
        "/eia/v2/electricity/retail-sales/data/",
        params={
            "api_key": "k",
            "data[0]": "price",
            "facets[stateid][]": "TX",
            "facets[sectorid][]": "COM",
        },
    ).json()["response"]["data"]
    assert {r["period"]: r["price"] for r in rows} == {
        d[:7]: None if v is None else f"{v:.2f}" for d, v in expected.items()
    }
    expected = truth(fresh, "worldbank", "FP.CPI.TOTL.ZG:DEU")
    _, wb = fresh.get(
        "/worldbank/v2/country/DEU/indicator/FP.CPI.TOTL.ZG",
        params={"format": "json", "per_page": 1000},
    ).json()
    assert {r["date"]: r["value"] for r in wb} == {d[:4]: v for d, v in expected.items()}
    expected = truth(fresh, "fred", "DGS10")
    assert _fred(fresh, "DGS10") == {
        d: "." if v is None else f"{v:.2f}" for d, v in expected.items()
    }


def test_two_sandboxes_serve_identical_data() -> None:
    bodies = []
    for _ in range(2):
        with (
            SandboxServer(enforce_limits=False) as server,
            httpx.Client(base_url=server.url) as http,
        ):
            http.post("/_sandbox/advance").raise_for_status()
            bodies.append(
                (
                    _fred(http, "UNRATE"),
                    http.get(
                        "/worldbank/v2/country/all/indicator/NY.GDP.MKTP.CD",
                        params={"format": "json", "per_page": 500},
                    ).json()[1],
                    http.get(
                        "/noaa/cdo-web/api/v2/data",
                        headers=TOKEN,
                        params={
                            "datasetid": "GHCND",
                            "startdate": "2024-03-01",
                            "enddate": "2024-03-31",
                            "limit": 1000,
                        },
                    ).json(),
                )
            )
    assert bodies[0] == bodies[1]


def test_generate_makes_up_series_ahead_and_refuses_unknown_ones(fresh: httpx.Client) -> None:
    made = fresh.post("/_sandbox/generate", json={"series": ["fred:BULK1500", "fred:GDP"]})
    assert made.status_code == 200
    assert made.json()["series"] == 2 and made.json()["observations"] >= 1500
    page = fresh.get(
        "/fred/series/observations", params={**KEY, "series_id": "BULK1500", "limit": 10}
    ).json()
    assert page["count"] == 1500  # the same data a first request would have made up
    assert fresh.post("/_sandbox/generate", json={"series": ["fred:NOPE"]}).status_code == 404
    assert fresh.post("/_sandbox/generate", json={}).status_code == 400
