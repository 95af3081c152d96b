"""The per-worker key cache: a revoked key stops working within the documented time, a wrong secret never works."""
from __future__ import annotations

import pytest

from features.storage.store import SqlStore
from service.auth import KeyVerifier, create_api_key


@pytest.fixture
def store(migrated_engine):
    return SqlStore(migrated_engine)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_revoked_key_is_refused_once_its_cache_entry_expires(store):
    key, clock = create_api_key(store, ["risk"]), Clock()
    verifier = KeyVerifier(store, cache_seconds=30, clock=clock)
    assert verifier.verify(key).allows("risk")
    store.revoke_api_key(key.split("_")[1])
    clock.now += 29.9
    assert verifier.verify(key) is not None            # still cached: revocation takes up to cache_seconds
    clock.now += 0.2
    assert verifier.verify(key) is None
    clock.now += 100
    assert verifier.verify(key) is None                # and the refusal is not forgotten


def test_without_a_cache_revocation_is_immediate(store):
    key = create_api_key(store, ["risk"])
    verifier = KeyVerifier(store, cache_seconds=0)
    assert verifier.verify(key) is not None
    store.revoke_api_key(key.split("_")[1])
    assert verifier.verify(key) is None


def test_a_wrong_secret_for_a_real_key_id_is_refused_even_after_the_real_key_was_cached(store):
    key = create_api_key(store, ["risk"])
    verifier = KeyVerifier(store, cache_seconds=30, clock=Clock())
    assert verifier.verify(key) is not None
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert verifier.verify(forged) is None
    assert verifier.verify("kefu_nothing") is None and verifier.verify("bearer") is None
