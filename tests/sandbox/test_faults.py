from __future__ import annotations

import time

import httpx
import pytest

from tests.sandbox.conftest import KEY, TOKEN

OBS = "/fred/series/observations"
FRED = {**KEY, "series_id": "UNRATE"}


def _fault(http: httpx.Client, **body: object) -> dict[str, object]:
    r = http.post("/_sandbox/faults", json=body)
    assert r.status_code == 201, r.text
    return r.json()["fault"]


def _fred(http: httpx.Client) -> httpx.Response:
    return http.get(OBS, params=FRED)


def test_status_fires_count_times_then_stops(http: httpx.Client) -> None:
    _fault(http, provider="fred", path="series/observations", kind="status", status=503, count=2)
    codes = [_fred(http).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert http.get("/fred/series", params=FRED).status_code == 200  # path did not match


def test_throttle_sends_429_with_retry_after(http: httpx.Client) -> None:
    _fault(http, provider="noaa", kind="throttle", retry_after=3, count=1)
    r = http.get("/noaa/cdo-web/api/v2/datasets/GHCND", headers=TOKEN)
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert "temporary request limit" in r.json()["message"]
    assert http.get("/noaa/cdo-web/api/v2/datasets/GHCND", headers=TOKEN).status_code == 200


def test_error_200_uses_the_provider_envelope(http: httpx.Client) -> None:
    _fault(http, provider="worldbank", kind="error_200", count=1)
    url = "/worldbank/v2/country/USA/indicator/NY.GDP.MKTP.CD"
    r = http.get(url, params={"format": "json"})
    assert r.status_code == 200 and "message" in r.json()[0]
    assert "page" in http.get(url, params={"format": "json"}).json()[0]
    _fault(http, provider="eia", kind="error_200", count=1)
    r = http.get("/eia/v2/electricity/retail-sales", params={"api_key": "k"})
    assert r.status_code == 200 and r.json()["code"] == 400


def test_malformed_and_truncated_bodies_do_not_parse(http: httpx.Client) -> None:
    _fault(http, provider="fred", kind="malformed", count=1)
    _fault(http, provider="fred", kind="truncated", count=1)
    for _ in range(2):
        r = _fred(http)
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
    whole = _fred(http)
    assert whole.json()["count"] > 0


def test_truncated_is_half_the_real_body(http: httpx.Client) -> None:
    whole = _fred(http).content
    _fault(http, kind="truncated", count=1)
    cut = _fred(http).content
    assert cut == whole[: len(whole) // 2]


def test_latency_and_timeout(http: httpx.Client) -> None:
    _fault(http, provider="fred", kind="latency", delay_seconds=0.3, count=1)
    started = time.monotonic()
    assert _fred(http).status_code == 200
    assert time.monotonic() - started >= 0.3
    _fault(http, provider="fred", kind="timeout", count=1)
    with pytest.raises(httpx.ReadTimeout):
        http.get(OBS, params=FRED, timeout=0.5)
    assert _fred(http).status_code == 200


def test_until_cleared_and_listing(http: httpx.Client) -> None:
    _fault(http, provider="eia", kind="status", status=500)
    for _ in range(3):
        assert http.get("/eia/v2/", params={"api_key": "k"}).status_code == 500
    (rule,) = http.get("/_sandbox/faults").json()["faults"]
    assert rule["fired"] == 3 and rule["count"] is None
    assert http.delete("/_sandbox/faults").json() == {"cleared": 1}
    assert http.get("/eia/v2/", params={"api_key": "k"}).status_code == 200


def test_invalid_fault_is_refused(http: httpx.Client) -> None:
    assert http.post("/_sandbox/faults", json={"kind": "gremlins"}).status_code == 400
    assert http.post("/_sandbox/faults", json={"kind": "status", "count": 0}).status_code == 400
    bad_provider = {"kind": "status", "provider": "ecb"}
    assert http.post("/_sandbox/faults", json=bad_provider).status_code == 400


def test_stats_count_requests_per_endpoint(http: httpx.Client) -> None:
    http.delete("/_sandbox/stats")
    _fault(http, provider="fred", kind="status", count=1)
    for _ in range(3):
        _fred(http)
    http.get("/fred/series", params=FRED)
    http.get("/noaa/cdo-web/api/v2/stations/GHCND:USW00014895", headers=TOKEN)
    stats = http.get("/_sandbox/stats").json()
    assert stats["by_endpoint"] == {
        "fred:series": 1,
        "fred:series/observations": 3,
        "noaa:stations/{id}": 1,
    }
    assert stats["total"] == 5 and stats["by_provider"] == {"fred": 4, "noaa": 1}
    http.delete("/_sandbox/stats")
    assert http.get("/_sandbox/stats").json()["total"] == 0
