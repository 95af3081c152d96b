"""features.storage.engine.make_engine: the settings each SQLite connection gets, and the app factory's wiring."""
from __future__ import annotations

from sqlalchemy import text

from features.storage.engine import make_engine


def _pragma(engine, name: str):
    with engine.connect() as conn:
        return conn.execute(text(f"PRAGMA {name}")).scalar()


def test_sqlite_connections_use_wal_the_asked_durability_and_no_memory_map_by_default(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/a/kefu.db", sqlite_synchronous="NORMAL")
    try:
        assert (tmp_path / "a").is_dir()
        assert _pragma(engine, "journal_mode") == "wal"
        assert _pragma(engine, "synchronous") == 1                      # NORMAL
        assert _pragma(engine, "mmap_size") == 0
    finally:
        engine.dispose()


def test_sqlite_reads_through_a_memory_map_of_the_asked_size(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/kefu.db", sqlite_mmap_mb=64)
    try:
        assert _pragma(engine, "mmap_size") == 64 * 1024 * 1024
        assert _pragma(engine, "synchronous") == 2                      # FULL, the default
    finally:
        engine.dispose()


def test_the_app_factory_passes_kefu_sqlite_mmap_mb_to_the_engine(tmp_path, embedder):
    from service.app import create_app
    from service.config import settings_from_env

    assert settings_from_env({"KEFU_SQLITE_MMAP_MB": "32"}).sqlite_mmap_mb == 32
    assert settings_from_env({}).sqlite_mmap_mb == 0
    app = create_app({"database_url": f"sqlite:///{tmp_path}/kefu.db", "data_dir": str(tmp_path / "data"),
                      "log_level": "WARNING", "sqlite_mmap_mb": 32}, embedder=embedder)
    engine = app.extensions["kefu"].store.engine
    try:
        assert _pragma(engine, "mmap_size") == 32 * 1024 * 1024
    finally:
        engine.dispose()
