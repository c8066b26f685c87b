"""Load generators: wrk when it is on PATH, else the asyncio one in `loadgen.py`. Both run in
a process of their own, with one thread (the machine has two cores: one for the server under
test, one for the load), and both drive one server at a time."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bench.api_overhead.dependencies import BenchError
from bench.api_overhead.report import Measurement, progress
from bench.api_overhead.servers import HOST, PROJECT_ROOT

# Beyond warm-up plus duration, how long a load run may take before it is killed.
RUN_GRACE_SECONDS = 30.0
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True)
class Load:
    port: int
    path: str
    headers: dict[str, str]
    connections: int
    duration: int
    warmup: int


def _run(command: list[str], timeout: float) -> str:
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{command[0]} did not finish within {timeout:.0f} s") from exc
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    if process.returncode != 0:
        raise BenchError(
            f"{' '.join(command[:3])} ... exited with {process.returncode}: "
            f"{stderr.decode(errors='replace').strip()[-500:]}"
        )
    return stdout.decode(errors="replace")


class AsyncioDriver:
    name = "asyncio"

    def measure(self, load: Load) -> Measurement:
        command = [sys.executable, "-m", "bench.api_overhead.loadgen", "--host", HOST]
        command += ["--port", str(load.port), "--path", load.path]
        for name, value in load.headers.items():
            command += ["--header", f"{name}: {value}"]
        command += ["--connections", str(load.connections)]
        command += ["--duration", str(load.duration), "--warmup", str(load.warmup)]
        if load.warmup:
            progress(f"  warming up {load.warmup} s, then measuring {load.duration} s")
        else:
            progress(f"  measuring {load.duration} s")
        output = _run(command, load.warmup + load.duration + RUN_GRACE_SECONDS)
        return Measurement.from_json(json.loads(output.strip().splitlines()[-1]))


class WrkDriver:
    name = "wrk"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def _command(self, load: Load, seconds: int) -> list[str]:
        command = [self.binary, "-t1", f"-c{load.connections}", f"-d{seconds}s", "--latency"]
        for name, value in load.headers.items():
            command += ["-H", f"{name}: {value}"]
        return [*command, f"http://{HOST}:{load.port}{load.path}"]

    def measure(self, load: Load) -> Measurement:
        if load.warmup:
            progress(f"  warming up {load.warmup} s")
            _run(self._command(load, load.warmup), load.warmup + RUN_GRACE_SECONDS)
        progress(f"  measuring {load.duration} s")
        output = _run(self._command(load, load.duration), load.duration + RUN_GRACE_SECONDS)
        return parse_wrk(output)


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise BenchError(f"cannot read wrk's latency {text!r}")
    return float(match[1]) * _UNIT_MS[match[2]]


def parse_wrk(output: str) -> Measurement:
    """Requests/sec, the 50% and 99% lines of `--latency`, non-2xx and socket errors."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", output, re.MULTILINE)
    if not (rps and p50 and p99 and total):
        raise BenchError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Measurement(
        requests=int(total[1]),
        elapsed_s=_wrk_ms(total[2] + total[3]) / 1000,
        rps=float(rps[1]),
        p50_ms=_wrk_ms(p50[1]),
        p99_ms=_wrk_ms(p99[1]),
        non_200=int(non_2xx[1]) if non_2xx else 0,
        errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    )


LOADGENS = ("auto", "wrk", "asyncio")
Driver = AsyncioDriver | WrkDriver


def choose_driver(loadgen: str = "auto") -> Driver:
    """`auto`: wrk when it is on PATH, else the asyncio generator."""
    if loadgen == "asyncio":
        return AsyncioDriver()
    binary = shutil.which("wrk")
    if binary is not None:
        return WrkDriver(binary)
    if loadgen == "wrk":
        raise BenchError("wrk is not on PATH; install it with: apt-get install wrk")
    progress(
        "wrk is not on PATH: using the built-in asyncio load generator instead "
        "(install wrk for C-speed load: apt-get install wrk)"
    )
    return AsyncioDriver()
