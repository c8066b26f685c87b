"""Which series the sandbox serves, per provider; `default_catalog()` is what tests and
`make run` get unless they pass their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from app.sandbox.series import Frequency, SeriesSpec, Shape, stable_fraction

FRED_SHORT = {
    Frequency.DAILY: "D",
    Frequency.WEEKLY: "W",
    Frequency.MONTHLY: "M",
    Frequency.QUARTERLY: "Q",
    Frequency.ANNUAL: "A",
}


@dataclass(frozen=True)
class FredSeries:
    id: str
    title: str
    frequency: Frequency
    units: str
    units_short: str
    shape: Shape
    start: date = date(2015, 1, 1)
    seasonal_adjustment: str = "Not Seasonally Adjusted"
    popularity: int = 50
    synthetic: bool = False


@dataclass(frozen=True)
class EiaFacet:
    id: str
    description: str
    name_column: str  # the row column naming the value, e.g. stateDescription
    values: dict[str, str]


@dataclass(frozen=True)
class EiaRoute:
    route: str  # e.g. electricity/retail-sales
    name: str
    frequencies: tuple[Frequency, ...]
    facets: tuple[EiaFacet, ...]
    column: str
    units: str
    shape: Shape
    start: date = date(2010, 1, 1)

    def combos(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = [()]
        for facet in self.facets:
            out = [(*c, v) for c in out for v in facet.values]
        return out

    def key(self, frequency: Frequency, combo: tuple[str, ...]) -> str:
        return f"{self.route}:{frequency.value}:{'/'.join(combo)}"


NOAA_DATATYPES = {
    "TMAX": Shape(level=180, step=25, decimals=0, phi=0.7, seasonal=110),
    "TMIN": Shape(level=60, step=25, decimals=0, phi=0.7, seasonal=100),
    "PRCP": Shape(level=10, step=40, decimals=0, phi=0.1, floor=0),
}


@dataclass(frozen=True)
class NoaaStation:
    id: str
    name: str
    latitude: float
    longitude: float
    elevation: float
    datatypes: tuple[str, ...] = ("TMAX", "TMIN", "PRCP")
    start: date = date(2020, 1, 1)


@dataclass(frozen=True)
class WbSource:
    id: str
    name: str
    code: str


@dataclass(frozen=True)
class WbIndicator:
    id: str
    name: str
    source_id: str
    frequency: Frequency
    countries: tuple[str, ...]
    shape: Shape
    start: date = date(1990, 1, 1)


WB_COUNTRIES = {
    "USA": ("US", "United States"),
    "DEU": ("DE", "Germany"),
    "CHN": ("CN", "China"),
}


@dataclass
class SandboxCatalog:
    fred: list[FredSeries] = field(default_factory=list)
    eia: list[EiaRoute] = field(default_factory=list)
    noaa: list[NoaaStation] = field(default_factory=list)
    worldbank: list[WbIndicator] = field(default_factory=list)
    wb_sources: list[WbSource] = field(default_factory=list)

    def specs(self) -> list[SeriesSpec]:
        """One generated series per FRED id, EIA (route, frequency, facets), NOAA (station,
        datatype) and World Bank (indicator, country)."""
        out: list[SeriesSpec] = []
        for s in self.fred:
            age = _age("fred", s.id, s.synthetic)
            out.append(
                SeriesSpec(
                    "fred",
                    s.id,
                    s.frequency,
                    s.start,
                    s.shape,
                    holdback=_hold(s.frequency),
                    updated_days_ago=age,
                    synthetic=s.synthetic,
                )
            )
        for r in self.eia:
            for freq in r.frequencies:
                for combo in r.combos():
                    key = r.key(freq, combo)
                    out.append(
                        SeriesSpec(
                            "eia",
                            key,
                            freq,
                            r.start,
                            r.shape,
                            holdback=_hold(freq),
                            updated_days_ago=_age("eia", key, False),
                        )
                    )
        for st in self.noaa:
            for dt in st.datatypes:
                key = f"{st.id}:{dt}"
                out.append(
                    SeriesSpec(
                        "noaa",
                        key,
                        Frequency.DAILY,
                        st.start,
                        NOAA_DATATYPES[dt],
                        missing_share=0.0,
                        gap_share=0.03,
                        holdback=5,
                        updated_days_ago=_age("noaa", st.id, False),
                    )
                )
        for ind in self.worldbank:
            for iso3 in ind.countries:
                key = f"{ind.id}:{iso3}"
                out.append(
                    SeriesSpec(
                        "worldbank",
                        key,
                        ind.frequency,
                        ind.start,
                        ind.shape,
                        gap_share=0.0,
                        missing_share=0.05,
                        holdback=1,
                        updated_days_ago=_age("worldbank", ind.source_id, False),
                    )
                )
        return out


def _hold(frequency: Frequency) -> int:
    return {Frequency.DAILY: 5, Frequency.WEEKLY: 2}.get(frequency, 1)


def _age(provider: str, key: str, synthetic: bool) -> float:
    """Days since the last update at start: named series inside FRED's two-week window or
    near it, synthetic ones well outside it (so only what `advance` touches looks changed)."""
    f = stable_fraction(provider, key, "age")
    return 30 + f * 300 if synthetic else 1 + f * 25


def default_catalog(*, fred_synthetic: int = 0) -> SandboxCatalog:
    rate = Shape(level=3.5, step=0.05, decimals=2, phi=0.995, floor=0.0)
    fred = [
        FredSeries(
            "DGS10",
            "Market Yield on U.S. Treasury Securities at 10-Year Constant "
            "Maturity, Quoted on an Investment Basis",
            Frequency.DAILY,
            "Percent",
            "%",
            rate,
            popularity=94,
        ),
        FredSeries(
            "DEXUSEU",
            "U.S. Dollars to Euro Spot Exchange Rate",
            Frequency.DAILY,
            "U.S. Dollars to One Euro",
            "U.S. $ to 1 Euro",
            Shape(level=1.12, step=0.005, decimals=4, phi=0.995),
            popularity=80,
        ),
        FredSeries(
            "UNRATE",
            "Unemployment Rate",
            Frequency.MONTHLY,
            "Percent",
            "%",
            Shape(level=4.5, step=0.15, decimals=1, floor=2.0),
            start=date(1990, 1, 1),
            seasonal_adjustment="Seasonally Adjusted",
            popularity=95,
        ),
        FredSeries(
            "GDP",
            "Gross Domestic Product",
            Frequency.QUARTERLY,
            "Billions of Dollars",
            "Bil. of $",
            Shape(level=20000, step=250, decimals=3, phi=0.999),
            start=date(1990, 1, 1),
            seasonal_adjustment="Seasonally Adjusted Annual Rate",
            popularity=92,
        ),
    ]
    fred += [
        FredSeries(
            f"SYN{i:04d}",
            f"Synthetic series {i:04d}",
            Frequency.MONTHLY,
            "Index",
            "Index",
            Shape(level=100, step=1.0, decimals=2),
            start=date(2000, 1, 1),
            popularity=1,
            synthetic=True,
        )
        for i in range(1, fred_synthetic + 1)
    ]
    eia = [
        EiaRoute(
            "electricity/retail-sales",
            "Electricity Sales to Ultimate Customers",
            (Frequency.MONTHLY,),
            (
                EiaFacet(
                    "stateid",
                    "State / Census Region",
                    "stateDescription",
                    {"CO": "Colorado", "TX": "Texas", "CA": "California"},
                ),
                EiaFacet(
                    "sectorid",
                    "Sector",
                    "sectorName",
                    {"RES": "residential", "COM": "commercial", "ALL": "all sectors"},
                ),
            ),
            "price",
            "cents per kilowatthour",
            Shape(level=13.0, step=0.3, decimals=2, floor=1.0),
        ),
        EiaRoute(
            "petroleum/pri/spt",
            "Spot Prices",
            (Frequency.DAILY, Frequency.WEEKLY),
            (
                EiaFacet(
                    "series",
                    "Series Id",
                    "series-description",
                    {
                        "RWTC": "Cushing, OK WTI Spot Price FOB (Dollars per Barrel)",
                        "RBRTE": "Europe Brent Spot Price FOB (Dollars per Barrel)",
                    },
                ),
            ),
            "value",
            "$/BBL",
            Shape(level=75.0, step=1.2, decimals=2, phi=0.995, floor=5.0),
            start=date(2015, 1, 1),
        ),
    ]
    noaa = [
        NoaaStation(
            "GHCND:USW00014895", "AKRON CANTON REGIONAL AIRPORT, OH US", 40.9161, -81.4425, 370.3
        ),
        NoaaStation("GHCND:USW00094728", "NY CITY CENTRAL PARK, NY US", 40.77898, -73.96925, 42.7),
    ]
    countries = tuple(WB_COUNTRIES)
    worldbank = [
        WbIndicator(
            "NY.GDP.MKTP.CD",
            "GDP (current US$)",
            "2",
            Frequency.ANNUAL,
            countries,
            Shape(level=5e12, step=2e11, decimals=0, phi=0.999, floor=1e11),
        ),
        WbIndicator(
            "FP.CPI.TOTL.ZG",
            "Inflation, consumer prices (annual %)",
            "2",
            Frequency.ANNUAL,
            countries,
            Shape(level=2.5, step=1.0, decimals=6, phi=0.6),
        ),
        WbIndicator(
            "CPTOTSAXN",
            "CPI Price, seas. adj.,,,",
            "15",
            Frequency.MONTHLY,
            countries,
            Shape(level=110, step=0.4, decimals=6, phi=0.999),
            start=date(2010, 1, 1),
        ),
        WbIndicator(
            "DP.DOD.DECD.CR.PS.CD",
            "Gross PSD, Central Gov., Debt securities, Nominal Value, US$",
            "22",
            Frequency.QUARTERLY,
            countries,
            Shape(level=1e12, step=2e10, decimals=0, phi=0.999),
            start=date(2005, 1, 1),
        ),
    ]
    sources = [
        WbSource("2", "World Development Indicators", "WDI"),
        WbSource("15", "Global Economic Monitor", "GEM"),
        WbSource("22", "Quarterly Public Sector Debt", "QPS"),
    ]
    return SandboxCatalog(fred, eia, noaa, worldbank, sources)
