"""`kefu train recommender --refresh`: the active ranker over candidate tables refitted on what is stored now, so an
item added after the training can be shown (item page, promotions) without training again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from conftest import bearer
from service.cli.main import cli

NEW = "n-kettle"


@pytest.fixture(scope="module")
def shop(tmp_path_factory, embedder):
    """A small simulated shop with a trained recommender, its own (tests here publish versions): (app, folder)."""
    from service.app import create_app
    from service.demo import load_shop_into
    from service.pipelines.recommend import train_and_register

    folder = tmp_path_factory.mktemp("refresh")
    app = create_app({"database_url": f"sqlite:///{folder / 'kefu.db'}", "data_dir": str(folder / "data"),
                      "log_level": "WARNING", "auth_cache_seconds": 0.0}, embedder=embedder)
    state = app.extensions["kefu"]
    load_shop_into(state, n_customers=150, seed=23, echo=lambda _: None)
    state.extras["profiles"].rebuild_all()
    train_and_register(state)
    yield app, folder
    state.store.engine.dispose()


@pytest.fixture
def keys(shop):
    from service.auth import create_api_key

    store = shop[0].extensions["kefu"].store
    return {scope: create_api_key(store, [scope]) for scope in ("recommendations", "admin", "events")}


def cli_env(monkeypatch, folder) -> None:
    monkeypatch.setenv("KEFU_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("KEFU_DATABASE_URL", f"sqlite:///{folder / 'kefu.db'}")
    monkeypatch.setenv("KEFU_LOG_LEVEL", "WARNING")


def test_a_refresh_of_unchanged_data_ranks_exactly_as_the_trained_version(shop):
    from models.recommend.recommender import Recommender
    from service.pipelines.recommend import refresh_and_register

    state = shop[0].extensions["kefu"]
    registry = state.extras["registry"]
    version, base = refresh_and_register(state, activate=False)
    assert registry.current("recommend") == base and version.meta["new_items"] == 0
    trained, refreshed = Recommender.load(base.path), Recommender.load(version.path)
    customers = list(state.store.load_events(types=["purchase"]).customer_id.unique()[:20])
    for customer in customers:
        a, b = trained.rank(customer, 10), refreshed.rank(customer, 10)
        assert [(r.item_id, r.source) for r in a] == [(r.item_id, r.source) for r in b]
        assert [r.score for r in a] == pytest.approx([r.score for r in b], rel=1e-9)


def test_a_refresh_shows_an_item_added_after_the_training(shop, keys, monkeypatch, embedder):
    app, folder = shop
    state = app.extensions["kefu"]
    client = app.test_client()
    store = state.store
    items = store.load_items().set_index("item_id")
    twin = items.index[0]
    buyers = store.load_events(types=["purchase"]).customer_id.value_counts().index[:8].tolist()
    # the new item: a twin of an existing one, bought with it in several orders after the training
    client.post("/v1/items", json={"items": [{
        "item_id": NEW, "name": items.loc[twin, "name"] + " XL", "category": items.loc[twin, "category"],
        "description": items.loc[twin, "description"], "price": 20.0, "stock": 50}]},
        headers=bearer(keys["events"]))
    now = datetime.now(timezone.utc)
    events = [{"event_id": f"rf-{i}-{item}", "type": "purchase", "customer_id": c, "item_id": item,
               "order_id": f"rf-order-{i}", "quantity": 1, "amount": 20.0, "currency": "USD",
               "timestamp": (now - timedelta(minutes=30 - i)).isoformat()}
              for i, c in enumerate(buyers[:6]) for item in (NEW, twin)]
    assert client.post("/v1/events", json={"events": events}, headers=bearer(keys["events"])).status_code == 202
    customer = buyers[-1]                                      # never bought the new item
    promotion = {"name": "New in", "items": [NEW], "share": 0.1}

    def ask() -> dict:
        r = client.post("/v1/recommendations", json={"customer_id": customer, "k": 10, "promotion": promotion},
                        headers=bearer(keys["recommendations"]))
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def page() -> list[str]:
        r = client.get(f"/v1/items/{twin}/similar?k=20", headers=bearer(keys["recommendations"]))
        return [i["item_id"] for i in r.get_json()["items"]]

    before = ask()
    base = before["model_version"]
    assert NEW not in {i["item_id"] for i in before["items"]}          # not ranked: unknown to the model
    assert NEW not in page()
    assert client.get(f"/v1/items/{NEW}/similar", headers=bearer(keys["recommendations"])).get_json()["items"] == []

    cli_env(monkeypatch, folder)
    monkeypatch.setattr("service.app.make_embedder", lambda *args, **kwargs: embedder)   # the session's, loaded
    result = CliRunner().invoke(cli, ["train", "recommender", "--refresh"])
    assert result.exit_code == 0, result.output
    assert f"the ranker of {base}" in result.output and "(1 new)" in result.output
    registry = state.extras["registry"]
    version = registry.current("recommend")
    assert version.version != base and version.meta["refreshed_from"] == base and version.meta["new_items"] == 1
    old = registry.get("recommend", base)
    assert (version.path / "model.txt").read_bytes() == (old.path / "model.txt").read_bytes()   # the same ranker
    assert version.metrics == old.metrics
    assert client.post("/v1/models/recommend/reload", headers=bearer(keys["admin"])).status_code == 200
    listed = client.get("/v1/models", headers=bearer(keys["admin"])).get_json()["models"]
    versions = {v["version"]: v for m in listed if m["name"] == "recommend" for v in m["versions"]}
    assert versions[version.version]["refreshed_from"] == base and versions[base]["refreshed_from"] is None
    listing = CliRunner().invoke(cli, ["models", "list"]).output
    assert f"{version.version}" in listing and f"(refresh of {base})" in listing

    after = ask()
    assert after["model_version"] == version.version
    shown = {i["item_id"]: i for i in after["items"]}
    assert NEW in shown and shown[NEW]["promoted"]
    assert NEW in page()                                        # bought together with the twin, or its text
    similar = client.get(f"/v1/items/{NEW}/similar", headers=bearer(keys["recommendations"])).get_json()["items"]
    assert twin in [i["item_id"] for i in similar]


def test_a_refresh_without_a_trained_recommender_says_what_to_do(tmp_path, monkeypatch):
    cli_env(monkeypatch, tmp_path)
    result = CliRunner().invoke(cli, ["train", "recommender", "--refresh"])
    assert result.exit_code == 1 and "kefu train recommender" in result.output


def test_a_refresh_is_refused_when_the_item_texts_changed_under_the_ranker(shop):
    from models.recommend.from_store import StoreData, refresh_from_data
    from models.recommend.recommender import Recommender

    state = shop[0].extensions["kefu"]
    rec = Recommender.load(state.extras["registry"].current("recommend").path)
    assert rec.state.embeddings is not None
    store = state.store
    events = store.load_events(types=["view", "add_to_cart", "purchase"])
    data = StoreData(events, store.load_items(), store.load_customers(), None, events["ts"].max())
    with pytest.raises(ValueError, match="retrain"):
        refresh_from_data(rec, data)


def test_the_schedule_refreshes_only_when_something_new_is_stored_and_keeps_the_newest(shop, keys, monkeypatch,
                                                                                        embedder):
    from service.pipelines.recommend_schedule import SCHEDULED, refresh_due, run_schedule

    app, folder = shop
    state = app.extensions["kefu"]
    registry, engine = state.extras["registry"], state.store.engine
    client = app.test_client()
    trained = registry.current("recommend")
    assert refresh_due(engine, registry) is None                 # nothing stored since the active version
    cli_env(monkeypatch, folder)
    monkeypatch.setattr("service.app.make_embedder", lambda *args, **kwargs: embedder)
    # a child process per refresh under `kefu serve`; here the same command, in process
    in_process = lambda command: CliRunner().invoke(cli, command[3:]).exit_code  # noqa: E731
    echoed: list[str] = []
    published: list[str] = []
    for n in range(3):
        event = {"event_id": f"sched-{n}", "type": "view", "customer_id": "c-sched", "item_id": NEW,
                 "timestamp": datetime.now(timezone.utc).isoformat()}
        assert client.post("/v1/events", json={"events": [event]}, headers=bearer(keys["events"])).status_code == 202
        assert "events stored since" in refresh_due(engine, registry)
        sleeps: list[float] = []
        assert run_schedule(engine, registry, 7200.0, 2, cycles=2, run=in_process, sleep=sleeps.append,
                            echo=echoed.append) == 1
        assert sleeps == [7200.0] and "nothing new" in echoed[-1]    # the second check found its own refresh
        current = registry.current("recommend")
        assert current.meta["refreshed_by"] == SCHEDULED and current.version not in published
        published.append(current.version)
    kept = {v.version for v in registry.versions("recommend")}
    assert published[0] not in kept and set(published[1:]) <= kept   # keep 2: the oldest scheduled one went
    assert trained.version in kept                                   # a trained version is never deleted

    failing = run_schedule(engine, registry, 60.0, 2, cycles=1, run=lambda command: 3, sleep=lambda s: None,
                           echo=echoed.append)
    assert failing == 0 and echoed[-1] == "recommender refresh: nothing new; next check in 0.0166667 h"
    late = {"event_id": "sched-x", "type": "view", "customer_id": "c-sched", "item_id": NEW,
            "timestamp": datetime.now(timezone.utc).isoformat()}
    assert client.post("/v1/events", json={"events": [late]}, headers=bearer(keys["events"])).status_code == 202
    assert run_schedule(engine, registry, 60.0, 2, cycles=1, run=lambda command: 3, sleep=lambda s: None,
                        echo=echoed.append) == 0
    assert "failed (exit 3)" in echoed[-1] and registry.current("recommend").version == published[-1]


def test_every_needs_refresh(monkeypatch, tmp_path):
    cli_env(monkeypatch, tmp_path)
    result = CliRunner().invoke(cli, ["train", "recommender", "--every", "1"])
    assert result.exit_code == 2 and "--refresh" in result.output


def test_only_the_lease_holder_refreshes_and_it_gives_the_lease_up_when_it_stops(shop, keys):
    """Several `kefu serve` hosts on one database: the host holding the lease refreshes, the others only check."""
    from features.storage.leases import lease_holder, release_lease, take_lease
    from service.pipelines.recommend_schedule import LEASE, run_schedule

    app, _ = shop
    state = app.extensions["kefu"]
    registry, engine = state.extras["registry"], state.store.engine
    event = {"event_id": "lease-1", "type": "view", "customer_id": "c-lease", "item_id": NEW,
             "timestamp": datetime.now(timezone.utc).isoformat()}
    assert app.test_client().post("/v1/events", json={"events": [event]},
                                  headers=bearer(keys["events"])).status_code == 202
    assert take_lease(engine, LEASE, "other-host:7", 3600)
    runs: list[list[str]] = []
    echoed: list[str] = []
    run = lambda command: runs.append(command) or 3  # noqa: E731
    assert run_schedule(engine, registry, 60.0, 2, cycles=2, run=run, sleep=lambda s: None, echo=echoed.append,
                        holder="this-host:1") == 0
    assert runs == [] and echoed == ["recommender refresh: other-host:7 runs it; next check in 0.0166667 h"] * 2
    assert lease_holder(engine, LEASE)[0] == "other-host:7"          # not this host's to give up

    release_lease(engine, LEASE, "other-host:7")                      # the other host stopped
    run_schedule(engine, registry, 60.0, 2, cycles=1, run=run, sleep=lambda s: None, echo=echoed.append,
                 holder="this-host:1")
    assert len(runs) == 1 and "failed (exit 3)" in echoed[-1]        # this host took over and tried
    assert lease_holder(engine, LEASE) is None                        # and gave the lease up when it ended
