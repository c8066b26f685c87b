"""`python -m app.sandbox --port 8099 [--host 127.0.0.1] [--fred-synthetic N] [--no-limits]`"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from app.sandbox.app import create_sandbox_app
from app.sandbox.catalog import default_catalog
from app.sandbox.server import BANNER

log = logging.getLogger("aurum.sandbox")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument(
        "--fred-synthetic",
        type=int,
        default=0,
        metavar="N",
        help="add N synthetic monthly FRED series SYN0001..",
    )
    parser.add_argument(
        "--no-limits",
        action="store_true",
        help="turn off NOAA's 5 requests/second per token throttle",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    app = create_sandbox_app(
        default_catalog(fred_synthetic=args.fred_synthetic), enforce_limits=not args.no_limits
    )
    url = f"http://{args.host}:{args.port}"
    log.warning(BANNER, url)
    log.warning(
        "base URLs: %s/fred/  %s/eia/v2/  %s/noaa/cdo-web/api/v2/  %s/worldbank/v2/",
        url,
        url,
        url,
        url,
    )
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
