"""Live or sandbox, per provider (see ProviderMode)."""

from __future__ import annotations

from app.providers.config import ProvidersConfig
from app.settings import ProviderMode, Settings


def credential(settings: Settings, setting: str | None) -> str | None:
    """The provider's credential; "" when it needs none (World Bank), None when unset."""
    if setting is None:
        return ""
    value = getattr(settings, setting, None)
    return value.get_secret_value() if value is not None else None


def credentials(
    settings: Settings, config: ProvidersConfig, providers: list[str]
) -> dict[str, str | None]:
    return {
        p: credential(settings, config.providers[p].credential_setting)  # type: ignore[index]
        for p in providers
    }


def sandboxed(settings: Settings, creds: dict[str, str | None]) -> set[str]:
    """The providers to collect from the sandbox."""
    if settings.provider_mode is ProviderMode.SANDBOX:
        return set(creds)
    if settings.provider_mode is ProviderMode.LIVE:
        return set()
    missing = {p for p, value in creds.items() if value is None}
    keyed = [p for p, value in creds.items() if value != ""]
    if keyed and all(p in missing for p in keyed):  # no key at all: a developer's machine
        return set(creds)
    return missing
