"""Server (a): a bare FastAPI app with one endpoint that answers the exact bytes the real app
answers on the same path. No middleware, no auth, no metrics, no logging.

It runs under uvicorn with the same settings as `aurum serve` (app.cli.main.serve): one
worker, default loop and HTTP implementations (uvloop and httptools when installed), no access
log, no Server header, no proxy headers. Started by the benchmark as

    python -m bench.api_overhead.bare_app --port N --path /v1/admin/whoami --body-file F
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from app.cli.serving import run_server


def create_bare_app(path: str, body: bytes) -> FastAPI:
    app = FastAPI(title="bare", docs_url=None, redoc_url=None, openapi_url=None)

    async def endpoint() -> Response:
        return Response(content=body, media_type="application/json")

    app.add_api_route(path, endpoint, methods=["GET"])
    return app


def main(argv: list[str] | None = None) -> None:

    parser = argparse.ArgumentParser(description="Serve the bare app (a).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    args = parser.parse_args(argv)
    run_server(
        create_bare_app(args.path, args.body_file.read_bytes()), host=args.host, port=args.port
    )


if __name__ == "__main__":
    main()
