"""The embedded Redis after a restart: starting it returns only once it has loaded its data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis as redis_sync

from app.embedded.ports import free_port
from app.embedded.redis import release_embedded_redis, start_embedded_redis

KEYS = 1_500_000  # loads in about a second: long enough to be caught loading


def _rewrite_aof(client: redis_sync.Redis) -> None:
    client.bgrewriteaof()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise AssertionError("the AOF rewrite did not finish")


def test_a_restart_with_a_big_aof_answers_once_loaded_and_waits_a_bounded_time(
    tmp_path: Path,
) -> None:
    directory, port = tmp_path / "redis", free_port()
    url = start_embedded_redis(directory, port=port)
    client = redis_sync.Redis.from_url(url)
    client.execute_command("DEBUG", "POPULATE", KEYS, "aurum:test", 64)
    _rewrite_aof(client)
    client.close()
    release_embedded_redis(directory, port)  # the last holder: SHUTDOWN

    try:
        with pytest.raises(TimeoutError, match="still loading its data after"):
            start_embedded_redis(directory, port=port, load_timeout=0.001)
        url = start_embedded_redis(directory, port=port)  # as `make run` after a restart
        client = redis_sync.Redis.from_url(url)
        assert client.ping()  # not "Redis is loading the dataset in memory"
        assert client.dbsize() == KEYS
        client.close()
    finally:
        release_embedded_redis(directory, port)
