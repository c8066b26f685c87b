"""Naming datasets against a provider that configures thousands of them: an unknown one is a
422 naming the field and a bounded sample of the configured ids, found without a list scan
per dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import InvalidInput
from app.jobs.backfill import LISTED_DATASETS, check_datasets
from app.providers.config import ProviderSection, load_provider_config

CONFIG = Path("config/external_providers.yml")


def _fred_with(count: int) -> ProviderSection:
    section: ProviderSection = load_provider_config(CONFIG).providers["fred"]  # type: ignore[index]
    datasets = [{"series_id": f"S{n:05d}", "frequency": "daily"} for n in range(count)]
    return section.model_copy(update={"datasets": datasets})


def test_an_unknown_dataset_names_its_field_and_a_bounded_sample() -> None:
    section = _fred_with(20_000)
    check_datasets("fred", section, ["S00000", "S19999"], field="datasets")
    with pytest.raises(InvalidInput) as caught:
        check_datasets("fred", section, ["S00001", "NOPE"], field="datasets")
    message = str(caught.value)
    assert message.startswith("datasets[1]: unknown dataset 'NOPE' for fred")
    assert f"and {20_000 - LISTED_DATASETS} more" in message
    assert "S00019" in message and "S00020" not in message
