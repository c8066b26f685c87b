"""Run Alembic migrations from code (start-up, `aurum migrate`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from app.db.engine import async_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    """Alembic config for `alembic.ini` in the working directory or the project root."""
    ini = Path("alembic.ini")
    if not ini.exists():
        ini = PROJECT_ROOT / "alembic.ini"
    config = Config(str(ini))
    config.set_main_option("script_location", str(ini.parent / "migrations"))
    # Percent signs in URLs would be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
