"""`python -m bench.dashboard_cpu` (`make bench-dashboard-cpu`): what open dashboards cost the
service. One `aurum serve` on the embedded default (its own data directory and ports, sandbox
mode, the shipped schedules), measured twice in the same run: idle for `--duration` seconds
(the reference: scheduler, probes, relay, the outage board), then with `--pages` Chromium tabs
signed in on the overview, each refreshing its cards every 5 s, for as long again. CPU is the
user + system time of the server process and its children (embedded PostgreSQL and Redis)
from /proc; prints both as a share of one core, the difference, and the ratio.

Needs a Chromium (Debian's `chromium`, or AURUM_TEST_CHROMIUM) and Playwright (the dev extra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import httpx

from app.embedded.ports import free_port, wait_for_port
from bench.api_overhead.servers import stop_process

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """The process and every descendant (embedded servers included)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _cpu_seconds(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def _share(pid: int, seconds: float) -> float:
    """Share of one core the service used over the next `seconds`."""
    before, started = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - before) / (time.monotonic() - started)


def _chromium() -> str:
    given = os.environ.get("AURUM_TEST_CHROMIUM")
    found = given or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise click.ClickException(
            "no Chromium: install Debian's chromium or set AURUM_TEST_CHROMIUM"
        )
    return found


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--duration", type=click.IntRange(10, 3600), default=60, show_default=True)
@click.option("--pages", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option(
    "--settle",
    type=click.IntRange(0, 600),
    default=30,
    show_default=True,
    help="Seconds after start before measuring (first collections finish).",
)
def main(duration: int, pages: int, settle: int) -> None:
    """Service CPU with N dashboards open against the same service idle."""
    from playwright.sync_api import sync_playwright

    browser_path = _chromium()
    with tempfile.TemporaryDirectory(prefix="aurum-bench-ui-") as tmp:
        data, port = Path(tmp) / "data", free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURUM_")}
        env |= {
            "AURUM_DATA_DIR": str(data), "AURUM_PORT": str(port),
            "AURUM_EMBEDDED_REDIS_PORT": str(free_port()),
            "AURUM_EMBEDDED_KAFKA_PORT": str(free_port()), "AURUM_ACCESS_LOG": "false",
        }  # fmt: skip
        log = (Path(tmp) / "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], env=env, stdout=log, stderr=log
        )
        try:
            click.echo(f"starting the service on port {port} ...", err=True)
            wait_for_port("127.0.0.1", port, timeout=180, what="the service")
            url = f"http://127.0.0.1:{port}"
            httpx.get(f"{url}/ready", timeout=30)
            key = (data / "bootstrap-admin-key").read_text().strip()
            click.echo(f"settling {settle} s, then {duration} s idle ...", err=True)
            time.sleep(settle)
            idle = _share(server.pid, duration)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=browser_path, args=["--no-sandbox"]
                )
                for _ in range(pages):
                    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                    page.goto(f"{url}/ui/login")
                    page.get_by_label("API key or token").fill(key)
                    page.get_by_role("button", name="Sign in").click()
                    page.wait_for_url(f"{url}/ui/")
                click.echo(f"{pages} dashboards open, {duration} s ...", err=True)
                time.sleep(5)  # every tab in its polling rhythm
                busy = _share(server.pid, duration)
                browser.close()
        finally:
            stop_process(server, timeout=60)
            log.close()
    click.echo(
        "\n".join(
            [
                f"service CPU (server + embedded PostgreSQL and Redis), {duration} s each:",
                f"  idle (reference):        {idle * 100:6.2f} % of one core",
                f"  {pages} dashboards open:     {busy * 100:6.2f} % of one core",
                f"  added by the dashboards: {(busy - idle) * 100:6.2f} % of one core "
                f"({(busy - idle) * 100 / pages:.2f} % each)",
                f"  ratio busy/idle:         {busy / idle if idle else float('inf'):6.2f}x",
            ]
        )
    )


if __name__ == "__main__":
    main()
