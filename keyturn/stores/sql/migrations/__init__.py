"""Alembic migrations, run programmatically (on start and by
``keyturn db upgrade``) on a connection we already hold."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def run_upgrade(connection: sa.Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
