"""One shape's measures against the service, run as `python -m app serve` with its caches
off: the validation after an ingest first, then SLA, health and the read API."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import yaml

from app.db.engine import libpq_url
from app.providers.config import resolve_config_path
from app.settings import Settings
from bench.api_overhead.dependencies import Dependencies
from bench.api_overhead.drivers import Driver
from bench.api_overhead.servers import HOST, Server, real_server
from bench.scale import endpoints, ingest
from bench.scale.report import Column, progress
from bench.scale.shapes import PROVIDER, Shape, current_size, series_name

MONITORS = (
    "quality.full_history",
    "monitor.staleness",
    "monitor.cost",
    "monitor.outage_completeness",
)
# The admin reads' deadline (1.5 s by default: a 503 past it) raised, so the curve shows what
# SLA and health cost; the clients give up after 10 s (bench/api_overhead's load generator).
OVERRIDES = {
    "AURUM_HEALTH_CACHE_SECONDS": "0",
    "AURUM_PROVIDER_MODE": "sandbox",
    "AURUM_ADMIN_READ_DEADLINE_SECONDS": "60",
}


@dataclass(frozen=True)
class Options:
    clients: int
    connections: int
    duration: int
    warmup: int
    validation_rows: int
    validation_timeout: int
    ingest_rows: int
    configure_synthetic: bool = False


def _pause_monitors(client: httpx.Client) -> None:
    """The periodic monitors (the hourly full validation above all) would run inside the
    measured windows now and then: paused over the API for the run (pauses are stored)."""
    for job in MONITORS:
        answer = client.post(
            f"/v1/admin/external/jobs/{job}/pause",
            json={"reason": "bench/scale", "ttl_seconds": 86_400},
        )
        if answer.status_code != 200:
            progress(f"pausing {job} answered {answer.status_code}: {answer.text[:200]}")


def _release_claims(database_url: str) -> None:
    """A validation cut short by stopping the service leaves its `running` claim, which would
    refuse the next shape's validation: closed by hand."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE validation_results SET status = 'errored', finished_at = now(),"
            " error = 'bench/scale: stopped after its timeout' WHERE status = 'running'"
        )


def _providers_file(
    workdir: Path, database_url: str, configure: bool
) -> tuple[dict[str, str], list[str]]:
    """The series the sandbox serves, which the measured ingest collects (the synthetic ones
    exist only in the database), and with `configure` the service's providers file with every
    synthetic series configured as a FRED dataset (a deployment that collects 20,000 series
    configures them: health and SLA cover each)."""
    data = yaml.safe_load(resolve_config_path(Settings().provider_config_path).read_text())
    fred = data["providers"][PROVIDER]
    collected = [str(entry["series_id"]) for entry in fred["datasets"]]
    if not configure:
        return {}, collected
    synthetic = current_size(database_url).synthetic_series
    fred["datasets"] = fred["datasets"] + [
        {"series_id": series_name(n), "frequency": "daily"} for n in range(1, synthetic + 1)
    ]
    path = workdir / "providers.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return {"AURUM_PROVIDER_CONFIG_PATH": str(path)}, collected


def measure(
    workdir: Path, deps: Dependencies, key: str, driver: Driver, options: Options, shape: Shape,
    column: Column,
) -> None:  # fmt: skip
    headers = {"X-API-Key": key}
    config, collected = _providers_file(workdir, deps.database_url, options.configure_synthetic)
    overrides = OVERRIDES | config
    with real_server(workdir, deps, overrides, label=f"real-{shape.name}") as server:
        base = f"http://{HOST}:{server.port}"
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            _pause_monitors(client)
            figure = ingest.validation_after_ingest(
                client, server.process.pid, deps.database_url,
                options.validation_rows, options.validation_timeout, collected,
            )  # fmt: skip
        column.values |= {
            "validation_rows": figure.rows_added,
            "validation_s": figure.seconds
            if figure.seconds is not None
            else f"> {options.validation_timeout}",
            # Cut short, the peak so far says nothing of the whole run's: not judged.
            "validation_peak_mb": figure.peak_rss_mb
            if figure.seconds is not None
            else f">= {figure.peak_rss_mb:,.0f} (cut short)",
            "validation_baseline_mb": figure.baseline_rss_mb,
        }
        if figure.seconds is not None:
            _endpoints(workdir, driver, options, server, key, column)
            return
    # Still validating: measured beside it, the endpoints would share the worker with it.
    progress("validation still running: the service is restarted for the other measures")
    _release_claims(deps.database_url)
    with real_server(workdir, deps, overrides, label=f"real-{shape.name}-again") as server:
        _endpoints(workdir, driver, options, server, key, column)


def _endpoints(
    workdir: Path, driver: Driver, options: Options, server: Server, key: str, column: Column
) -> None:
    for name, path in (("sla", endpoints.SLA), ("health", endpoints.HEALTH)):
        result = endpoints.endpoint(server.port, key, path, options.clients, options.duration)
        m = result.concurrent.measured
        column.values |= {
            f"{name}_single_ms": result.single,
            f"{name}_p50_ms": m.p50_ms if m else None,
            f"{name}_p99_ms": m.p99_ms if m else None,
            f"{name}_answered": result.concurrent.answered,
        }
    read = endpoints.read_api(
        workdir, driver, server.port, key, options.connections, options.duration, options.warmup
    )
    column.values |= {
        "read_rps": read.real.rps,
        "bare_rps": read.bare.rps,
        "read_ratio": read.ratio,
        "read_p50_ms": read.real.p50_ms,
        "read_p99_ms": read.real.p99_ms,
        # Two cores shared with whatever else runs: the figures move with it.
        "load_average": round(os.getloadavg()[0], 1),
    }
