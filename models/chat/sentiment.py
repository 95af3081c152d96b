"""Sentiment (negative / neutral / positive) and an anger flag for chat messages, English and Chinese.

Why this shape
--------------
One model serves both languages: linear heads on multilingual-e5 sentence embeddings, optionally fused
(in logit space, weight ``tfidf_weight``) with linear heads on hashed character n-gram TF-IDF. E5 carries
meaning across languages; char n-grams add cheap lexical evidence ("worst", "太差") that a small embedding
model blurs. Everything is linear, so a prediction costs one embedding plus a few dot products.

The training data do not agree on classes: the English airline tweets have three (negative / neutral /
positive), the Chinese waimai reviews only two. A shared 3-class head would learn "Chinese text is never
neutral" from the language direction of the embeddings. So the 3 classes are factored into two binary heads:

* a **polarity head** P(positive | polar) trained on every polar example of every language (English
  negative + positive, all Chinese), languages weighted equally so neither dataset dominates;
* a **neutral head** P(neutral) trained only on languages whose data contain neutral labels at all (here:
  English). E5 is multilingual, so "is this an opinion at all?" transfers to Chinese.

and recombined: P(neutral) = n, P(negative) = (1 - n)(1 - p), P(positive) = (1 - n) p. The label is the
arg-max; ``score`` = P(positive) - P(negative), in [-1, 1].

Languages are "zh" (any CJK ideograph makes up at least ``_CJK_SHARE`` of the letters) or "en" (anything else);
``fit`` accepts explicit languages when the caller knows them.

Anger rule (drives human hand-off, so it is deliberately conservative and easy to explain)
-------------------------------------------------------------------------------------------
``angry`` is True when P(negative) >= ``anger_p_neg`` (default 0.6) **and** the text carries an anger cue:

* a lexicon hit (English whole words/phrases such as "furious", "ridiculous", "worst", "unacceptable",
  "never again"; Chinese substrings such as "气死", "太差", "投诉", "垃圾", "骗子"), or
* shouting -- two or more exclamation marks ("!" or "！"), or an ALL-CAPS word of 4+ letters -- together
  with a very confident negative, P(negative) >= ``anger_p_neg_shout`` (default 0.85).

A plain complaint ("my parcel is late") is negative but not angry; a calm sentence with "worst" in it
("the worst part is over, thanks!") is not angry because P(negative) stays low.

Measured (``bench/eval_sentiment.py``, seed 0, stratified 70/10/20, test part): airline 3-class accuracy
0.832 / macro-F1 0.771, waimai polarity accuracy 0.916; TF-IDF fusion (weight 0.5) was chosen on validation,
where it added ~1 point over E5 alone. Known limitation: with no Chinese neutral labels, the 3-class arg-max
calls ~26 % of (opinionated) waimai reviews "neutral"; giving Chinese reviews even a small weight as
"not neutral" removes that but makes plain Chinese questions ("请问我的订单什么时候发货？") polar, so it is not
done. ``score`` (the polarity) is unaffected; P(negative), and so ``angry``, is damped on such messages.

Persistence is ``sentiment.npz`` (arrays) + ``sentiment.json`` (settings): no pickle, so a model folder is
safe to load from anywhere and readable by any language.
"""
from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CLASSES",
    "SentimentModel",
    "SentimentPrediction",
    "anger_cues",
    "detect_language",
]

CLASSES = ("negative", "neutral", "positive")
FORMAT_VERSION = 1
META_FILE = "sentiment.json"
ARRAYS_FILE = "sentiment.npz"

_CJK_SHARE = 0.2
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)

#: English anger cues, matched as whole words/phrases, case-insensitive.
ANGER_EN = (
    "furious", "angry", "outraged", "outrageous", "livid", "pissed", "ridiculous", "unacceptable", "worst",
    "pathetic", "disgusting", "disgrace", "disgraceful", "shameful", "useless", "incompetent", "horrible",
    "terrible", "awful", "appalling", "scam", "scammed", "rip off", "ripoff", "rip-off", "fraud", "hate",
    "sick of", "fed up", "never again", "wtf", "damn", "screw you", "joke", "lawyer", "sue", "complaint",
    "hell", "insane", "unbelievable", "rude",
)
#: Chinese anger cues, matched as substrings.
ANGER_ZH = (
    "气死", "生气", "愤怒", "火大", "太差", "最差", "差劲", "投诉", "垃圾", "恶心", "骗子", "欺骗", "坑人",
    "什么玩意", "过分", "退钱", "受够", "忍无可忍", "再也不", "无语", "举报", "12315", "妈的", "他妈",
    "滚", "烂透", "差评", "太慢了", "没人管", "不像话",
)
_EN_RE = re.compile(r"(?<![a-z])(?:" + "|".join(re.escape(w) for w in sorted(ANGER_EN, key=len, reverse=True))
                    + r")(?![a-z])", re.IGNORECASE)
_CAPS_RE = re.compile(r"\b[A-Z]{4,}\b")


@dataclass(frozen=True)
class SentimentPrediction:
    """One message's sentiment: arg-max ``label``, ``score`` = P(pos) - P(neg), the anger flag, all P."""

    label: str
    score: float
    angry: bool
    probabilities: dict[str, float] = field(default_factory=dict)


def detect_language(text: str) -> str:
    """'zh' when CJK ideographs make up at least a fifth of the letters, else 'en'.

    Only the two training languages matter to the model (they decide which head sees an example and which
    per-language statistics apply); anything else is treated like English, whose heads have seen the most
    varied data.
    """
    letters = _LETTER_RE.findall(text)
    if not letters:
        return "en"
    cjk = sum(1 for ch in letters if _CJK_RE.match(ch))
    return "zh" if cjk / len(letters) >= _CJK_SHARE else "en"


def anger_cues(text: str) -> dict[str, Any]:
    """The anger evidence in one text: lexicon hits and shouting. Exposed so a hand-off can say why."""
    norm = unicodedata.normalize("NFKC", text)
    hits = [m.group(0).lower() for m in _EN_RE.finditer(norm)]
    hits += [w for w in ANGER_ZH if w in norm]
    exclaims = norm.count("!")  # NFKC folds the full-width "！" to "!"
    shout = exclaims >= 2 or bool(_CAPS_RE.search(text))
    return {"lexicon": hits, "exclamations": exclaims, "shouting": shout}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


class _CharTfidf:
    """Hashed char n-gram TF-IDF: no vocabulary to store, so it saves as one idf array (no pickle).

    sublinear tf, smooth idf, L2-normalised rows -- the usual sklearn TF-IDF recipe, rebuilt on
    ``HashingVectorizer`` so that the fitted state is just ``idf`` (float32, ``n_features``).
    """

    def __init__(self, n_features: int = 2**19, ngram_range: tuple[int, int] = (1, 4)) -> None:
        self.n_features = int(n_features)
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.idf: np.ndarray | None = None

    def _counts(self, texts: Sequence[str]) -> Any:
        from sklearn.feature_extraction.text import HashingVectorizer

        hv = HashingVectorizer(analyzer="char_wb", ngram_range=self.ngram_range, n_features=self.n_features,
                               alternate_sign=False, norm=None, lowercase=True, dtype=np.float32)
        return hv.transform([unicodedata.normalize("NFKC", t) for t in texts]).tocsr()

    def fit_transform(self, texts: Sequence[str]) -> Any:
        counts = self._counts(texts)
        df = np.bincount(counts.indices, minlength=self.n_features).astype(np.float64)
        n = counts.shape[0]
        self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        return self._weigh(counts)

    def transform(self, texts: Sequence[str]) -> Any:
        if self.idf is None:
            raise RuntimeError("TF-IDF is not fitted")
        return self._weigh(self._counts(texts))

    def _weigh(self, counts: Any) -> Any:
        from sklearn.preprocessing import normalize

        x = counts.astype(np.float32)
        x.data = (1.0 + np.log(x.data)) * self.idf[x.indices]
        return normalize(x, norm="l2", copy=False)


class SentimentModel:
    """3-class sentiment + anger on E5 embeddings (+ optional char TF-IDF), for English and Chinese.

    ``C`` is the inverse L2 strength of the embedding heads, ``tfidf_C`` of the TF-IDF heads; ``tfidf_weight``
    is the TF-IDF share of the fused logits (0 disables TF-IDF entirely and skips fitting it). The defaults
    are the values chosen on validation data by ``bench/eval_sentiment.py``.
    """

    def __init__(self, C: float = 4.0, tfidf_weight: float = 0.5, tfidf_C: float = 8.0,
                 anger_p_neg: float = 0.6, anger_p_neg_shout: float = 0.85, embed_kind: str = "query",
                 max_iter: int = 2000) -> None:
        if embed_kind not in ("query", "passage"):
            raise ValueError("embed_kind must be 'query' or 'passage'")
        if not 0.0 <= tfidf_weight <= 1.0:
            raise ValueError("tfidf_weight must be in [0, 1]")
        self.C = float(C)
        self.tfidf_weight = float(tfidf_weight)
        self.tfidf_C = float(tfidf_C)
        self.anger_p_neg = float(anger_p_neg)
        self.anger_p_neg_shout = float(anger_p_neg_shout)
        self.embed_kind = embed_kind
        self.max_iter = int(max_iter)
        self.embedder_name: str | None = None
        self.dim: int | None = None
        # heads: name -> (coef, intercept); "pol" = P(positive | polar), "neu" = P(neutral)
        self._emb_heads: dict[str, tuple[np.ndarray, float]] = {}
        self._tfidf_heads: dict[str, tuple[np.ndarray, float]] = {}
        self._tfidf: _CharTfidf | None = None
        self.info: dict[str, Any] = {}

    # -- embedding -------------------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], embedder: Any) -> np.ndarray:
        """Embed texts the way this model was trained (E5 recommends the query prefix for classification)."""
        texts = list(texts)
        return embedder.embed_queries(texts) if self.embed_kind == "query" else embedder.embed_passages(texts)

    # -- training --------------------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence[str], embedder: Any,
            languages: Sequence[str] | None = None) -> SentimentModel:
        """Embed ``texts`` with ``embedder`` and fit; see :meth:`fit_embedded`."""
        texts = list(texts)
        vectors = self.embed(texts, embedder)
        self.embedder_name = getattr(embedder, "name", None)
        return self.fit_embedded(vectors, texts, labels, languages)

    def fit_embedded(self, vectors: np.ndarray, texts: Sequence[str], labels: Sequence[str],
                     languages: Sequence[str] | None = None) -> SentimentModel:
        """Fit both heads on precomputed embeddings (the benchmark caches them).

        ``labels`` are "negative" / "neutral" / "positive". A language's examples train the neutral head only
        if that language has at least one "neutral" label: binary data (Chinese reviews) say nothing about
        neutrality, and treating them as "not neutral" would teach the model that Chinese is never neutral.
        """
        from sklearn.linear_model import LogisticRegression

        started = time.perf_counter()
        texts = list(texts)
        x = np.asarray(vectors, dtype=np.float32)
        y = np.asarray([str(v) for v in labels])
        if x.ndim != 2 or len(x) != len(texts) or len(y) != len(texts):
            raise ValueError("vectors, texts and labels must have the same length")
        bad = sorted(set(y) - set(CLASSES))
        if bad:
            raise ValueError(f"unknown labels {bad}; expected {CLASSES}")
        langs = np.asarray(list(languages) if languages is not None else [detect_language(t) for t in texts])
        if len(langs) != len(texts):
            raise ValueError("languages must have one entry per text")
        self.dim = int(x.shape[1])

        polar = y != "neutral"
        neutral_langs = sorted(set(langs[y == "neutral"]))
        neu_rows = np.isin(langs, neutral_langs)
        if polar.sum() == 0 or len(set(y[polar])) < 2:
            raise ValueError("need both negative and positive examples")
        if neu_rows.sum() == 0 or len(set(y[neu_rows] == "neutral")) < 2:
            raise ValueError("need neutral examples and non-neutral examples in the same language")

        pol_w = _language_weights(langs[polar])
        pol_y = (y[polar] == "positive").astype(int)
        neu_y = (y[neu_rows] == "neutral").astype(int)

        def head(features: Any, target: np.ndarray, weight: np.ndarray | None, c: float,
                 solver: str = "lbfgs") -> tuple[np.ndarray, float]:
            lr = LogisticRegression(C=c, solver=solver, max_iter=self.max_iter)
            lr.fit(features, target, sample_weight=weight)
            return lr.coef_[0].astype(np.float32), float(lr.intercept_[0])

        self._emb_heads = {"pol": head(x[polar], pol_y, pol_w, self.C),
                           "neu": head(x[neu_rows], neu_y, None, self.C)}
        self._tfidf_heads, self._tfidf = {}, None
        if self.tfidf_weight > 0:
            self._tfidf = _CharTfidf()
            t = self._tfidf.fit_transform(texts)
            # liblinear: ~10x faster than lbfgs on 0.5M sparse columns, same optimum up to the intercept penalty
            self._tfidf_heads = {"pol": head(t[np.flatnonzero(polar)], pol_y, pol_w, self.tfidf_C, "liblinear"),
                                 "neu": head(t[np.flatnonzero(neu_rows)], neu_y, None, self.tfidf_C, "liblinear")}
        self.info = {"n_train": int(len(y)), "n_polar": int(polar.sum()), "n_neutral_head": int(neu_rows.sum()),
                     "neutral_languages": neutral_langs,
                     "languages": {k: int(v) for k, v in zip(*np.unique(langs, return_counts=True))},
                     "fit_seconds": round(time.perf_counter() - started, 2)}
        return self

    # -- prediction ------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not self._emb_heads:
            raise RuntimeError("SentimentModel is not fitted")

    def predict_proba_embedded(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """(n, 3) probabilities in ``CLASSES`` order from precomputed embeddings (+ texts for TF-IDF)."""
        self._check_fitted()
        texts = list(texts)
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or len(x) != len(texts):
            raise ValueError("vectors and texts must have the same length")
        if len(texts) == 0:
            return np.zeros((0, 3))
        if x.shape[1] != self.dim:
            raise ValueError(f"embeddings have dim {x.shape[1]}, the model was trained on {self.dim}")
        logits = {k: x @ w + b for k, (w, b) in self._emb_heads.items()}
        if self._tfidf is not None and self._tfidf_heads and self.tfidf_weight > 0:
            t = self._tfidf.transform(texts)
            a = self.tfidf_weight
            for k, (w, b) in self._tfidf_heads.items():
                logits[k] = (1 - a) * logits[k] + a * (t @ w + b)
        p = _sigmoid(logits["pol"].astype(np.float64))
        n = _sigmoid(logits["neu"].astype(np.float64))
        return np.stack([(1 - n) * (1 - p), n, (1 - n) * p], axis=1)

    def predict_embedded(self, vectors: np.ndarray, texts: Sequence[str]) -> list[SentimentPrediction]:
        """Predictions from precomputed embeddings, e.g. vectors the chat pipeline already made."""
        texts = list(texts)
        proba = self.predict_proba_embedded(vectors, texts)
        out: list[SentimentPrediction] = []
        for text, row in zip(texts, proba):
            p_neg = float(row[0])
            out.append(SentimentPrediction(
                label=CLASSES[int(np.argmax(row))],
                score=float(np.clip(row[2] - row[0], -1.0, 1.0)),
                angry=self.is_angry(text, p_neg),
                probabilities={c: float(v) for c, v in zip(CLASSES, row)},
            ))
        return out

    def predict(self, texts: Sequence[str], embedder: Any) -> list[SentimentPrediction]:
        """Embed and predict; empty input gives an empty list."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("expected a sequence of strings, got a single string; wrap it in a list")
        texts = list(texts)
        if not texts:
            return []
        return self.predict_embedded(self.embed(texts, embedder), texts)

    def is_angry(self, text: str, p_negative: float) -> bool:
        """The documented anger rule (module docstring): confident negative + lexicon hit or shouting."""
        if p_negative < self.anger_p_neg:
            return False
        cues = anger_cues(text)
        if cues["lexicon"]:
            return True
        return bool(cues["shouting"]) and p_negative >= self.anger_p_neg_shout

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write sentiment.npz + sentiment.json into ``folder`` (created if needed); returns the folder."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for prefix, heads in (("emb", self._emb_heads), ("tfidf", self._tfidf_heads)):
            for k, (w, b) in heads.items():
                arrays[f"{prefix}_{k}_coef"] = w
                arrays[f"{prefix}_{k}_intercept"] = np.array([b], dtype=np.float64)
        if self._tfidf is not None:
            arrays["tfidf_idf"] = self._tfidf.idf
        meta = {"format_version": FORMAT_VERSION, "classes": list(CLASSES), "C": self.C,
                "tfidf_weight": self.tfidf_weight, "tfidf_C": self.tfidf_C, "anger_p_neg": self.anger_p_neg,
                "anger_p_neg_shout": self.anger_p_neg_shout, "embed_kind": self.embed_kind,
                "max_iter": self.max_iter, "embedder_name": self.embedder_name, "dim": self.dim,
                "tfidf": None if self._tfidf is None else {"n_features": self._tfidf.n_features,
                                                           "ngram_range": list(self._tfidf.ngram_range)},
                "info": self.info}
        np.savez(folder / ARRAYS_FILE, **arrays)
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SentimentModel:
        """Read a folder written by :meth:`save` (``allow_pickle=False``)."""
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported sentiment model format {meta.get('format_version')!r}")
        model = cls(C=meta["C"], tfidf_weight=meta["tfidf_weight"], tfidf_C=meta["tfidf_C"],
                    anger_p_neg=meta["anger_p_neg"], anger_p_neg_shout=meta["anger_p_neg_shout"],
                    embed_kind=meta["embed_kind"], max_iter=meta["max_iter"])
        model.embedder_name, model.dim, model.info = meta["embedder_name"], meta["dim"], meta.get("info", {})
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as z:
            for prefix, target in (("emb", model._emb_heads), ("tfidf", model._tfidf_heads)):
                for k in ("pol", "neu"):
                    if f"{prefix}_{k}_coef" in z:
                        target[k] = (z[f"{prefix}_{k}_coef"].astype(np.float32),
                                     float(z[f"{prefix}_{k}_intercept"][0]))
            if meta.get("tfidf"):
                model._tfidf = _CharTfidf(meta["tfidf"]["n_features"], tuple(meta["tfidf"]["ngram_range"]))
                model._tfidf.idf = z["tfidf_idf"].astype(np.float32)
        model._check_fitted()
        return model


def _language_weights(langs: np.ndarray) -> np.ndarray:
    """Sample weights giving every language the same total weight (mean weight 1)."""
    names, counts = np.unique(langs, return_counts=True)
    per = {name: len(langs) / (len(names) * count) for name, count in zip(names, counts)}
    return np.asarray([per[v] for v in langs], dtype=np.float64)
