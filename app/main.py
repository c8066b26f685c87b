"""The app factory: middleware order, error handlers and routers."""

from __future__ import annotations

import inspect
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI

from app.auth.authorization import AuthorizationMiddleware
from app.auth.middleware import AuthenticationMiddleware
from app.auth.policy import (
    ADMIN_AREA,
    ADMIN_ONLY,
    READ_API,
    AccessPolicies,
    include_open,
    protect,
)
from app.bootstrap import Dependencies
from app.health.fast_path import PATHS as HEALTH_PATHS
from app.health.fast_path import cached_overview
from app.health.view_cache import ChangeCounter
from app.http.compression import GzipWhenAccepted
from app.http.deadline import ReadDeadline
from app.http.errors import install_error_handlers
from app.http.fast_path import MemoryAnswers
from app.http.hardening import BodyLimitMiddleware, SecurityHeaders, add_cors
from app.http.json_bodies import JsonBodyMiddleware
from app.http.middleware import RequestContextMiddleware
from app.http.nul_bytes import NulByteGuard
from app.http.openapi import declare_errors
from app.http.proxies import TrustedProxies
from app.http.routing import index_routes
from app.lifespan import build_lifespan
from app.monitoring.http_metrics import HttpMetrics
from app.monitoring.metrics import BUILD_INFO
from app.monitoring.pending_checks import PendingChecks
from app.ratelimit.keys import CallerResolver
from app.ratelimit.limiter import RateLimiter
from app.ratelimit.middleware import RateLimitMiddleware
from app.read_api.cache import LocalPages
from app.read_api.fast_path import PREFIX as READ_API_PREFIX
from app.read_api.fast_path import read_page
from app.routers import (
    api_keys,
    audit,
    circuit_breakers,
    external_data,
    external_health,
    external_limits,
    identity,
    jobs,
    outages,
    probes,
    provider_config,
    runs,
    runtime_config,
    runtime_status,
    validation,
)
from app.settings import Settings, get_settings
from app.ui.mount import install_ui

# The reads the admin read deadline covers (the runbooks' aliases included).
ADMIN_READ_PREFIXES = ("/v1/admin/", "/runtime-config/", "/health/external", "/sla/external")


def service_version() -> str:
    try:
        return version("aurum-control")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _no_native_telemetry() -> dict[str, Any]:
    """FastAPI's native OpenTelemetry hooks off, where this FastAPI has them: the service
    exports Prometheus metrics and JSON logs, installs no OpenTelemetry provider, and the
    hooks' per-request check of the global providers cost a measurable share of a cheap
    route (bench/api_overhead)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}  # pragma: no cover - FastAPI releases before native telemetry
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


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
            publish=settings.kafka_enabled,
        )
    # /openapi.json, /docs and /redoc are open when on (they describe the API, hold no data);
    # off by default in prod (AURUM_API_DOCS_ENABLED).
    docs = settings.api_docs
    app = FastAPI(
        **_no_native_telemetry(),
        title="Aurum control plane",
        version=service_version(),
        summary="Operate the FRED, EIA, NOAA and World Bank collectors.",
        lifespan=build_lifespan(settings, dependencies),
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    BUILD_INFO.info({"version": service_version(), "replica": settings.replica_id})
    install_error_handlers(app)
    # Open: /health, /ready, /metrics. Every other router is included with its policy, so a
    # new route inherits it and cannot forget auth (AuthorizationMiddleware enforces it).
    app.state.access_policies = policies = AccessPolicies()
    # Changes accepted by this replica; cached views older than the last one are not served.
    app.state.changes = changes = ChangeCounter()
    include_open(app, probes.router)
    # The read API first: it is the busiest, and routes are matched in order.
    protect(app, external_data.router, READ_API)
    # The read API's in-memory tier of its page cache (memory only, no client to open).
    app.state.read_pages = LocalPages(settings.read_cache_local_entries)
    # Its page loads in flight, each bounded by AURUM_DB_REQUEST_TIMEOUT_SECONDS.
    app.state.read_loads = PendingChecks()
    protect(app, identity.router, ADMIN_AREA)
    protect(app, audit.router, ADMIN_AREA)
    protect(app, api_keys.router, ADMIN_ONLY)
    protect(app, runtime_config.router, ADMIN_AREA)
    protect(app, runtime_status.router, ADMIN_AREA)
    protect(app, external_limits.router, ADMIN_AREA)
    protect(app, circuit_breakers.router, ADMIN_AREA)
    protect(app, circuit_breakers.legacy_router, ADMIN_AREA)
    protect(app, provider_config.router, ADMIN_ONLY)
    protect(app, jobs.router, ADMIN_AREA)
    protect(app, runs.router, ADMIN_AREA)
    protect(app, outages.router, ADMIN_AREA)
    protect(app, validation.router, ADMIN_AREA)
    protect(app, external_health.router, ADMIN_AREA)
    protect(app, external_health.sla_router, ADMIN_AREA)
    protect(app, external_health.health_alias, ADMIN_AREA)
    protect(app, external_health.sla_alias, ADMIN_AREA)
    # The ops dashboard: HTML under /ui, signed in by its own session cookie (app/ui), so it
    # has no access policy here; each of its routes checks the session and role itself.
    install_ui(app, settings)
    # Requests go straight to the few routes their path could match (app/http/routing.py).
    index_routes(app)
    # The document states every error each route answers, with the one error body.
    exempt = frozenset(settings.rate_limit_exempt_paths)
    declare_errors(
        app,
        protected=lambda path: policies.resolve(path) is not None,
        rate_limited=lambda path: settings.rate_limit_enabled and path not in exempt,
    )
    # Middleware: the last added is the outermost. Request context wraps everything: it sets
    # the request id before anything logs, and it is the one layer that touches responses
    # (request id, security headers, RateLimit-* left by the limiter, metrics, access log).
    # Outermost first: request context → admin read deadline → body limit → CORS → gzip →
    # JSON bodies → NUL guard → authentication → rate limiting → authorization → routes.
    # Innermost: read-API pages and fresh health views answered before routing, after auth,
    # limits and authorization (app/http/fast_path.py).
    app.add_middleware(
        MemoryAnswers,
        answerers=[
            (READ_API_PREFIX, read_page),
            *((path, cached_overview) for path in sorted(HEALTH_PATHS)),
        ],
    )
    app.add_middleware(AuthorizationMiddleware, policies=policies)
    proxies = TrustedProxies(settings.trusted_proxy_cidrs)
    # The limiter holds no client yet: the lifespan opens and closes its storage.
    app.state.rate_limiter = None
    if settings.rate_limit_enabled:
        app.state.rate_limiter = RateLimiter.from_settings(settings, dependencies.redis_url)
        app.add_middleware(
            RateLimitMiddleware,
            limiter=app.state.rate_limiter,
            callers=CallerResolver.from_settings(settings, proxies),
        )
    # Authentication only identifies the caller; it must run before rate limiting, which keys
    # by principal.
    app.add_middleware(AuthenticationMiddleware)
    # No string holding a NUL gets further (PostgreSQL text cannot store it): a 422 naming
    # the field, before credentials are looked up or any route runs.
    app.add_middleware(NulByteGuard)
    app.add_middleware(JsonBodyMiddleware)
    # Level 6: nearly level 9's ratio on JSON for a fraction of the CPU.
    app.add_middleware(GzipWhenAccepted, minimum_size=1024, compresslevel=6)
    if settings.cors_allow_origins:
        add_cors(app, settings.cors_allow_origins)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # Outside authentication, which may read PostgreSQL too (app/http/deadline.py).
    app.add_middleware(
        ReadDeadline, seconds=settings.admin_read_deadline_seconds, prefixes=ADMIN_READ_PREFIXES
    )
    docs_paths = frozenset(
        path for path in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if path
    )
    app.add_middleware(
        RequestContextMiddleware,
        access_log_enabled=settings.access_log,
        headers_for=SecurityHeaders(proxies, docs_paths),
        metrics=HttpMetrics(),
        changes=changes,
    )
    return app
