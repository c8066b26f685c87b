from __future__ import annotations

import httpx

DATA = "/worldbank/v2/country/{codes}/indicator/{ind}"


def test_header_and_rows_newest_first(http: httpx.Client) -> None:
    url = DATA.format(codes="USA;DEU", ind="NY.GDP.MKTP.CD")
    header, rows = http.get(url, params={"format": "json", "date": "2000:2020"}).json()
    assert header["total"] == 42 and header["per_page"] == 50 and header["pages"] == 1
    assert header["sourceid"] == "2" and len(header["lastupdated"]) == 10
    usa = [r["date"] for r in rows if r["countryiso3code"] == "USA"]
    assert usa == [str(y) for y in range(2020, 1999, -1)]
    assert rows[0]["country"] == {"id": "US", "value": "United States"}


def test_nulls_and_paging(http: httpx.Client) -> None:
    url = DATA.format(codes="all", ind="FP.CPI.TOTL.ZG")
    first = http.get(url, params={"format": "json", "per_page": 20}).json()
    header = first[0]
    seen = []
    for page in range(1, header["pages"] + 1):
        _, rows = http.get(url, params={"format": "json", "per_page": 20, "page": page}).json()
        seen += [(r["countryiso3code"], r["date"], r["value"]) for r in rows]
    assert len(seen) == len({s[:2] for s in seen}) == header["total"]
    assert any(v is None for _, _, v in seen)


def test_monthly_and_quarterly_labels(http: httpx.Client) -> None:
    _, rows = http.get(
        DATA.format(codes="DEU", ind="CPTOTSAXN"),
        params={"format": "json", "date": "2023M01:2023M03"},
    ).json()
    assert [r["date"] for r in rows] == ["2023M03", "2023M02", "2023M01"]
    _, rows = http.get(
        DATA.format(codes="CHN", ind="DP.DOD.DECD.CR.PS.CD"),
        params={"format": "json", "date": "2023"},
    ).json()
    assert [r["date"] for r in rows] == ["2023Q4", "2023Q3", "2023Q2", "2023Q1"]


def test_no_rows_is_null(http: httpx.Client) -> None:
    body = http.get(
        DATA.format(codes="USA", ind="NY.GDP.MKTP.CD"),
        params={"format": "json", "date": "1950:1960"},
    ).json()
    assert body[0]["total"] == 0 and body[1] is None


def test_errors_come_with_http_200(http: httpx.Client) -> None:
    r = http.get(DATA.format(codes="XXX", ind="NY.GDP.MKTP.CD"), params={"format": "json"})
    assert r.status_code == 200
    assert r.json() == [
        {
            "message": [
                {
                    "id": "120",
                    "key": "Invalid value",
                    "value": "The provided parameter value is not valid",
                }
            ]
        }
    ]
    r = http.get(DATA.format(codes="USA", ind="NO.SUCH"), params={"format": "json"})
    assert r.status_code == 200 and r.json()[0]["message"][0]["id"] == "175"


def test_xml_without_format_and_sources(http: httpx.Client) -> None:
    r = http.get(DATA.format(codes="USA", ind="NY.GDP.MKTP.CD"))
    assert r.text.startswith("<?xml")
    header, (source,) = http.get("/worldbank/v2/source/2", params={"format": "json"}).json()
    assert header["total"] == "1" and source["code"] == "WDI" and source["lastupdated"]
