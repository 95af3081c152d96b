"""A small knowledge base for support chat: hybrid (dense + keyword) retrieval and answer templates.

Why hybrid: sentence embeddings (e5) match paraphrases and cross the English/Chinese barrier, but
they blur exact tokens -- an order code, a SKU such as ``KF-2231X``, a product name -- that a
customer types verbatim and that the right entry contains verbatim. BM25 over word tokens
(English) and character bigrams (Chinese, which has no spaces) catches those. Both are tiny and
in-process: no external search engine to run for a KB of a few hundred entries.

Fusion rule (documented, deliberately simple)::

    score = embedding_score + KEYWORD_WEIGHT * keyword_score

* ``embedding_score`` -- cosine similarity of the query (``embed_queries``) with the entry's
  question, or with its answer, whichever is higher (both embedded with ``embed_passages``).
* ``keyword_score`` -- BM25 over two fields, the question and the answer, each divided by the
  largest BM25 score any document could reach for this query (``sum(idf * (k1 + 1))`` over the
  query terms; terms the index never saw count with the largest idf), so each is in ``[0, 1)``:
  "the share of the query's term weight found in the field". Normalising by the query, not by the
  best hit, keeps a weak keyword match weak, and counting unknown terms keeps "can you post to
  Canada?" from scoring high on the one word ("post") it shares with an unrelated answer. The
  entry's keyword score is ``max(question, ANSWER_FIELD_WEIGHT * answer)``: answers are long and
  full of incidental words (a single pooled field let them mislead: demo English hit@1 fell from
  0.83 to 0.61), yet a code such as a SKU often appears only in the answer, so the answer field
  counts at half weight rather than not at all.
* ``KEYWORD_WEIGHT`` was tuned on a validation split of the bitext training utterances
  (``bench/eval_kb.py``: 0.1 is the best validation hit@1 for the example-question KB; held-out
  hit@1 0.946 dense -> 0.956 hybrid); e5 cosines of relevant and irrelevant entries differ by only a few
  hundredths, so a small weight is already decisive when the keyword evidence is one-sided.

Grouping: several example questions per intent are normal. Entries that share an ``intent`` form
one *topic*; a topic scores as its best entry (max over its questions = nearest neighbour), and
``search`` returns at most one hit per topic. The entries of a topic may be in several languages:
the returned entry is the best one in the query's language when the topic has one, so a Chinese
question gets the Chinese answer even when the English wording matched better.

Placeholders: answers may contain ``{{Order Number}}``-style slots; :func:`fill` substitutes the
values the caller knows (names compared case- and space-insensitively) and reports the rest.

Persistence is JSON (entries, settings) + npz (vectors) -- never pickle, so a KB folder from
elsewhere cannot execute code when loaded.
"""
from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.text.language import detect_language

__all__ = [
    "KEYWORD_WEIGHT",
    "KBEntry",
    "KBHit",
    "KnowledgeBase",
    "entries_from_records",
    "fill",
    "load_kb_file",
    "placeholders",
    "tokenize",
]

#: Weight of the normalised keyword score in the fused score (tuned in ``bench/eval_kb.py``).
KEYWORD_WEIGHT = 0.1
#: Keyword score = max(question-field BM25, ANSWER_FIELD_WEIGHT * answer-field BM25), both normalised.
ANSWER_FIELD_WEIGHT = 0.5
#: Query terms the index has never seen count in the normaliser (with the largest idf).
UNKNOWN_TERMS_COUNT = True
#: BM25 parameters (the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75

_FORMAT_VERSION = 1


@dataclass(frozen=True)
class KBEntry:
    """One question/answer pair. Entries with the same ``intent`` are alternative phrasings of one topic."""

    entry_id: str
    question: str
    answer: str
    language: str
    intent: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class KBHit:
    """A search result: the entry to answer with, the fused score and its two ingredients."""

    entry: KBEntry
    score: float
    embedding_score: float
    keyword_score: float


# --------------------------------------------------------------------------- tokenising / BM25

_HAN_RUN = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")
_WORD = re.compile(r"[0-9a-z]+(?:[-_./][0-9a-z]+)*")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being am do does did
    i me my mine we our you your he she it its they them their this that these those there here
    what which who whom how when where why can could would should will shall may might must
    have has had not no so too very just please hi hello want need like would help get
    about into than then some any all also out up""".split()
)


def _stem(word: str) -> str:
    """Tiny plural/verb-suffix stripper so that "refunds"/"refunded" meet "refund" in BM25.

    A real stemmer is not worth a dependency here: support questions are short and the dense score
    already handles morphology; this only keeps the keyword score from missing obvious variants.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    """Keyword tokens: lower-cased English words (stop words dropped, lightly stemmed), compound codes
    kept whole *and* split (``kf-2231x`` -> ``kf-2231x``, ``kf``, ``2231x``), and character bigrams of
    Chinese runs (a single Han character stands alone). Placeholders are dropped: ``{{Order Number}}``
    is template syntax, not content a customer would type.
    """
    text = _PLACEHOLDER.sub(" ", text or "").lower()
    tokens: list[str] = []
    for run in _HAN_RUN.findall(text):
        if len(run) == 1:
            tokens.append(run)
        else:
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    for word in _WORD.findall(_HAN_RUN.sub(" ", text)):
        parts = re.split(r"[-_./]", word)
        if len(parts) > 1:
            tokens.append(word)
        for part in parts:
            if part and part not in _STOPWORDS:
                tokens.append(_stem(part))
    return tokens


class _BM25:
    """Okapi BM25 over a fixed list of token lists, scores normalised by the query's upper bound."""

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.n_docs = len(docs)
        self.tf = [Counter(d) for d in docs]
        self.lengths = np.array([len(d) for d in docs], dtype=np.float64)
        self.avgdl = float(self.lengths.mean()) if self.n_docs and self.lengths.sum() else 1.0
        df: Counter[str] = Counter()
        for counts in self.tf:
            df.update(counts.keys())
        self.idf = {t: math.log(1.0 + (self.n_docs - n + 0.5) / (n + 0.5)) for t, n in df.items()}
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, counts in enumerate(self.tf):
            for t, c in counts.items():
                self.postings.setdefault(t, []).append((i, c))

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Normalised BM25 of every document: raw score / (sum of idf * (k1+1) over known query terms).

        ``tf * (k1+1) / (tf + k1 * norm)`` is below ``k1+1`` for any tf and length, so the result is
        in ``[0, 1)``; query terms unknown to the index cannot match anything and are ignored.
        """
        out = np.zeros(self.n_docs, dtype=np.float64)
        if not self.n_docs:
            return out
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * self.lengths / self.avgdl)
        bound = 0.0
        unknown_idf = math.log(1.0 + (self.n_docs + 0.5) / 0.5)
        for term, qtf in Counter(query_tokens).items():
            idf = self.idf.get(term)
            if idf is None:
                if UNKNOWN_TERMS_COUNT:
                    bound += qtf * unknown_idf * (BM25_K1 + 1.0)
                continue
            bound += qtf * idf * (BM25_K1 + 1.0)
            for doc, tf in self.postings[term]:
                out[doc] += qtf * idf * tf * (BM25_K1 + 1.0) / (tf + norm[doc])
        return out / bound if bound > 0 else out


# --------------------------------------------------------------------------- loading entries


def _clean(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _humanize_intent(intent: str) -> str:
    return intent.replace("_", " ").replace("-", " ").strip()


def entries_from_records(records: Iterable[Mapping[str, Any]], source: str = "records") -> list[KBEntry]:
    """Turn dict rows into entries, validating as :func:`load_kb_file` does.

    A row has ``answer`` and either ``question`` (a string), ``questions`` (a list: one entry per
    example question) or only ``intent`` (then the intent name, de-underscored, is the question).
    ``language`` is optional (detected from question + answer), as are ``category`` and ``entry_id``.
    Problems are collected over all rows and raised together, each with its 1-based row number, so a
    bad file is fixed in one round.
    """
    entries: list[KBEntry] = []
    problems: list[str] = []
    for row_no, row in enumerate(records, start=1):
        if not isinstance(row, Mapping):
            problems.append(f"row {row_no}: expected an object, got {type(row).__name__}")
            continue
        answer = _clean(row.get("answer"))
        intent = _clean(row.get("intent")) or None
        category = _clean(row.get("category")) or None
        raw_questions = row.get("questions")
        if isinstance(raw_questions, (list, tuple)):
            questions = [_clean(q) for q in raw_questions if _clean(q)]
        else:
            questions = [_clean(row.get("question"))] if _clean(row.get("question")) else []
        if not questions and intent:
            questions = [_humanize_intent(intent)]
        if not answer:
            problems.append(f"row {row_no}: empty answer")
        if not questions:
            problems.append(f"row {row_no}: no question (and no intent to stand in for one)")
        if not answer or not questions:
            continue
        language = _clean(row.get("language")).lower() or detect_language(" ".join(questions) + " " + answer)
        base_id = _clean(row.get("entry_id")) or f"{intent or 'row'}-{language}-{row_no}"
        for i, question in enumerate(questions):
            entry_id = base_id if len(questions) == 1 else f"{base_id}.{i + 1}"
            entries.append(KBEntry(entry_id, question, answer, language, intent, category))
    if problems:
        shown = "; ".join(problems[:20]) + (f"; ... ({len(problems) - 20} more)" if len(problems) > 20 else "")
        raise ValueError(f"{source}: {shown}")
    ids = Counter(e.entry_id for e in entries)
    dupes = sorted(k for k, n in ids.items() if n > 1)
    if dupes:
        raise ValueError(f"{source}: duplicate entry_id values: {', '.join(dupes[:10])}")
    return entries


def load_kb_file(path: str | Path) -> list[KBEntry]:
    """Read a KB from ``.csv`` or ``.jsonl``/``.ndjson``.

    Columns: ``question`` (or ``intent``), ``answer``; optional ``language`` (else detected),
    ``category``, ``intent``, ``entry_id``. Raises ``ValueError`` naming missing columns, or listing
    the rows (1-based data rows, header not counted) with empty answers / questions / bad JSON.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        with p.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = {c.strip().lower() for c in (reader.fieldnames or []) if c}
            missing = [c for c in ("answer",) if c not in columns]
            if "question" not in columns and "intent" not in columns:
                missing.insert(0, "question (or intent)")
            if missing:
                raise ValueError(f"{p.name}: missing column(s): {', '.join(missing)}; found: {sorted(columns)}")
            rows = [{(k or "").strip().lower(): v for k, v in r.items()} for r in reader]
    elif suffix in (".jsonl", ".ndjson"):
        rows = []
        bad: list[str] = []
        with p.open(encoding="utf-8-sig") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    bad.append(f"line {line_no}: invalid JSON ({exc.msg})")
                    continue
                rows.append({str(k).strip().lower(): v for k, v in obj.items()} if isinstance(obj, dict) else obj)
        if bad:
            raise ValueError(f"{p.name}: " + "; ".join(bad[:20]))
        columns = set().union(*(r.keys() for r in rows if isinstance(r, dict))) if rows else set()
        missing = [] if "answer" in columns else ["answer"]
        if not columns & {"question", "questions", "intent"}:
            missing.insert(0, "question (or intent)")
        if missing:
            raise ValueError(f"{p.name}: missing field(s): {', '.join(missing)}; found: {sorted(columns)}")
    else:
        raise ValueError(f"{p.name}: unsupported KB file type {suffix!r}; use .csv or .jsonl")
    if not rows:
        raise ValueError(f"{p.name}: no rows")
    return entries_from_records(rows, source=p.name)


# --------------------------------------------------------------------------- the knowledge base


class KnowledgeBase:
    """Entries + their vectors + a BM25 index; see the module docstring for the ranking rule."""

    def __init__(
        self,
        entries: Sequence[KBEntry],
        question_vectors: np.ndarray,
        answer_vectors: np.ndarray,
        answer_index: np.ndarray,
        embedder_name: str,
        keyword_weight: float = KEYWORD_WEIGHT,
    ) -> None:
        """Low-level constructor; use :meth:`build` or :meth:`load`."""
        self.entries: list[KBEntry] = list(entries)
        n = len(self.entries)
        if question_vectors.shape[0] != n or answer_index.shape != (n,):
            raise ValueError("vectors do not match the entries")
        self.question_vectors = np.ascontiguousarray(question_vectors, dtype=np.float32)
        self.answer_vectors = np.ascontiguousarray(answer_vectors, dtype=np.float32)
        self.answer_index = np.asarray(answer_index, dtype=np.int64)
        self.embedder_name = embedder_name
        self.keyword_weight = float(keyword_weight)
        self._bm25_questions = _BM25([tokenize(e.question) for e in self.entries])
        self._bm25_answers = _BM25([tokenize(e.answer) for e in self.entries])
        # topic = intent when given (so en/zh phrasings of one intent group together), else the entry.
        keys = [e.intent if e.intent else f"\x00{e.entry_id}" for e in self.entries]
        topic_names = list(dict.fromkeys(keys))
        lookup = {k: i for i, k in enumerate(topic_names)}
        self._topic_of = np.array([lookup[k] for k in keys], dtype=np.int64)
        self._n_topics = len(topic_names)
        self._languages = np.array([e.language for e in self.entries], dtype=object)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def languages(self) -> set[str]:
        return {e.language for e in self.entries}

    @classmethod
    def build(cls, entries: Sequence[KBEntry], embedder: Any, keyword_weight: float = KEYWORD_WEIGHT) -> KnowledgeBase:
        """Embed every question and every distinct answer as passages.

        Questions and answers are embedded separately (not concatenated): a long answer would drown
        a short question in one vector, and a query may paraphrase either. Answers shared by several
        example questions of an intent are embedded once.
        """
        entries = list(entries)
        if not entries:
            raise ValueError("a knowledge base needs at least one entry")
        ids = Counter(e.entry_id for e in entries)
        dupes = sorted(k for k, c in ids.items() if c > 1)
        if dupes:
            raise ValueError(f"duplicate entry_id values: {', '.join(dupes[:10])}")
        answers = list(dict.fromkeys(e.answer for e in entries))
        where = {a: i for i, a in enumerate(answers)}
        q_vecs = embedder.embed_passages([e.question for e in entries])
        a_vecs = embedder.embed_passages([_PLACEHOLDER.sub(lambda m: m.group(1), a) for a in answers])
        return cls(entries, q_vecs, a_vecs, np.array([where[e.answer] for e in entries]), embedder.name, keyword_weight)

    def for_intent(self, intent: str, language: str) -> KBEntry | None:
        """The entry answering ``intent`` in ``language`` (else in any language), or None if the KB has no such
        topic: the chat service answers with it when the intent model is surer than retrieval."""
        fallback = None
        for e in self.entries:
            if e.intent == intent:
                if e.language == language:
                    return e
                fallback = fallback or e
        return fallback

    # ----------------------------------------------------------------------- search

    def entry_scores(self, query: str, embedder: Any, query_vector: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(embedding_score, keyword_score) of every entry for ``query``; exposed for benchmarks.

        ``query_vector`` is the query's ``embed_queries`` vector when the caller already has it (the chat
        service embeds each message once for intent, sentiment and retrieval)."""
        if getattr(embedder, "name", self.embedder_name) != self.embedder_name:
            raise ValueError(f"this KB was built with embedder {self.embedder_name!r}, not {embedder.name!r}")
        qv = embedder.embed_queries([query])[0] if query_vector is None else np.asarray(query_vector, dtype=np.float32)
        dense = np.maximum(self.question_vectors @ qv, (self.answer_vectors @ qv)[self.answer_index])
        tokens = tokenize(query)
        keyword = np.maximum(self._bm25_questions.scores(tokens), ANSWER_FIELD_WEIGHT * self._bm25_answers.scores(tokens))
        return dense.astype(np.float64), keyword

    def search(
        self,
        query: str,
        embedder: Any,
        k: int = 3,
        language: str | None = None,
        keyword_weight: float | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[KBHit]:
        """Best ``k`` topics for ``query``, one hit each, best first.

        ``language`` is the language to answer in (default: detected from the query); within a topic
        the best entry in that language wins, falling back to any language when the topic has none.
        ``keyword_weight`` overrides the KB's fusion weight (0 = dense only; a large value is
        effectively keyword first, dense as tie-break).
        """
        if k <= 0 or not query or not query.strip():
            return []
        dense, keyword = self.entry_scores(query, embedder, query_vector)
        return self.rank(dense, keyword, k, language or detect_language(query), keyword_weight)

    def rank(
        self,
        dense: np.ndarray,
        keyword: np.ndarray,
        k: int = 3,
        language: str = "en",
        keyword_weight: float | None = None,
    ) -> list[KBHit]:
        """Fuse per-entry scores (from :meth:`entry_scores`), score topics by their best entry, then
        pick each topic's answer entry by language. Public so a benchmark can try several fusion
        weights on one set of scores without embedding the query again."""
        weight = self.keyword_weight if keyword_weight is None else float(keyword_weight)
        fused = np.asarray(dense, dtype=np.float64) + weight * np.asarray(keyword, dtype=np.float64)
        language = language.lower()
        topic_score = np.full(self._n_topics, -np.inf)
        np.maximum.at(topic_score, self._topic_of, fused)
        order = np.argsort(-topic_score, kind="stable")[:k]
        same_lang = self._languages == language
        hits: list[KBHit] = []
        for topic in order:
            members = np.flatnonzero(self._topic_of == topic)
            preferred = members[same_lang[members]]
            pool = preferred if preferred.size else members
            best = int(pool[np.argmax(fused[pool])])
            # the topic's score stays the best match of any phrasing, so ranks don't depend on language
            hits.append(KBHit(self.entries[best], float(topic_score[topic]), float(dense[best]), float(keyword[best])))
        return hits

    # ----------------------------------------------------------------------- persistence

    def save(self, folder: str | Path) -> Path:
        """Write ``kb.json`` (entries and settings) and ``vectors.npz`` into ``folder``; no pickle."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": _FORMAT_VERSION,
            "embedder": self.embedder_name,
            "dim": int(self.question_vectors.shape[1]),
            "keyword_weight": self.keyword_weight,
            "entries": [asdict(e) for e in self.entries],
        }
        np.savez(out / "vectors.npz", questions=self.question_vectors, answers=self.answer_vectors,
                 answer_index=self.answer_index)
        (out / "kb.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        return out

    @classmethod
    def load(cls, folder: str | Path) -> KnowledgeBase:
        """Read a folder written by :meth:`save` (``allow_pickle=False``: vectors are plain arrays)."""
        src = Path(folder)
        meta = json.loads((src / "kb.json").read_text(encoding="utf-8"))
        if meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"{src}: unsupported KB format version {meta.get('format_version')!r}")
        entries = [KBEntry(**e) for e in meta["entries"]]
        with np.load(src / "vectors.npz", allow_pickle=False) as z:
            q, a, idx = z["questions"], z["answers"], z["answer_index"]
        if q.shape[1:] != (meta["dim"],):
            raise ValueError(f"{src}: vectors have shape {q.shape}, expected dim {meta['dim']}")
        return cls(entries, q, a, idx, meta["embedder"], meta.get("keyword_weight", KEYWORD_WEIGHT))


# --------------------------------------------------------------------------- placeholders


def _slot_key(name: str) -> str:
    """``"Order Number"``, ``"order_number"``, ``" ORDER  number "`` -> ``"ordernumber"``."""
    return re.sub(r"[\s_\-]+", "", name).lower()


def placeholders(answer: str) -> list[str]:
    """Names of the ``{{...}}`` slots in ``answer``, in order of first appearance, without repeats."""
    seen: dict[str, str] = {}
    for m in _PLACEHOLDER.finditer(answer or ""):
        seen.setdefault(_slot_key(m.group(1)), m.group(1))
    return list(seen.values())


def fill(answer: str, values: Mapping[str, str]) -> tuple[str, list[str]]:
    """Substitute known slot values; return (text, names of slots still unfilled).

    Unfilled slots are left as they are so the caller can decide (ask the customer, hand over to an
    agent, or drop the sentence) -- silently printing ``{{Order Number}}`` to a customer is the bug
    this return value exists to prevent. Empty values count as missing.
    """
    known = {_slot_key(k): str(v) for k, v in values.items() if v is not None and str(v).strip()}
    missing: dict[str, str] = {}

    def repl(m: re.Match[str]) -> str:
        key = _slot_key(m.group(1))
        if key in known:
            return known[key]
        missing.setdefault(key, m.group(1))
        return m.group(0)

    return _PLACEHOLDER.sub(repl, answer or ""), list(missing.values())
