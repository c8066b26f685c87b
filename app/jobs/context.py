"""What a job is given while it runs, and what it reports back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.resources import Resources

if TYPE_CHECKING:
    from app.jobs.definitions import JobDefinition
    from app.jobs.targets import ProviderTargets
    from app.messaging.outbox_relay import OutboxRelay


class RunStopped(Exception):
    """Raised at a batch boundary when the run was cancelled or the replica is shutting down:
    everything before the boundary is committed, the checkpoint marks where to resume."""


@dataclass
class RunCounters:
    rows_new: int = 0
    rows_changed: int = 0
    rows_rejected: int = 0
    requests_used: int = 0
    # Per-dataset progress ({series_id: {"status", "rows"}}) or a monitor's findings.
    progress: dict[str, Any] = field(default_factory=dict)
    # A run that had nothing to do says why (status `skipped`).
    skipped_reason: str | None = None


@dataclass
class RunContext:
    resources: Resources
    targets: ProviderTargets
    definition: JobDefinition
    run_id: uuid.UUID | None
    trigger: str
    parameters: dict[str, Any]
    relay: OutboxRelay | None = None
    counters: RunCounters = field(default_factory=RunCounters)
    stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason

    def checkpoint(self) -> None:
        """Call at batch boundaries: raises RunStopped once a stop was requested."""
        if self.stop_reason is not None:
            raise RunStopped(self.stop_reason)
