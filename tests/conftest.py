"""Shared fixtures: apps on SQLite and on PostgreSQL, a real embedder loaded once, keys per scope."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from features.storage.engine import make_engine
from features.storage.schema import metadata

PG_ADMIN_URL = os.environ.get("KEFU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _postgres_available() -> str | None:
    """None when the server answers, else the reason to skip."""
    try:
        import psycopg

        url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away database on the local server, dropped after the session."""
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"kefu_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kefu.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = make_engine(url)
    with engine.begin() as conn:  # leave the next test an empty database
        names = ", ".join(t.name for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    engine.dispose()


@pytest.fixture
def migrated_engine(database_url):
    """An engine on a database with kefu's schema applied, disposed after the test."""
    from features.storage.migrate import upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def embedder():
    """The real multilingual embedder, loaded once per session, behind the vector cache an app builds by default
    (fixtures that simulate the same shop embed its messages once)."""
    from features.text.embedder import make_embedder

    return make_embedder("e5", num_threads=1, cache_entries=10_000)


@pytest.fixture(scope="session")
def recommend_shop(tmp_path_factory, embedder):
    """One app with a simulated shop and a trained recommender, shared by the recommendation tests of the whole
    session (training is the slow part): (app, shop, folder), the SQLite file at folder/kefu.db and the data
    folder at folder/data. SQLite only: storage is tested on both databases elsewhere."""
    from service.app import create_app
    from service.demo import load_shop_into
    from service.pipelines.recommend import train_and_register

    folder = tmp_path_factory.mktemp("recommend")
    app = create_app({"database_url": f"sqlite:///{folder / 'kefu.db'}", "data_dir": str(folder / "data"),
                      "log_level": "WARNING", "auth_cache_seconds": 0.0}, embedder=embedder)
    state = app.extensions["kefu"]
    counts = load_shop_into(state, n_customers=300, seed=5, echo=lambda _: None)
    state.extras["profiles"].rebuild_all()
    train_and_register(state)
    yield app, counts["shop"], folder
    state.store.engine.dispose()


@pytest.fixture
def app(database_url, tmp_path, embedder):
    from service.app import create_app

    app = create_app(
        {"database_url": database_url, "data_dir": str(tmp_path / "data"), "log_level": "WARNING",
         "max_batch_events": 50, "auth_cache_seconds": 0.0, "risk_audit_flush_seconds": 0.0},
        embedder=embedder,
    )
    yield app
    app.extensions["kefu"].store.engine.dispose()


@pytest.fixture
def store(app):
    return app.extensions["kefu"].store


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keys(store):
    """One key per scope, keyed by scope name."""
    from service.auth import SCOPES, create_api_key

    return {scope: create_api_key(store, [scope], name=f"test {scope}") for scope in SCOPES}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"the shared datasets are not at {SHARED_DATA} (they are not part of the repository)")
    return SHARED_DATA
