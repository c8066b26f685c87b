"""Expectation suite files (`config/expectations/*.yml`): schema, loading, and errors that name
the file and the expectation.

The files use Great Expectations' own suite shape (`name`, `expectations: [{type, kwargs,
meta}]`), so they load into GE unchanged. This module checks them without importing GE (which
is slow to import and must stay off the API's start path): structure, a severity on every
expectation, and `$PARAMETER` references the runner knows how to fill.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import text

from app.providers.config import resolve_config_path

SHARED_SUITE = "observations"

# Parameters the runner computes for each run (app.quality.parameters); a suite may use no other.
FIXED_PARAMETERS = frozenset({"today", "row_count_floor", "row_count_ceiling"})
RELATIVE_DATE = re.compile(r"^today_(minus|plus)_days_(\d{1,4})$")


class Severity(StrEnum):
    WARNING = "warning"
    ERROR = "error"


class SuiteError(ValueError):
    """A suite file is unusable; the message names the file and the expectation."""


class ExpectationMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    severity: Severity
    notes: str | None = None


class ExpectationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=r"^(expect_[a-z0-9_]+|unexpected_rows_expectation)$")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: ExpectationMeta
    description: str | None = None

    @field_validator("kwargs")
    @classmethod
    def _known_parameters(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        for name in parameter_references(kwargs):
            if name not in FIXED_PARAMETERS and not RELATIVE_DATE.match(name):
                raise ValueError(
                    f"unknown $PARAMETER {name!r}: use one of {sorted(FIXED_PARAMETERS)} "
                    "or today_minus_days_N / today_plus_days_N"
                )
        query = kwargs.get("unexpected_rows_query")
        if query is not None:
            # GE runs the query through SQLAlchemy's text(): `:name` (even inside a string
            # literal, e.g. '%:TMAX') is a bind parameter nobody fills, and the run fails.
            binds = sorted(text(str(query)).compile().params)
            if binds:
                raise ValueError(
                    f"unexpected_rows_query has bind parameters {binds} (a ':' before a name); "
                    "write it without one, e.g. split_part(series_id, ':', 3) = 'TMAX'"
                )
        return kwargs


class SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    expectations: list[ExpectationSpec] = Field(min_length=1)


def parameter_references(value: Any) -> set[str]:
    """Every `{"$PARAMETER": name}` inside `value`."""
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return {str(value["$PARAMETER"])}
        return set().union(*(parameter_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(parameter_references(v) for v in value))
    return set()


@dataclass(frozen=True)
class ProviderSuite:
    """What one provider's validation runs: the shared observations suite, then its own."""

    provider: str
    name: str
    expectations: tuple[ExpectationSpec, ...]

    @property
    def parameters(self) -> set[str]:
        return set().union(*(parameter_references(e.kwargs) for e in self.expectations))


@dataclass(frozen=True)
class SuiteCatalog:
    directory: Path
    shared: SuiteFile
    providers: dict[str, SuiteFile]

    @property
    def names(self) -> list[str]:
        return sorted(self.providers)

    def for_provider(self, provider: str) -> ProviderSuite:
        own = self.providers[provider]
        return ProviderSuite(
            provider=provider,
            name=f"{SHARED_SUITE}+{own.name}",
            expectations=(*self.shared.expectations, *own.expectations),
        )


def load_suite_file(path: Path) -> SuiteFile:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SuiteError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    try:
        suite = SuiteFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SuiteError(f"{path}: {key}: {first['msg']}{more}") from exc
    ids = [e.meta.id for e in suite.expectations]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SuiteError(f"{path}: duplicate expectation ids {duplicates}")
    if suite.name != path.stem:
        raise SuiteError(f"{path}: name {suite.name!r} must match the file name {path.stem!r}")
    return suite


def load_suites(directory: Path, providers: Iterable[str]) -> SuiteCatalog:
    """The shared suite and one per configured provider; a missing or broken file is an error
    naming it (the service refuses to start on one)."""
    directory = resolve_config_path(directory)
    if not directory.is_dir():
        raise SuiteError(f"{directory}: expectation suite directory not found")
    shared = load_suite_file(directory / f"{SHARED_SUITE}.yml")
    own = {name: load_suite_file(directory / f"{name}.yml") for name in providers}
    return SuiteCatalog(directory=directory, shared=shared, providers=own)
