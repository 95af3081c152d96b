"""Train the chat models and publish them in the model registry: knowledge base, intents, sentiment.

The chat service loads three registry entries by name and kind (the contract; do not rename):

* ``knowledge_base``, kind ``chat_kb``: :meth:`KnowledgeBase.save` (entries + vectors);
* ``intents``, kind ``chat_intent``: :meth:`IntentModel.save` (weights + out-of-scope threshold);
* ``sentiment``, kind ``chat_sentiment``: :meth:`SentimentModel.save`.

Why a held-out test part: both classifiers choose settings on validation data of their own (the intent model
even picks its out-of-scope threshold there), so their validation scores are optimistic. When every class has
enough examples, a stratified part (by label and language, ``test_fraction``, fixed ``seed``) is kept out of
training altogether and the model trained on the rest is scored on it; that accuracy goes into ``model.json``
as ``test_accuracy``. The published model is then refit on all the data (few-shot data cannot spare a fifth of
its examples), so the figure estimates the training procedure on this data, which is the usual reading; for
large sets (``REFIT_LIMIT`` texts or more) the refit would only double the training time, so the tested model
itself is published and ``extra.refit_on_all`` says which was done. Too little data for a test part: the
metrics say so (``test_accuracy`` absent, ``evaluation`` in the extra metadata explains) rather than report a
number from a handful of sentences.

Texts are embedded once per job (the expensive part: e5 embeds a few dozen sentences a second on a CPU), in
chunks, so a caller can show progress; both fits reuse the vectors.

This module is below the HTTP layer: no Flask, no click. Errors are domain errors from ``features.errors``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from features.errors import InvalidInput, NotFound
from features.text.language import detect_language
from models.chat.intent import IntentModel
from models.chat.knowledge import KBEntry, KnowledgeBase, entries_from_records, load_kb_file
from models.chat.sentiment import CLASSES as SENTIMENT_CLASSES
from models.chat.sentiment import SentimentModel
from models.registry import NAME_RE, InvalidModelName, ModelRegistry, ModelVersion

__all__ = [
    "INTENT_KIND", "INTENT_NAME", "KB_KIND", "KB_NAME", "SENTIMENT_KIND", "SENTIMENT_NAME", "Progress",
    "describe_intent_metrics", "describe_sentiment_metrics", "import_knowledge_base", "kb_summary",
    "read_labelled_frame", "read_labelled_texts", "setup_demo_chat_models", "stratified_holdout", "train_intents",
    "train_sentiment",
]

log = logging.getLogger(__name__)

KB_NAME, KB_KIND = "knowledge_base", "chat_kb"
INTENT_NAME, INTENT_KIND = "intents", "chat_intent"
SENTIMENT_NAME, SENTIMENT_KIND = "sentiment", "chat_sentiment"

#: ``progress(stage, done, total)``: called with ``done == 0`` when a stage starts and as it advances.
#: Stages: ``"embedding"`` (texts) and ``"training"`` (fits).
Progress = Callable[[str, int, int], None]

#: A class needs this many examples before a test part is held out of it.
MIN_PER_LABEL_FOR_TEST = 5
#: A (label, language) stratum smaller than this stays whole in training (it keeps at least two examples).
MIN_STRATUM_FOR_TEST = 3
#: Fewer held-out texts than this would make the test accuracy noise: no test part then.
MIN_TEST_SIZE = 10
#: From this many texts on, the model scored on the test part is published as is (no refit on all data).
REFIT_LIMIT = 5000
#: Texts per embedding call (one progress step).
EMBED_CHUNK = 64
#: BLAS threads while fitting. The fits are many small logistic regressions (a few hundred rows x 768); with
#: OpenBLAS on 2 threads and a busy 2-core machine one demo intent fit took 30.8 s, on 1 thread 1.6 s: the
#: threads spin waiting for each other. One thread loses little even when the machine is idle.
FIT_BLAS_THREADS = 1

#: Label spellings accepted for sentiment, beyond the canonical ``negative`` / ``neutral`` / ``positive``.
SENTIMENT_SYNONYMS = {"neg": "negative", "pos": "positive", "neu": "neutral", "-1": "negative", "0": "neutral",
                      "1": "positive"}


# ------------------------------------------------------------------------------------------------ helpers
def _no_progress(stage: str, done: int, total: int) -> None:  # noqa: ARG001 - the Progress signature
    return None


def _check_name(name: str) -> str:
    """Fail before the expensive embedding, not after it, when the registry would refuse the name."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidModelName(f"invalid model name {name!r}: lower case letters, digits, '_', '.', '-' "
                               "(64 at most, starting with a letter or digit)", errors={"name": ["invalid"]})
    return name


def _embedder_name(embedder: Any) -> str:
    return str(getattr(embedder, "name", "") or "")


def _embed(embedder: Any, texts: Sequence[str], kind: str, progress: Progress) -> np.ndarray:
    """Embed in chunks of ``EMBED_CHUNK`` (``kind`` is "query" or "passage"), reporting ``embedding`` progress."""
    fn = embedder.embed_queries if kind == "query" else embedder.embed_passages
    total = len(texts)
    progress("embedding", 0, total)
    parts = []
    for start in range(0, total, EMBED_CHUNK):
        chunk = list(texts[start : start + EMBED_CHUNK])
        parts.append(np.asarray(fn(chunk), dtype=np.float32))
        progress("embedding", min(start + EMBED_CHUNK, total), total)
    if not parts:
        return np.zeros((0, 0), np.float32)
    return np.vstack(parts)


class _ProgressEmbedder:
    """Wraps an embedder so that a library call that embeds everything at once (``KnowledgeBase.build``) is
    chunked and reports progress; the name is the wrapped embedder's, so the artifact records the real one."""

    def __init__(self, embedder: Any, progress: Progress, total: int) -> None:
        self._embedder, self._progress, self._total, self._done = embedder, progress, total, 0
        self.name = _embedder_name(embedder)

    def _run(self, fn: Callable[[list[str]], np.ndarray], texts: Sequence[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), EMBED_CHUNK):
            chunk = list(texts[start : start + EMBED_CHUNK])
            parts.append(np.asarray(fn(chunk), dtype=np.float32))
            self._done += len(chunk)
            self._progress("embedding", min(self._done, self._total), self._total)
        return np.vstack(parts) if parts else np.zeros((0, 0), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(self._embedder.embed_queries, texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(self._embedder.embed_passages, texts)


def _blas_threads() -> Any:
    """A context that limits BLAS threads to ``FIT_BLAS_THREADS`` (threadpoolctl comes with scikit-learn)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=FIT_BLAS_THREADS, user_api="blas")


def _data_hash(*parts: Any) -> str:
    """sha256 of the training data (texts, labels, ...) as JSON: two versions from the same data share it."""
    payload = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _clean_pairs(texts: Sequence[str], labels: Sequence[Any], what: str) -> tuple[list[str], list[str]]:
    if isinstance(texts, (str, bytes)):
        raise InvalidInput(f"{what}: texts must be a list of strings, not one string")
    texts, labels = list(texts), [str(v).strip() for v in labels]
    if len(texts) != len(labels):
        raise InvalidInput(f"{what}: {len(texts)} texts but {len(labels)} labels")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise InvalidInput(f"{what}: empty or non-text entries at positions {bad[:10]}", errors={"texts": bad[:10]})
    if any(not v for v in labels):
        raise InvalidInput(f"{what}: empty labels", errors={"labels": ["empty"]})
    if not texts:
        raise InvalidInput(f"{what}: no training texts")
    return [t.strip() for t in texts], labels


def stratified_holdout(labels: Sequence[str], strata: Sequence[str], *, fraction: float = 0.2, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(train rows, test rows)`` stratified by (label, stratum), or ``None`` when there is too little data.

    Every label needs ``MIN_PER_LABEL_FOR_TEST`` examples; each (label, stratum) group of at least
    ``MIN_STRATUM_FOR_TEST`` gives ``round(fraction * size)`` rows (at least one, leaving at least two) to the
    test part; smaller groups stay in training. Fewer than ``MIN_TEST_SIZE`` test rows in all: ``None``.
    Our own loop rather than ``train_test_split(stratify=...)``: that needs a test part at least as large as
    the number of groups, which few-shot intents (18 intents x 2 languages, 3-7 questions each) do not have.
    """
    if not 0.0 < fraction < 1.0:
        return None
    labels = [str(v) for v in labels]
    counts = Counter(labels)
    if len(counts) < 2 or min(counts.values()) < MIN_PER_LABEL_FOR_TEST:
        return None
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, key in enumerate(zip(labels, (str(s) for s in strata))):
        groups[key].append(i)
    rng = np.random.default_rng(seed)
    test: list[int] = []
    for key in sorted(groups):
        members = groups[key]
        if len(members) < MIN_STRATUM_FOR_TEST:
            continue
        k = min(max(1, int(round(fraction * len(members)))), len(members) - 2)
        test.extend(int(i) for i in rng.choice(members, size=k, replace=False))
    if len(test) < MIN_TEST_SIZE:
        return None
    test_rows = np.array(sorted(test), dtype=np.int64)
    train_rows = np.setdiff1d(np.arange(len(labels)), test_rows)
    return train_rows, test_rows


def _per_language_accuracy(correct: np.ndarray, languages: Sequence[str]) -> dict[str, float]:
    langs = np.asarray(list(languages), dtype=object)
    return {f"test_accuracy_{lang}": round(float(correct[langs == lang].mean()), 4) for lang in sorted(set(langs))}


def _auroc(in_scope: np.ndarray, out_of_scope: np.ndarray) -> float | None:
    """AUROC of "an out-of-scope message scores lower than an in-scope one" (None without both kinds)."""
    if not len(in_scope) or not len(out_of_scope):
        return None
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(in_scope)), np.ones(len(out_of_scope))]
    return round(float(roc_auc_score(y, -np.r_[in_scope, out_of_scope])), 4)


# ------------------------------------------------------------------------------------------------ knowledge base
def _resolve_entries(entries_or_path: str | Path | Iterable[KBEntry] | Iterable[Mapping[str, Any]]
                     ) -> tuple[list[KBEntry], str | None]:
    if isinstance(entries_or_path, (str, Path)):
        path = Path(entries_or_path)
        if not path.is_file():
            raise NotFound(f"no such knowledge base file: {path}")
        try:
            return load_kb_file(path), str(path)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(str(exc)) from exc
    items = list(entries_or_path)
    if items and all(isinstance(e, KBEntry) for e in items):
        return items, None
    if all(isinstance(e, Mapping) for e in items):
        try:
            return entries_from_records(items), None
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
    raise InvalidInput("expected a KB file path, KBEntry objects or dict rows")


def kb_summary(entries: Sequence[KBEntry]) -> dict[str, Any]:
    """``entries``, ``topics`` (an intent, or an entry without one) and ``languages`` (sorted codes)."""
    topics = {e.intent if e.intent else f"\x00{e.entry_id}" for e in entries}
    return {"entries": len(entries), "topics": len(topics), "languages": sorted({e.language for e in entries})}


def import_knowledge_base(registry: ModelRegistry, entries_or_path: str | Path | Iterable[KBEntry]
                          | Iterable[Mapping[str, Any]], embedder: Any, *, name: str = KB_NAME,
                          activate: bool = True, progress: Progress | None = None, source: str | None = None
                          ) -> ModelVersion:
    """Build a knowledge base (embed every question and answer) and publish it as ``name`` (kind ``chat_kb``).

    ``entries_or_path`` is a ``.csv`` / ``.jsonl`` file (see :func:`models.chat.knowledge.load_kb_file`),
    ``KBEntry`` objects or dict rows (:func:`entries_from_records`). A bad file raises :class:`InvalidInput`
    naming the rows or columns to fix, a missing one :class:`NotFound`. Metrics: ``entries``, ``topics``,
    ``languages``.
    """
    _check_name(name)
    progress = progress or _no_progress
    entries, path_source = _resolve_entries(entries_or_path)
    if not entries:
        raise InvalidInput("the knowledge base has no entries")
    started = time.perf_counter()
    total = len(entries) + len({e.answer for e in entries})
    progress("embedding", 0, total)
    kb = KnowledgeBase.build(entries, _ProgressEmbedder(embedder, progress, total))
    summary = kb_summary(entries)
    per_language = Counter(e.language for e in entries)
    extra = {"embedder": kb.embedder_name, "source": source or path_source,
             "entries_per_language": dict(sorted(per_language.items())),
             "categories": sorted({e.category for e in entries if e.category}),
             "build_seconds": round(time.perf_counter() - started, 2)}
    version = registry.save(name, KB_KIND, kb.save, data_hash=_data_hash([list(map(_entry_tuple, entries))]),
                            metrics=summary, extra=extra, activate=activate)
    log.info("knowledge base %s version %s: %s", name, version.version, summary)
    return version


def _entry_tuple(e: KBEntry) -> tuple:
    return (e.entry_id, e.question, e.answer, e.language, e.intent, e.category)


# ------------------------------------------------------------------------------------------------ intents
def train_intents(registry: ModelRegistry, texts: Sequence[str], labels: Sequence[str], embedder: Any, *,
                  oos_texts: Sequence[str] | None = None, name: str = INTENT_NAME, progress: Progress | None = None,
                  test_fraction: float = 0.2, seed: int = 0, activate: bool = True,
                  params: Mapping[str, Any] | None = None, source: str | None = None) -> ModelVersion:
    """Train an :class:`IntentModel` and publish it as ``name`` (kind ``chat_intent``).

    ``oos_texts`` are messages that belong to no intent (e.g. CLINC150's ``oos``); they set the out-of-scope
    threshold and, split like the intents, measure it on the test part. ``params`` go to ``IntentModel(...)``.

    Metrics (``test_*`` only when a test part could be held out, see the module docstring):
    ``test_accuracy`` (best intent right, ignoring the OOS flag), ``test_in_scope_accuracy`` (right and not
    flagged), ``test_in_scope_flag_rate``, ``test_oos_recall`` / ``test_oos_auroc`` (with OOS texts),
    ``test_accuracy_<language>``, ``n_test``; and from the published model: ``intents``, ``examples``,
    ``oos_examples``, ``val_accuracy`` (its own out-of-fold validation), ``oos_score``, ``oos_threshold``,
    ``val_oos_auroc``.
    """
    _check_name(name)
    progress = progress or _no_progress
    texts, labels = _clean_pairs(texts, labels, "intents")
    oos = [t.strip() for t in (oos_texts or []) if isinstance(t, str) and t.strip()]
    counts = Counter(labels)
    if len(counts) < 2:
        raise InvalidInput(f"intents: need at least two intents, got {sorted(counts)}",
                           errors={"labels": ["one class"]})
    thin = sorted(k for k, n in counts.items() if n < 2)
    if thin:
        raise InvalidInput(f"intents: every intent needs at least two examples; these have one: {thin[:10]}",
                           errors={"labels": thin[:10]})
    params = dict(params or {})
    started = time.perf_counter()
    languages = [detect_language(t) for t in texts]
    vectors = _embed(embedder, texts + oos, "query", progress)
    x, ox = vectors[: len(texts)], vectors[len(texts):]
    emb_name = _embedder_name(embedder)

    split = stratified_holdout(labels, languages, fraction=test_fraction, seed=seed)
    refit = split is None or len(texts) < REFIT_LIMIT
    fits = (1 if split is None else 2) if refit else 1
    progress("training", 0, fits)
    metrics: dict[str, Any] = {}
    tested: IntentModel | None = None
    if split is not None:
        tr, te = split
        oos_rows = np.arange(len(oos))
        oos_te = np.random.default_rng(seed).permutation(oos_rows)[: int(round(test_fraction * len(oos)))]
        oos_te = oos_te if len(oos) - len(oos_te) >= 2 else oos_rows[:0]
        oos_tr = np.setdiff1d(oos_rows, oos_te)
        tested = _fit_intent(params, x[tr], [texts[i] for i in tr], [labels[i] for i in tr],
                             ox[oos_tr], [oos[i] for i in oos_tr], emb_name)
        progress("training", 1, fits)
        te_texts = [texts[i] for i in te]
        preds = tested.predict_embedded(x[te], te_texts)
        truth = [labels[i] for i in te]
        correct = np.array([p.name == y for p, y in zip(preds, truth)])
        flagged = np.array([p.out_of_scope for p in preds])
        metrics.update(test_accuracy=round(float(correct.mean()), 4),
                       test_in_scope_accuracy=round(float((correct & ~flagged).mean()), 4),
                       test_in_scope_flag_rate=round(float(flagged.mean()), 4), n_test=int(len(te)))
        if len(oos_te):
            oos_preds = tested.predict_embedded(ox[oos_te], [oos[i] for i in oos_te])
            metrics["test_oos_recall"] = round(float(np.mean([p.out_of_scope for p in oos_preds])), 4)
            metrics["test_oos_auroc"] = _auroc(tested.in_scope_scores_embedded(x[te], te_texts),
                                               tested.in_scope_scores_embedded(ox[oos_te], [oos[i] for i in oos_te]))
            metrics["n_test_oos"] = int(len(oos_te))
        metrics.update(_per_language_accuracy(correct, [languages[i] for i in te]))
    if refit:
        model = _fit_intent(params, x, texts, labels, ox, oos, emb_name)
    else:
        assert tested is not None
        model = tested
    progress("training", fits, fits)

    val = model.validation_
    metrics.update(
        intents=len(model.classes_), examples=len(texts), oos_examples=len(oos),
        val_accuracy=round(float(val["val_accuracy"]), 4), oos_score=model.oos_score_,
        oos_threshold=round(float(model.threshold_), 6),
        val_oos_auroc=(round(float(val["oos_auroc"][model.oos_score_]), 4) if val.get("oos_auroc") else None),
        val_in_scope_flag_rate=round(float(val["in_scope_flag_rate"]), 4),
    )
    extra = {
        "embedder": emb_name, "source": source, "classes": [str(c) for c in model.classes_],
        "examples_per_language": dict(sorted(Counter(languages).items())),
        "evaluation": _evaluation_note(split, test_fraction, seed),
        "refit_on_all": bool(refit and split is not None), "test_fraction": test_fraction, "seed": seed,
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    version = registry.save(name, INTENT_KIND, model.save, data_hash=_data_hash(texts, labels, oos),
                            metrics=metrics, extra=extra, activate=activate)
    log.info("intent model %s version %s: %s", name, version.version,
             {k: metrics.get(k) for k in ("test_accuracy", "intents", "examples")})
    return version


def _fit_intent(params: Mapping[str, Any], x: np.ndarray, texts: list[str], labels: list[str], ox: np.ndarray,
                oos: list[str], embedder_name: str) -> IntentModel:
    try:
        with _blas_threads():
            return IntentModel(**params).fit_embedded(
            x, texts, labels, oos_vectors=ox if len(oos) else None, oos_texts=oos or None,
            embedder_name=embedder_name)
    except ValueError as exc:  # the model's own data checks (e.g. too few examples of an intent)
        raise InvalidInput(f"intents: {exc}") from exc


def _evaluation_note(split: tuple[np.ndarray, np.ndarray] | None, fraction: float, seed: int) -> str:
    if split is None:
        return (f"no held-out test: too little data (each class needs {MIN_PER_LABEL_FOR_TEST} examples and the "
                f"test part {MIN_TEST_SIZE}); val_* metrics are the model's own validation")
    return (f"stratified (label x language) held-out test of {len(split[1])} texts ({fraction:g}, seed {seed}), "
            "never seen in training or model selection")


# ------------------------------------------------------------------------------------------------ sentiment
def _language(value: Any) -> str:
    """A given language code, lower case; "" for a blank, None or NaN (then the text's language is detected)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip().lower()


def _sentiment_label(value: Any) -> str:
    v = str(value).strip().lower()
    return SENTIMENT_SYNONYMS.get(v, v)


def train_sentiment(registry: ModelRegistry, texts: Sequence[str], labels: Sequence[str], embedder: Any, *,
                    languages: Sequence[str] | None = None, name: str = SENTIMENT_NAME,
                    progress: Progress | None = None, test_fraction: float = 0.2, seed: int = 0,
                    activate: bool = True, params: Mapping[str, Any] | None = None, source: str | None = None
                    ) -> ModelVersion:
    """Train a :class:`SentimentModel` and publish it as ``name`` (kind ``chat_sentiment``).

    ``labels``: ``negative`` / ``neutral`` / ``positive`` (also ``neg``/``neu``/``pos`` and -1/0/1, any case).
    ``languages`` (one code per text) default to detection. ``params`` go to ``SentimentModel(...)``.
    Metrics: ``test_accuracy``, ``test_macro_f1``, ``test_accuracy_<language>`` and ``n_test`` when a test part
    could be held out; ``examples`` and ``examples_<label>`` always.
    """
    _check_name(name)
    progress = progress or _no_progress
    texts, raw = _clean_pairs(texts, labels, "sentiment")
    labels = [_sentiment_label(v) for v in raw]
    unknown = sorted(set(labels) - set(SENTIMENT_CLASSES))
    if unknown:
        raise InvalidInput(f"sentiment: unknown labels {unknown[:10]}; use {', '.join(SENTIMENT_CLASSES)}",
                           errors={"labels": unknown[:10]})
    if languages is not None:
        languages = list(languages)
        if len(languages) != len(texts):
            raise InvalidInput(f"sentiment: {len(texts)} texts but {len(languages)} languages")
        languages = [_language(v) or detect_language(t) for v, t in zip(languages, texts)]
    else:
        languages = [detect_language(t) for t in texts]
    params = dict(params or {})
    started = time.perf_counter()
    template = SentimentModel(**params)
    vectors = _embed(embedder, texts, template.embed_kind, progress)
    emb_name = _embedder_name(embedder)

    split = stratified_holdout(labels, languages, fraction=test_fraction, seed=seed)
    refit = split is None or len(texts) < REFIT_LIMIT
    fits = (1 if split is None else 2) if refit else 1
    progress("training", 0, fits)
    metrics: dict[str, Any] = {}
    tested: SentimentModel | None = None
    if split is not None:
        from sklearn.metrics import f1_score

        tr, te = split
        tested = _fit_sentiment(params, vectors[tr], [texts[i] for i in tr], [labels[i] for i in tr],
                                [languages[i] for i in tr], emb_name)
        progress("training", 1, fits)
        proba = tested.predict_proba_embedded(vectors[te], [texts[i] for i in te])
        predicted = [SENTIMENT_CLASSES[int(j)] for j in proba.argmax(axis=1)]
        truth = [labels[i] for i in te]
        correct = np.array([p == y for p, y in zip(predicted, truth)])
        metrics.update(test_accuracy=round(float(correct.mean()), 4),
                       test_macro_f1=round(float(f1_score(truth, predicted, labels=sorted(set(truth)),
                                                          average="macro")), 4),
                       n_test=int(len(te)))
        metrics.update(_per_language_accuracy(correct, [languages[i] for i in te]))
    if refit:
        model = _fit_sentiment(params, vectors, texts, labels, languages, emb_name)
    else:
        assert tested is not None
        model = tested
    progress("training", fits, fits)
    counts = Counter(labels)
    metrics.update(examples=len(texts), **{f"examples_{c}": int(counts.get(c, 0)) for c in SENTIMENT_CLASSES})
    extra = {
        "embedder": emb_name, "source": source, "classes": list(SENTIMENT_CLASSES),
        "examples_per_language": dict(sorted(Counter(languages).items())),
        "evaluation": _evaluation_note(split, test_fraction, seed),
        "refit_on_all": bool(refit and split is not None), "test_fraction": test_fraction, "seed": seed,
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    version = registry.save(name, SENTIMENT_KIND, model.save, data_hash=_data_hash(texts, labels, languages),
                            metrics=metrics, extra=extra, activate=activate)
    log.info("sentiment model %s version %s: %s", name, version.version,
             {k: metrics.get(k) for k in ("test_accuracy", "examples")})
    return version


def _fit_sentiment(params: Mapping[str, Any], x: np.ndarray, texts: list[str], labels: list[str],
                   languages: list[str], embedder_name: str) -> SentimentModel:
    model = SentimentModel(**params)
    try:
        with _blas_threads():
            model.fit_embedded(x, texts, labels, languages)
    except ValueError as exc:  # e.g. no neutral examples, or only one polarity
        raise InvalidInput(f"sentiment: {exc}") from exc
    model.embedder_name = embedder_name or None
    return model


# ------------------------------------------------------------------------------------------------ files
def read_labelled_frame(path: str | Path, text_column: str, label_column: str, *,
                        other_columns: Sequence[str] = (), min_classes: int = 2):
    """A CSV / JSONL / Parquet file (``features.ingest.files.read_table``) as a DataFrame with the columns
    ``text``, ``label`` and ``other_columns`` (as named), rows without a text or a label dropped.

    Errors name what to fix: :class:`NotFound` for a missing file; :class:`InvalidInput` for an unreadable or
    empty file, a missing column (``errors`` keyed ``text_column`` / ``label_column`` / the other column's
    name, so a CLI can point at its option), no usable rows, or fewer than ``min_classes`` labels.
    """
    import pandas as pd

    from features.ingest.files import read_table

    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path.name} is empty")
    try:
        frame = read_table(path)
    except (ValueError, OSError, ImportError) as exc:  # parser errors, bad JSON, unreadable parquet
        raise InvalidInput(f"{path.name}: cannot read it as a CSV, JSONL or Parquet table ({exc})") from exc
    columns = [str(c) for c in frame.columns]
    wanted = {"text_column": text_column, "label_column": label_column, **{c: c for c in other_columns}}
    for key, column in wanted.items():
        if column not in frame.columns:
            raise InvalidInput(f"{path.name} has no column {column!r}; it has {', '.join(columns) or 'none'}",
                               errors={key: [f"no column {column!r}"]})
    if frame.empty:
        raise InvalidInput(f"{path.name} has no rows")
    text = frame[text_column]
    label = frame[label_column]
    keep = text.notna() & text.astype(str).str.strip().ne("") & label.notna() & label.astype(str).str.strip().ne("")
    if not keep.any():
        raise InvalidInput(f"{path.name}: no row has both a {text_column!r} and a {label_column!r}")
    label = label[keep]
    if pd.api.types.is_float_dtype(label) and (label == label.round()).all():
        label = label.astype("int64")  # 0.0/1.0 from a column pandas read as float: keep labels as "0"/"1"
    out = pd.DataFrame({"text": text[keep].astype(str).str.strip(), "label": label.astype(str).str.strip()})
    for c in other_columns:
        out[c] = frame.loc[keep, c]
    out = out.reset_index(drop=True)
    classes = sorted(out["label"].unique())
    if len(classes) < min_classes:
        raise InvalidInput(f"{path.name}: column {label_column!r} has {len(classes)} distinct label(s) "
                           f"{classes[:5]}; need at least {min_classes}", errors={"label_column": ["one class"]})
    return out


def read_labelled_texts(path: str | Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """``(texts, labels)`` from a CSV / JSONL / Parquet file; see :func:`read_labelled_frame` for the errors."""
    frame = read_labelled_frame(path, text_column, label_column)
    return frame["text"].tolist(), frame["label"].tolist()


# ------------------------------------------------------------------------------------------------ demo
def setup_demo_chat_models(registry: ModelRegistry, embedder: Any, echo: Callable[[str], Any] = print, *,
                           only_missing: bool = False, progress: Progress | None = None
                           ) -> dict[str, ModelVersion]:
    """Publish the demo shop's three chat models: its knowledge base, an intent model trained on the KB's
    example questions (English + Chinese, validated against ``features.demo.chat_training.OUT_OF_SCOPE``),
    and a sentiment model trained on the hand-written bank there. About half a minute on a 2-core CPU.

    ``only_missing`` leaves a model that already has an active version alone (a re-run of the demo is quick).
    Returns the versions by name (the existing one where skipped).
    """
    from features.demo.chat_training import OUT_OF_SCOPE, intent_examples, sentiment_examples
    from features.demo.knowledge_base import demo_knowledge_base

    out: dict[str, ModelVersion] = {}

    def existing(name: str) -> ModelVersion | None:
        if not only_missing:
            return None
        try:
            return registry.current(name)
        except Exception:  # noqa: BLE001 - unknown or broken: train a fresh one
            return None

    started = time.perf_counter()
    if (v := existing(KB_NAME)) is None:
        v = import_knowledge_base(registry, demo_knowledge_base(), embedder, source="demo knowledge base",
                                  progress=progress)
        m = v.metrics
        echo(f"chat knowledge base {v.version}: {m['entries']} entries, {m['topics']} topics, "
             f"languages {', '.join(m['languages'])}")
    out[KB_NAME] = v

    if (v := existing(INTENT_NAME)) is None:
        texts, labels = intent_examples()
        v = train_intents(registry, texts, labels, embedder, oos_texts=list(OUT_OF_SCOPE), progress=progress,
                          source="demo knowledge base questions")
        echo(f"chat intent model {v.version}: {describe_intent_metrics(v.metrics)}")
    out[INTENT_NAME] = v

    if (v := existing(SENTIMENT_NAME)) is None:
        texts, labels, languages = sentiment_examples()
        v = train_sentiment(registry, texts, labels, embedder, languages=languages, progress=progress,
                            source="demo sentiment bank")
        echo(f"chat sentiment model {v.version}: {describe_sentiment_metrics(v.metrics)}")
    out[SENTIMENT_NAME] = v
    log.info("demo chat models ready in %.1f s", time.perf_counter() - started)
    return out


def describe_intent_metrics(m: Mapping[str, Any]) -> str:
    """One line for a person: the held-out figures first, then the model's size and OOS setting."""
    parts = [f"{m.get('intents')} intents from {m.get('examples')} examples"]
    if m.get("test_accuracy") is not None:
        parts.append(f"held-out accuracy {m['test_accuracy']:.3f} on {m.get('n_test')} texts")
        if m.get("test_oos_recall") is not None:
            parts.append(f"out-of-scope recall {m['test_oos_recall']:.2f} on {m.get('n_test_oos')} "
                         f"(in-scope flagged {m.get('test_in_scope_flag_rate', 0):.2f})")
    else:
        parts.append(f"validation accuracy {m.get('val_accuracy')} (too little data for a held-out test)")
    parts.append(f"out-of-scope if {m.get('oos_score')} < {m.get('oos_threshold'):.3f}")
    return ", ".join(parts)


def describe_sentiment_metrics(m: Mapping[str, Any]) -> str:
    """One line for a person: held-out accuracy and macro-F1 (per language), and the training size."""
    parts = [f"{m.get('examples')} examples"]
    if m.get("test_accuracy") is not None:
        langs = ", ".join(f"{k.rsplit('_', 1)[1]} {v:.3f}" for k, v in m.items() if k.startswith("test_accuracy_"))
        parts.append(f"held-out accuracy {m['test_accuracy']:.3f} ({langs}), macro-F1 {m['test_macro_f1']:.3f} "
                     f"on {m.get('n_test')} texts")
    else:
        parts.append("too little data for a held-out test")
    return ", ".join(parts)
