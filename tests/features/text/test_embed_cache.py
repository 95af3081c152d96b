"""The vector cache in front of the embedding engine: same vectors, each distinct text embedded once, bounded."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from features.text.embed_cache import CachedEmbedder
from features.text.embedder import E5Embedder, make_embedder


class Counting:
    """The session's real E5 engine, recording which texts reach it."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.dim, self.num_threads = engine, engine.name, engine.dim, engine.num_threads
        self.seen: list[tuple[str, str]] = []

    def embed_queries(self, texts):
        self.seen += [("query", t) for t in texts]
        return self.engine.embed_queries(texts)

    def embed_passages(self, texts):
        self.seen += [("passage", t) for t in texts]
        return self.engine.embed_passages(texts)


@pytest.fixture
def engine(embedder):
    return Counting(getattr(embedder, "inner", embedder))


def test_vectors_are_the_engines_and_each_distinct_text_is_embedded_once(engine):
    cached = CachedEmbedder(engine, max_entries=100)
    texts = ["where is my order?", "我的订单在哪里？", "where is my order?", "thanks"]
    first = cached.embed_queries(texts)
    assert first.dtype == np.float32 and first.shape == (4, 384)
    np.testing.assert_allclose(first, engine.engine.embed_queries(texts), atol=1e-5)
    np.testing.assert_array_equal(first[0], first[2])
    assert engine.seen == [("query", "where is my order?"), ("query", "我的订单在哪里？"), ("query", "thanks")]
    again = cached.embed_queries(["thanks", "new text", "where is my order?"])
    np.testing.assert_array_equal(again[0], first[3])
    np.testing.assert_array_equal(again[2], first[0])
    assert engine.seen[3:] == [("query", "new text")]
    assert (cached.hits, cached.misses, len(cached)) == (3, 4, 4)


def test_queries_and_passages_are_remembered_apart(engine):
    cached = CachedEmbedder(engine)
    q = cached.embed_queries(["How do I return a damaged item?"])[0]
    p = cached.embed_passages(["How do I return a damaged item?"])[0]
    assert float(q @ p) < 0.9999 and len(engine.seen) == 2


def test_the_least_recently_used_text_is_dropped_first(engine):
    cached = CachedEmbedder(engine, max_entries=2)
    cached.embed_passages(["a", "b"])
    cached.embed_passages(["a"])            # a is now the most recently used
    cached.embed_passages(["c"])            # b goes
    assert len(cached) == 2
    engine.seen.clear()
    cached.embed_passages(["a", "c", "b"])
    assert engine.seen == [("passage", "b")]


def test_a_caller_writing_into_its_answer_does_not_change_the_cache(engine):
    cached = CachedEmbedder(engine)
    first = cached.embed_queries(["refund please"])
    keep = first.copy()
    first[:] = 0.0
    np.testing.assert_array_equal(cached.embed_queries(["refund please"]), keep)


def test_contract_and_input_checks_hold(engine):
    cached = CachedEmbedder(engine)
    assert cached.embed_queries([]).shape == (0, 384)
    with pytest.raises(TypeError, match="single string"):
        cached.embed_queries("Where is my order?")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        cached.embed_passages(["ok", None])
    np.testing.assert_allclose(cached.embed_passages(["a\x00b"]), engine.engine.embed_passages(["a b"]), atol=1e-5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_entries"):
            CachedEmbedder(engine, max_entries=bad)


def test_concurrent_callers_get_the_same_vectors_as_one_caller(engine):
    cached = CachedEmbedder(engine, max_entries=30)
    texts = [[f"thread {t} message {i % 5}: 订单 {i % 5}" for i in range(20)] for t in range(4)]
    expected = [engine.engine.embed_queries(batch) for batch in texts]
    results: dict[int, np.ndarray] = {}

    def work(t: int) -> None:
        for _ in range(3):
            results[t] = cached.embed_queries(texts[t])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(4):
        np.testing.assert_allclose(results[t], expected[t], atol=1e-5)
    assert len(cached) == 20


def test_make_embedder_and_the_app_wire_the_cache(tmp_path):
    from service.app import create_app

    cached = make_embedder("e5", num_threads=2, cache_entries=5)
    assert isinstance(cached, CachedEmbedder) and isinstance(cached.inner, E5Embedder)
    assert cached.name == "e5" and cached.dim == 384 and cached.num_threads == 2 and cached.max_entries == 5
    assert isinstance(make_embedder("e5"), E5Embedder)
    with pytest.raises(ValueError, match="max_entries"):
        make_embedder("e5", cache_entries=-1)
    config = {"database_url": f"sqlite:///{tmp_path / 'kefu.db'}", "data_dir": str(tmp_path / "data")}
    assert isinstance(create_app(config).extensions["kefu"].embedder, CachedEmbedder)
    plain = create_app({**config, "embedder_cache": 0}).extensions["kefu"].embedder
    assert isinstance(plain, E5Embedder)
