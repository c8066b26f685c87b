"""Every table the service owns. Importing this package registers them all on the metadata."""

from app.db.models.audit import AuditLog
from app.db.models.auth import ApiKey
from app.db.models.catalog import Dataset, Provider
from app.db.models.flags import RuntimeFlag, RuntimeFlagHistory
from app.db.models.ingest import DeadLetter, IngestCheckpoint
from app.db.models.jobs import JobPause, SchedulerLeader
from app.db.models.observations import Observation
from app.db.models.outages import OutageEvent, OutageStatus, ProviderOutage
from app.db.models.outbox import OutboxMessage
from app.db.models.providers import ProviderOverride, ProviderRecovery
from app.db.models.quality import ValidationResult
from app.db.models.runs import JobRun, RunStatus
from app.db.models.series_stats import SeriesMonthlyStats

__all__ = [
    "ApiKey",
    "AuditLog",
    "Dataset",
    "DeadLetter",
    "IngestCheckpoint",
    "JobPause",
    "JobRun",
    "Observation",
    "OutageEvent",
    "OutageStatus",
    "OutboxMessage",
    "Provider",
    "ProviderOutage",
    "ProviderOverride",
    "ProviderRecovery",
    "RunStatus",
    "RuntimeFlag",
    "RuntimeFlagHistory",
    "SchedulerLeader",
    "SeriesMonthlyStats",
    "ValidationResult",
]
