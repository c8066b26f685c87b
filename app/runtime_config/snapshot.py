"""This replica's in-memory copy of every flag. Reading a flag on the hot path is a dict lookup;
the propagation loop (propagation.py) is the only writer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.runtime_config.registry import FLAGS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FlagState:
    name: str
    enabled: bool
    configuration: dict[str, Any]
    version: int  # 0: never written, the registry's defaults

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> FlagState:
        return cls(
            name=str(data["name"]),
            enabled=bool(data["enabled"]),
            configuration=dict(data.get("configuration") or {}),
            version=int(data["version"]),
        )

    def as_message(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "enabled": self.enabled,
            "configuration": self.configuration,
            "version": self.version,
        }


def _defaults() -> dict[str, FlagState]:
    return {
        name: FlagState(
            name, defn.default_enabled, defn.validate(defn.default_configuration), version=0
        )
        for name, defn in FLAGS.items()
    }


Listener = Callable[["FlagSnapshot", FlagState], None]


@dataclass
class FlagSnapshot:
    """Flags as this replica applied them. Versions only grow: an older version arriving late
    (a reconcile racing a publish) is ignored."""

    states: dict[str, FlagState] = field(default_factory=_defaults)
    applied_at: float = field(default_factory=time.time)
    _listeners: list[Listener] = field(default_factory=list)

    # -- reading (no I/O) ----------------------------------------------------------------

    def get(self, name: str) -> FlagState:
        return self.states[name]

    def enabled(self, name: str) -> bool:
        return self.states[name].enabled

    def configuration(self, name: str) -> dict[str, Any] | None:
        """The flag's configuration while it is enabled, else None."""
        state = self.states[name]
        return state.configuration if state.enabled else None

    def for_provider(self, name: str, provider: str, default: bool) -> bool:
        """A per-provider toggle (`provider_enabled`, `provider_fallback`, ...): the flag's
        value for `provider` while the flag is enabled; `default` otherwise or when unnamed."""
        state = self.states[name]
        if not state.enabled:
            return default
        value = state.configuration.get(provider)
        return default if value is None else bool(value)

    @property
    def version(self) -> int:
        """The sum of every flag's version: each change adds one, so it grows with every change
        this replica applied and replicas can be compared by it."""
        return sum(state.version for state in self.states.values())

    def versions(self) -> dict[str, int]:
        return {name: state.version for name, state in self.states.items()}

    # -- writing (the propagation loop) ----------------------------------------------------

    def on_change(self, listener: Listener) -> None:
        """Call `listener` for every state applied from now on (and once now for each flag)."""
        self._listeners.append(listener)
        for state in self.states.values():
            self._notify(listener, state)

    def apply(self, states: Iterable[FlagState]) -> list[FlagState]:
        """Apply every state newer than the one held; returns those applied."""
        applied = []
        for state in states:
            current = self.states.get(state.name)
            if current is None or state.version <= current.version:
                continue  # unknown flag (a newer release wrote it) or not newer
            self.states[state.name] = state
            applied.append(state)
            for listener in self._listeners:
                self._notify(listener, state)
        if applied:
            self.applied_at = time.time()
        return applied

    def _notify(self, listener: Listener, state: FlagState) -> None:
        try:
            listener(self, state)
        except Exception:  # a consumer's bug must not stop propagation to the others
            log.exception("flag listener failed for %s v%s", state.name, state.version)
