"""Which Chromium the browser tests drive: AURUM_TEST_CHROMIUM, else Debian's package, else
whatever is on PATH. None means the tests are skipped (and `make test` says so)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The browser's executable, or None when there is none (a set but wrong
    AURUM_TEST_CHROMIUM is not replaced by a guess: it means the tester wants that one)."""
    chosen = os.environ.get("AURUM_TEST_CHROMIUM")
    if chosen:
        return chosen if _runnable(chosen) else None
    for candidate in CANDIDATES:
        if _runnable(candidate):
            return candidate
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def skip_reason() -> str:
    chosen = os.environ.get("AURUM_TEST_CHROMIUM")
    where = f"AURUM_TEST_CHROMIUM={chosen} is not executable" if chosen else "no chromium found"
    return (
        f"*** BROWSER TESTS SKIPPED: {where}; install Debian's chromium "
        "(apt-get install chromium) or point AURUM_TEST_CHROMIUM at one ***"
    )


def _runnable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)
