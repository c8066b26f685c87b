"""One line per applied action, for people: `running -> paused`, `off -> on (ttl_seconds=900)`.

The OutageView carries it as each action's `change`, so the report and the CLI say the same."""

from __future__ import annotations

from typing import Any


def _settings(configuration: Any) -> str:
    if not isinstance(configuration, dict) or not configuration:
        return ""
    return " (" + ", ".join(f"{key}={value}" for key, value in configuration.items()) + ")"


def state_text(action: str, state: Any) -> str:
    """A state as recorded in `before`/`after`, in a few words."""
    if not isinstance(state, dict):
        return "-" if state is None else str(state)
    if action == "pause_job":
        return "paused" if state.get("paused") else "running"
    if action == "flag":
        return ("on" if state.get("enabled") else "off") + _settings(state.get("configuration"))
    if action == "fallback":
        return "mirror" if state.get("enabled") and state.get("value") else "provider"
    if action == "force_open_breaker":
        until = state.get("forced_until")
        return str(state.get("state")) + (f" until {until}" if until else "")
    return ", ".join(f"{key}={value}" for key, value in state.items())


def change_text(item: dict[str, Any]) -> str:
    """`before -> after`, or `already <after>` when the declaration found it so."""
    action = str(item.get("action"))
    after = state_text(action, item.get("after"))
    if not item.get("changed", True):
        return f"already {after}"
    return f"{state_text(action, item.get('before'))} -> {after}"
