"""Which scheduled promotion a list gets: live window, channel, priority, then the latest start, then the name;
each worker's cached copy, refreshed after its TTL or at once after a change made through it."""
from __future__ import annotations

from datetime import datetime, timedelta

from features.storage.promotions import PromotionStore
from service.pipelines.promotions import ScheduledPromotions, is_live

T0 = datetime(2026, 12, 1, 9, 0)
HOUR = timedelta(hours=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def schedule(engine, clock: Clock, ttl: float = 0.0) -> ScheduledPromotions:
    return ScheduledPromotions(PromotionStore(engine), ttl=ttl, clock=clock)


def body(**given) -> dict:
    return {"items": ["i1"], "share": 0.2, "channels": ["api", "chat", "campaign"], "priority": 0, **given}


def test_a_promotion_applies_only_inside_its_window_and_on_its_channels(migrated_engine):
    clock = Clock(T0)
    promotions = schedule(migrated_engine, clock)
    assert promotions.current("api") is None
    promotions.put("spring", body(items=["i1", "i2"], categories=["garden"], share=0.3, channels=["api", "chat"],
                                  starts_at=T0 + HOUR, ends_at=T0 + 3 * HOUR))
    assert promotions.current("api") is None                    # not started
    clock.now = T0 + HOUR
    assert promotions.current("api") == {"name": "spring", "items": ["i1", "i2"], "categories": ["garden"],
                                         "share": 0.3}
    assert promotions.current("chat")["name"] == "spring" and promotions.current("campaign") is None
    clock.now = T0 + 3 * HOUR                                   # ends_at is exclusive
    assert promotions.current("api") is None


def test_the_highest_priority_then_the_latest_start_then_the_name_wins(migrated_engine):
    clock = Clock(T0 + 10 * HOUR)
    promotions = schedule(migrated_engine, clock)
    promotions.put("b-old", body(starts_at=T0))
    promotions.put("a-new", body(starts_at=T0 + HOUR))
    assert promotions.current("api")["name"] == "a-new"
    promotions.put("c-same", body(starts_at=T0 + HOUR))
    assert promotions.current("api")["name"] == "a-new"          # the same start: the first by name
    promotions.put("z-first", body(starts_at=T0, priority=5))
    assert promotions.current("api")["name"] == "z-first"
    promotions.put("z-first", body(starts_at=T0, priority=5, channels=["chat"]))
    assert promotions.current("api")["name"] == "a-new" and promotions.current("chat")["name"] == "z-first"
    assert promotions.delete("z-first") and not promotions.delete("z-first")
    assert promotions.current("chat")["name"] == "a-new"


def test_a_worker_sees_another_workers_change_after_its_ttl_and_its_own_at_once(migrated_engine):
    clock = Clock(T0)
    here = schedule(migrated_engine, clock, ttl=3600.0)
    there = schedule(migrated_engine, clock, ttl=3600.0)
    assert here.current("api") is None and there.current("api") is None      # both cached: nothing
    here.put("spring", body())
    assert here.current("api")["name"] == "spring"
    assert there.current("api") is None                          # its copy is younger than the TTL
    there.ttl = 0.0
    assert there.current("api")["name"] == "spring"


def test_is_live_treats_missing_bounds_as_open():
    row = {"starts_at": None, "ends_at": None}
    assert is_live(row, T0)
    assert not is_live({**row, "starts_at": T0 + HOUR}, T0) and is_live({**row, "starts_at": T0}, T0)
    assert is_live({**row, "ends_at": T0 + HOUR}, T0) and not is_live({**row, "ends_at": T0}, T0)
