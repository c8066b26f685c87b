"""Suite files load without Great Expectations, carry a severity each, and a broken one is an
error that names the file; importing the app never imports GE."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from app.embedded.ports import free_port
from app.providers.config import PROVIDER_NAMES
from app.quality.service import parameters_for
from app.quality.suites import Severity, SuiteError, load_suites
from tests.support.processes import clean_env

SUITES = Path("config/expectations")


def test_every_provider_has_a_suite_and_the_runbooks_counts_hold() -> None:
    catalog = load_suites(SUITES, PROVIDER_NAMES)
    counts = {name: len(suite.expectations) for name, suite in catalog.providers.items()}
    assert set(counts) == set(PROVIDER_NAMES)
    assert counts["fred"] >= 20
    assert counts["eia"] >= 25
    assert len(catalog.shared.expectations) >= 10
    for name in PROVIDER_NAMES:
        merged = catalog.for_provider(name).expectations
        severities = Counter(e.meta.severity for e in merged)
        assert set(severities) == {Severity.ERROR, Severity.WARNING}, name


def test_a_broken_suite_names_the_file_and_the_expectation(tmp_path: Path) -> None:
    for name in ("observations", *PROVIDER_NAMES):
        (tmp_path / f"{name}.yml").write_text((SUITES / f"{name}.yml").read_text())
    broken = (SUITES / "fred.yml").read_text().replace("severity: warning", "severity: loud", 1)
    (tmp_path / "fred.yml").write_text(broken)
    with pytest.raises(SuiteError, match=r"fred\.yml: expectations\.\d+\.meta\.severity"):
        load_suites(tmp_path, PROVIDER_NAMES)


def test_an_unknown_parameter_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "observations.yml").write_text(
        "name: observations\nexpectations:\n"
        "  - type: expect_column_max_to_be_between\n"
        "    kwargs: {column: obs_date, min_value: {$PARAMETER: yesterday}}\n"
        "    meta: {id: x, severity: error}\n"
    )
    with pytest.raises(SuiteError, match="unknown \\$PARAMETER 'yesterday'"):
        load_suites(tmp_path, ["fred"])
    (tmp_path / "observations.yml").write_text((SUITES / "observations.yml").read_text())
    with pytest.raises(SuiteError, match=r"fred\.yml: cannot read"):
        load_suites(tmp_path, ["fred"])


def test_parameters_bound_dates_and_row_count_changes() -> None:
    suite = load_suites(SUITES, PROVIDER_NAMES).for_provider("fred")
    first = parameters_for(suite, today=date(2026, 3, 31), row_count=50, previous_row_count=None)
    assert first["today_minus_days_10"] == "2026-03-21"
    assert first["today_plus_days_7"] == "2026-04-07"
    assert first["row_count_floor"] == 1
    later = parameters_for(suite, today=date(2026, 3, 31), row_count=50, previous_row_count=1000)
    assert later["row_count_floor"] == 900


def test_importing_the_app_does_not_import_great_expectations() -> None:
    code = (
        "import sys, app.main, app.lifespan, app.quality.service, app.routers.validation\n"
        "sys.exit(1 if 'great_expectations' in sys.modules else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_a_colon_before_a_name_in_a_query_is_refused(tmp_path: Path) -> None:
    # SQLAlchemy's text() reads '%:TMAX' as a bind parameter: the run would fail every time.
    (tmp_path / "observations.yml").write_text(
        "name: observations\nexpectations:\n"
        "  - type: unexpected_rows_expectation\n"
        "    kwargs: {unexpected_rows_query: \"SELECT * FROM {batch} WHERE s LIKE '%:TMAX'\"}\n"
        "    meta: {id: x, severity: error}\n"
    )
    with pytest.raises(SuiteError, match=r"bind parameters \['TMAX'\]"):
        load_suites(tmp_path, [])


def test_great_expectations_accepts_every_suite_with_no_expectation_lost() -> None:
    from app.quality.engine import build_gx_suite, ephemeral_context

    ephemeral_context()
    catalog = load_suites(SUITES, PROVIDER_NAMES)
    for name in PROVIDER_NAMES:
        suite = catalog.for_provider(name)
        built = build_gx_suite(suite.name, suite.expectations)
        assert len(built.expectations) == len(suite.expectations), name


def test_a_broken_suite_stops_aurum_serve_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "observations.yml").write_text("name: observations\nexpectations: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        env=clean_env(AURUM_EXPECTATIONS_DIR=str(tmp_path), AURUM_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aurum: error:"), result.stderr
    assert "observations.yml: expectations" in lines[0]
    assert "AURUM_EXPECTATIONS_DIR" in lines[0]
