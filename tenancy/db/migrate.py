"""Apply the registry's SQL migrations with yoyo-migrations, as the migration owner."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _yoyo_url(url: str) -> str:
    """yoyo wants a URL with the psycopg 3 driver named; accept key=value conninfo too."""
    params = conninfo_to_dict(url)

    user = quote(str(params.get("user", "")), safe="")
    password = quote(str(params.get("password", "")), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = params.get("host", "localhost")
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql+psycopg://{auth}{host}{port}/{params.get('dbname', '')}"


def migrate(owner_url: str) -> list[str]:
    """Apply pending migrations under yoyo's lock; returns the ids applied (empty if none)."""
    backend = get_backend(_yoyo_url(owner_url))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()  # yoyo keeps it open; an open session blocks DROP/TEMPLATE
    return [m.id for m in pending]
