from __future__ import annotations

import httpx

from app.sandbox import SandboxServer, default_catalog
from tests.sandbox.conftest import KEY, truth

OBS = "/fred/series/observations"


def test_observations_are_strings_with_dot_for_missing(http: httpx.Client) -> None:
    body = http.get(OBS, params={**KEY, "series_id": "DGS10"}).json()
    assert body["count"] == len(body["observations"]) > 2000
    assert body["limit"] == 100000 and body["offset"] == 0 and body["sort_order"] == "asc"
    values = [o["value"] for o in body["observations"]]
    assert all(isinstance(v, str) for v in values)
    assert "." in values
    assert all(v == "." or float(v) >= 0 for v in values)
    dates = [o["date"] for o in body["observations"]]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)


def test_monthly_dates_are_first_of_month_and_gaps_exist(http: httpx.Client) -> None:
    body = http.get(OBS, params={**KEY, "series_id": "UNRATE"}).json()
    dates = [o["date"] for o in body["observations"]]
    assert all(d.endswith("-01") for d in dates)
    months = (
        (int(dates[-1][:4]) - int(dates[0][:4])) * 12 + int(dates[-1][5:7]) - int(dates[0][5:7])
    )
    assert len(dates) < months + 1  # some periods are absent altogether


def test_paging_covers_every_row_once_and_matches_truth(http: httpx.Client) -> None:
    seen: list[tuple[str, str]] = []
    offset, count = 0, None
    while count is None or offset < count:
        page = http.get(OBS, params={**KEY, "series_id": "DGS10", "limit": 700, "offset": offset})
        body = page.json()
        count = body["count"]
        seen += [(o["date"], o["value"]) for o in body["observations"]]
        offset += 700
    expected = truth(http, "fred", "DGS10")
    assert len(seen) == count == len(expected)
    assert dict(seen) == {d: "." if v is None else f"{v:.2f}" for d, v in expected.items()}


def test_window_and_descending_order(http: httpx.Client) -> None:
    params = {
        **KEY,
        "series_id": "GDP",
        "observation_start": "2000-01-01",
        "observation_end": "2000-12-31",
        "sort_order": "desc",
        "limit": 2,
    }
    body = http.get(OBS, params=params).json()
    assert body["count"] <= 4 and len(body["observations"]) == 2
    assert body["observations"][0]["date"] > body["observations"][1]["date"] >= "2000-01-01"


def test_missing_key_unknown_series_and_bad_parameters(http: httpx.Client) -> None:
    r = http.get(OBS, params={"series_id": "DGS10", "file_type": "json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/xml")
    assert r.json() == {
        "error_code": 400,
        "error_message": "Bad Request.  Variable api_key has not been set.",
    }
    r = http.get(OBS, params={**KEY, "series_id": "NOPE"})
    assert r.status_code == 400
    assert r.json()["error_message"] == "Bad Request.  The series does not exist."
    r = http.get(OBS, params={**KEY, "series_id": "DGS10", "limit": 100001})
    assert r.status_code == 400
    r = http.get(OBS, params={**KEY, "series_id": "DGS10", "observation_start": "2020/01/01"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.json()["error_message"]


def test_xml_unless_file_type_json(http: httpx.Client) -> None:
    r = http.get(OBS, params={"api_key": "sandbox", "series_id": "DGS10"})
    assert r.status_code == 200 and r.text.startswith("<?xml")


def test_series_metadata_uses_seriess(http: httpx.Client) -> None:
    body = http.get("/fred/series", params={**KEY, "series_id": "UNRATE"}).json()
    (item,) = body["seriess"]
    assert item["id"] == "UNRATE" and item["frequency_short"] == "M"
    assert item["last_updated"].endswith("-05") and len(item["last_updated"]) == 22


def test_updates_feed_is_newest_first_and_capped(http: httpx.Client) -> None:
    body = http.get("/fred/series/updates", params={**KEY}).json()
    stamps = [s["last_updated"] for s in body["seriess"]]
    assert stamps == sorted(stamps, reverse=True)
    assert body["count"] == len(stamps) and body["limit"] == 1000
    assert http.get("/fred/series/updates", params={**KEY, "limit": 1001}).status_code == 400
    only_start = {**KEY, "start_time": "202001010000"}
    assert http.get("/fred/series/updates", params=only_start).status_code == 400


def test_bulk_series_has_exactly_n_observations(http: httpx.Client) -> None:
    body = http.get(OBS, params={**KEY, "series_id": "BULK250000", "offset": 200000}).json()
    assert body["count"] == 250000 and len(body["observations"]) == 50000
    assert "." not in {o["value"] for o in body["observations"]}


def test_synthetic_series_are_outside_the_updates_window() -> None:
    server = SandboxServer(default_catalog(fred_synthetic=50), enforce_limits=False)
    with server, httpx.Client(base_url=server.url) as http:
        body = http.get("/fred/series/updates", params=KEY).json()
        assert not [s for s in body["seriess"] if s["id"].startswith("SYN")]
        ids = [f"fred:SYN{i:04d}" for i in (3, 7)]
        http.post("/_sandbox/advance", json={"series": ids}).raise_for_status()
        body = http.get("/fred/series/updates", params=KEY).json()
        assert {s["id"] for s in body["seriess"][:2]} == {"SYN0003", "SYN0007"}


def test_observation_pages_are_the_bytes_a_json_response_of_their_dicts_would_be(
    http: httpx.Client,
) -> None:
    """The page's rows are formatted as text, not dicts: the answer must not change."""
    from starlette.responses import JSONResponse

    answer = http.get(
        "/fred/series/observations", params={**KEY, "series_id": "UNRATE", "limit": 50}
    )
    body = answer.json()
    assert len(body["observations"]) == 50 and list(body)[-1] == "observations"
    assert answer.content == JSONResponse(body).body
