"""The app factory: middleware order, error handlers and routers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from app.bootstrap import Dependencies
from app.http.errors import install_error_handlers
from app.http.middleware import RequestContextMiddleware
from app.lifespan import build_lifespan
from app.monitoring.metrics import BUILD_INFO, instrument_http
from app.routers import probes
from app.settings import Settings, get_settings


def service_version() -> str:
    try:
        return version("aurum-control")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def create_app(
    settings: Settings | None = None, dependencies: Dependencies | None = None
) -> FastAPI:
    """Build the app. `dependencies` come from `app.bootstrap.prepare`; without them the
    settings' URLs are used as they are (no embedded servers, no migrations)."""
    settings = settings or get_settings()
    if dependencies is None:
        if not (settings.database_url and settings.redis_url):
            raise ValueError("create_app needs resolved dependencies or explicit URLs")
        dependencies = Dependencies(
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
            embedded=frozenset(),
        )
    app = FastAPI(
        title="Aurum control plane",
        version=service_version(),
        summary="Operate the FRED, EIA, NOAA and World Bank collectors.",
        lifespan=build_lifespan(settings, dependencies),
    )
    BUILD_INFO.info({"version": service_version(), "replica": settings.replica_id})
    install_error_handlers(app)
    app.include_router(probes.router)
    # Middleware: the last added is the outermost. Request context wraps everything, so the
    # request id is set before metrics and routing, and is on every response.
    instrument_http(app)
    app.add_middleware(RequestContextMiddleware, access_log_enabled=settings.access_log)
    return app
