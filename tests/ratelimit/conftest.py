"""Rate-limit settings: small limits, and counters namespaced per test in the shared Redis."""

from __future__ import annotations

import uuid

import pytest

from app.settings import Settings


@pytest.fixture
def rl_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "rate_limit_enabled": True,
            "rate_limit_default": "5/minute",
            "rate_limit_rules": {"/v1/external/": "3/minute"},
            "rate_limit_key_prefix": f"test:rl:{uuid.uuid4().hex[:12]}",
        }
    )
