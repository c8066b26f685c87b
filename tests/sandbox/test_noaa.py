from __future__ import annotations

import httpx

from app.sandbox import SandboxServer
from tests.sandbox.conftest import TOKEN

BASE = "/noaa/cdo-web/api/v2"
STATION = "GHCND:USW00014895"
YEAR = {
    "datasetid": "GHCND",
    "stationid": STATION,
    "startdate": "2024-01-01",
    "enddate": "2024-12-31",
}


def test_default_limit_25_and_one_based_offset(http: httpx.Client) -> None:
    first = http.get(f"{BASE}/data", params=YEAR, headers=TOKEN).json()
    assert first["metadata"]["resultset"] == {
        "offset": 1,
        "count": first["metadata"]["resultset"]["count"],
        "limit": 25,
    }
    assert len(first["results"]) == 25
    zero = http.get(f"{BASE}/data", params={**YEAR, "offset": 0}, headers=TOKEN).json()
    one = http.get(f"{BASE}/data", params={**YEAR, "offset": 1}, headers=TOKEN).json()
    assert zero == one == first
    row = first["results"][0]
    assert row["date"].endswith("T00:00:00") and row["station"] == STATION
    assert row["attributes"].endswith(",,W,2400") and isinstance(row["value"], int)


def test_paging_from_one_covers_every_row_once(http: httpx.Client) -> None:
    params = {**YEAR, "limit": 5000}  # silently capped at 1000
    first = http.get(f"{BASE}/data", params=params, headers=TOKEN).json()
    count = first["metadata"]["resultset"]["count"]
    assert first["metadata"]["resultset"]["limit"] == 1000 and count > 1000
    seen = []
    for offset in range(1, count + 1, 1000):
        page = http.get(f"{BASE}/data", params={**params, "offset": offset}, headers=TOKEN)
        seen += [(r["date"], r["datatype"]) for r in page.json()["results"]]
    assert len(seen) == len(set(seen)) == count
    tmax = http.get(f"/_sandbox/truth/noaa/{STATION}:TMAX").json()["observations"]
    in_year = [o for o in tmax if "2024-01-01" <= o["date"] <= "2024-12-31"]
    assert len([s for s in seen if s[1] == "TMAX"]) == len(in_year)


def test_units_metric_scales_tenths(http: httpx.Client) -> None:
    params = {**YEAR, "datatypeid": "TMAX", "limit": 10}
    raw = http.get(f"{BASE}/data", params=params, headers=TOKEN).json()["results"]
    metric = http.get(f"{BASE}/data", params={**params, "units": "metric"}, headers=TOKEN)
    for r, m in zip(raw, metric.json()["results"], strict=True):
        assert m["value"] == round(r["value"] / 10, 1)


def test_empty_result_is_an_empty_object(http: httpx.Client) -> None:
    params = {**YEAR, "startdate": "2001-01-01", "enddate": "2001-02-01"}
    r = http.get(f"{BASE}/data", params=params, headers=TOKEN)
    assert r.status_code == 200 and r.json() == {}


def test_errors(http: httpx.Client) -> None:
    r = http.get(f"{BASE}/data", params=YEAR)
    assert r.status_code == 400
    assert r.json() == {"status": "400", "message": "The token parameter provided is not valid."}
    long = {**YEAR, "enddate": "2025-01-01"}
    assert http.get(f"{BASE}/data", params=long, headers=TOKEN).status_code == 400


def test_station_and_dataset_maxdate(http: httpx.Client) -> None:
    station = http.get(f"{BASE}/stations/{STATION}", headers=TOKEN).json()
    dataset = http.get(f"{BASE}/datasets/GHCND", headers=TOKEN).json()
    assert station["id"] == STATION and station["maxdate"] <= dataset["maxdate"]
    assert http.get(f"{BASE}/stations/GHCND:NOPE", headers=TOKEN).status_code == 404


def test_throttle_five_per_second_per_token() -> None:
    with SandboxServer() as server, httpx.Client(base_url=server.url) as http:
        replies = [http.get(f"{BASE}/datasets/GHCND", headers=TOKEN) for _ in range(8)]
        codes = [r.status_code for r in replies]
        assert codes[:5] == [200] * 5 and 429 in codes[5:]
        throttled = replies[codes.index(429)].json()
        assert throttled["message"].endswith("temporary request limit of 5 per second")
        other = http.get(f"{BASE}/datasets/GHCND", headers={"token": "another"})
        assert other.status_code == 200
