"""Environments for the suite's subprocesses (`aurum`, `python -m app.runner`)."""

from __future__ import annotations

import os


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any AURUM_* variable, plus `overrides`: a child
    gets exactly the settings its test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURUM_")}
    env.update(overrides)
    return env
