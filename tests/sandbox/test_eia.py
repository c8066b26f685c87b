from __future__ import annotations

import httpx

DATA = "/eia/v2/petroleum/pri/spt/data/"
RETAIL = "/eia/v2/electricity/retail-sales/data/"
KEY = {"api_key": "sandbox"}
ASC = {"sort[0][column]": "period", "sort[0][direction]": "asc"}


def _retail(**extra: str) -> dict[str, str]:
    return {
        **KEY,
        "frequency": "monthly",
        "data[0]": "price",
        "facets[stateid][]": "CO",
        "facets[sectorid][]": "RES",
        **ASC,
        **extra,
    }


def test_rows_have_string_values_units_and_string_total(http: httpx.Client) -> None:
    body = http.get(RETAIL, params=_retail()).json()
    resp = body["response"]
    assert isinstance(resp["total"], str) and int(resp["total"]) == len(resp["data"])
    assert resp["dateFormat"] == "YYYY-MM" and body["apiVersion"]
    row = resp["data"][0]
    assert row["stateid"] == "CO" and row["sectorName"] == "residential"
    assert row["price-units"] == "cents per kilowatthour"
    prices = [r["price"] for r in resp["data"]]
    assert None in prices and all(p is None or isinstance(p, str) for p in prices)
    assert "api_key" not in body["request"]["params"]


def test_without_data_columns_rows_carry_no_values(http: httpx.Client) -> None:
    params = {k: v for k, v in _retail().items() if k != "data[0]"}
    row = http.get(RETAIL, params=params).json()["response"]["data"][0]
    assert "price" not in row and row["period"]


def test_start_end_compare_as_strings(http: httpx.Client) -> None:
    rows = http.get(RETAIL, params=_retail(start="2020-02-01", end="2020-04")).json()
    periods = [r["period"] for r in rows["response"]["data"]]
    assert "2020-02" not in periods  # "2020-02" < "2020-02-01"
    assert periods and set(periods) <= {"2020-03", "2020-04"}


def test_rows_are_capped_at_5000_with_warnings_and_paging_covers_all(
    http: httpx.Client,
) -> None:
    params = {
        **KEY,
        "frequency": "daily",
        "data[0]": "value",
        **ASC,
        "sort[1][column]": "series",
        "sort[1][direction]": "asc",
    }
    first = http.get(DATA, params={**params, "length": "6000"}).json()["response"]
    total = int(first["total"])
    assert total > 5000 and len(first["data"]) == 5000
    kinds = {w["warning"] for w in first["warnings"]}
    assert kinds == {"parameter out of range", "incomplete return"}
    seen: list[tuple[str, str]] = []
    for offset in range(0, total, 5000):
        page = http.get(DATA, params={**params, "offset": str(offset), "length": "5000"})
        seen += [(r["period"], r["series"]) for r in page.json()["response"]["data"]]
    assert len(seen) == len(set(seen)) == total
    assert seen == sorted(seen)


def test_descending_sort_gives_latest_first(http: httpx.Client) -> None:
    params = _retail(**{"sort[0][direction]": "desc", "length": "1"})
    (latest,) = http.get(RETAIL, params=params).json()["response"]["data"]
    meta = http.get("/eia/v2/electricity/retail-sales", params=KEY).json()["response"]
    assert latest["period"] <= meta["endPeriod"]
    assert meta["frequency"][0]["id"] == "monthly"
    assert [f["id"] for f in meta["facets"]] == ["stateid", "sectorid"]


def test_catalog_and_facet_values(http: httpx.Client) -> None:
    root = http.get("/eia/v2/", params=KEY).json()["response"]
    assert {r["id"] for r in root["routes"]} == {"electricity", "petroleum"}
    facets = http.get("/eia/v2/electricity/retail-sales/facet/stateid", params=KEY).json()
    assert facets["response"]["totalFacets"] == "3"


def test_errors(http: httpx.Client) -> None:
    r = http.get(RETAIL, params={"frequency": "monthly"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "API_KEY_MISSING"
    r = http.get(RETAIL, params={**KEY, "frequency": "millenially"})
    assert r.status_code == 400 and r.json()["code"] == 400
    assert "millenially" in r.json()["error"]
    r = http.get("/eia/v2/no/such/route", params=KEY)
    assert r.status_code == 404 and r.json() == {"error": "Not found.", "code": 404}
    r = http.get(RETAIL, params={**KEY, "facets[stateId][]": "CO"})
    assert r.status_code == 400
    unknown_value = http.get(RETAIL, params=_retail(**{"facets[stateid][]": "ZZ"}))
    assert unknown_value.json()["response"]["total"] == "0"
