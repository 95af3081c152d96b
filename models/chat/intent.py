"""Intent classification for chat messages, with out-of-scope (OOS) detection.

Why this shape:

* Customers write in English and Chinese, and the intents a shop defines are few-shot (tens of examples each).
  A linear classifier on frozen multilingual sentence embeddings (the chat ``Embedder``, e5 by default) trains in
  seconds on a CPU, needs no GPU and transfers across languages; fine-tuning a transformer is out of budget here.
* An optional TF-IDF head (word n-grams + ``char_wb`` n-grams, which also work for Chinese where there are no
  spaces) catches literal keywords ("PIN", "top-up", "退款") that the small embedding model blurs. Its logits are
  blended log-linearly with the embedding head's, with a weight chosen on validation data only (0 switches it off).
* A message that matches none of the intents must not be forced into one. ``confidence`` is the maximum of the
  temperature-calibrated softmax; the out-of-scope flag is a threshold on one of three scores: that probability
  (``"prob"``), the cosine similarity to the nearest class centroid (``"centroid"``) or to the nearest training
  example (``"nearest"``). Softmax confidence alone is unreliable with few examples per intent: a linear model
  extrapolates far from its training data and gives an unrelated message (or a greeting) a probability near 1,
  while its cosine similarity to every training example stays low. With out-of-scope validation messages the
  score with the best validation AUROC is kept and its threshold maximises Youden's J (OOS recall minus the
  in-scope false-alarm rate, which does not depend on how many OOS messages the validation set happens to hold);
  without them ``"nearest"`` is used and the threshold is a low quantile of in-scope validation scores, so that a
  known share (``oos_quantile``) of genuine messages would be flagged.
* Persistence is weights in ``.npz`` plus metadata in JSON, never pickle: a model folder can be inspected, diffed
  and loaded without executing code, and it survives scikit-learn upgrades. Prediction itself is plain numpy (and
  a fixed-vocabulary ``CountVectorizer`` for the TF-IDF head), so a loaded model does not depend on sklearn's
  estimator internals.

This module is below the HTTP layer: it must not import Flask, marshmallow or ``service``.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["IntentModel", "IntentPrediction", "META_FILE", "WEIGHTS_FILE"]

META_FILE = "intent_model.json"
WEIGHTS_FILE = "intent_weights.npz"
FORMAT_VERSION = 1
OOS_SCORES = ("prob", "centroid", "nearest")
#: below this many validation messages (or with none misclassified) a fitted temperature is noise: keep 1.0
MIN_VAL_FOR_TEMPERATURE = 100


@dataclass(frozen=True)
class IntentPrediction:
    """One message's intent.

    ``name`` is always the best in-scope intent, even when ``out_of_scope`` is set, so that a caller can still log
    or offer it ("did you mean ...?"); ``confidence`` is its calibrated probability in [0, 1].
    """

    name: str
    confidence: float
    out_of_scope: bool


# ------------------------------------------------------------------------------------------------ TF-IDF
class _TfidfFeatures:
    """Word + character n-gram TF-IDF with a fixed vocabulary, serialisable as JSON terms and an idf array.

    Our own small class rather than a pickled ``TfidfVectorizer``: the vocabulary and idf are plain data, and
    ``CountVectorizer(vocabulary=...)`` rebuilds the exact tokenisation without being fitted again.
    """

    def __init__(self, word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] = (1, 4),
                 min_df: int = 2, max_features: int = 30000) -> None:
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams)
        self.min_df = min_df
        self.max_features = max_features
        self.word_terms: list[str] = []
        self.char_terms: list[str] = []
        self.idf = np.zeros(0, dtype=np.float32)
        self._fitted_vectorizers: tuple[Any, Any] | None = None

    def _vectorizers(self, fitted: bool) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import CountVectorizer

        common: dict[str, Any] = {"lowercase": True, "dtype": np.float32}
        if fitted:
            w = CountVectorizer(analyzer="word", ngram_range=self.word_ngrams, vocabulary=self.word_terms,
                                token_pattern=r"(?u)\b\w+\b", **common)
            c = CountVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, vocabulary=self.char_terms,
                                **common)
        else:
            # a tiny training set (the few-shot case) has almost no term seen twice: keep everything then
            w = CountVectorizer(analyzer="word", ngram_range=self.word_ngrams, token_pattern=r"(?u)\b\w+\b",
                                min_df=1, max_features=self.max_features, **common)
            c = CountVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, min_df=1,
                                max_features=self.max_features, **common)
        return w, c

    def fit(self, texts: Sequence[str]) -> _TfidfFeatures:
        self._fitted_vectorizers = None
        w, c = self._vectorizers(fitted=False)
        parts = []
        for vec, attr in ((w, "word_terms"), (c, "char_terms")):
            try:
                counts = vec.fit_transform(texts)
            except ValueError:  # empty vocabulary (e.g. only punctuation)
                setattr(self, attr, [])
                continue
            df = np.asarray((counts > 0).sum(axis=0)).ravel()
            keep = df >= (self.min_df if len(texts) >= 200 else 1)
            vocab = vec.get_feature_names_out()
            terms = [str(t) for t in vocab[keep]]
            setattr(self, attr, terms)
            parts.append(df[keep])
        df_all = np.concatenate(parts) if parts else np.zeros(0)
        n = len(texts)
        self.idf = (np.log((1.0 + n) / (1.0 + df_all)) + 1.0).astype(np.float32)
        return self

    @property
    def n_features(self) -> int:
        return len(self.word_terms) + len(self.char_terms)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        # Built once: a CountVectorizer given a vocabulary list turns it into a dict on its first transform,
        # which cost ~6 ms per chat message when the vectorizers were made afresh for every call.
        if self._fitted_vectorizers is None:
            self._fitted_vectorizers = self._vectorizers(fitted=True)
        w, c = self._fitted_vectorizers
        blocks = []
        if self.word_terms:
            blocks.append(w.transform(texts))
        if self.char_terms:
            blocks.append(c.transform(texts))
        if not blocks:
            return sp.csr_matrix((len(texts), 0), dtype=np.float32)
        x = sp.hstack(blocks, format="csr", dtype=np.float32)
        x.sort_indices()
        # sublinear tf (a repeated word is not ten times the evidence) times idf, then each row to unit length;
        # on the CSR arrays directly, since the equivalent sparse products cost ~1 ms per chat message
        data = ((1.0 + np.log(x.data)) * self.idf[x.indices]).astype(np.float32)
        row_of = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=data.astype(np.float64) ** 2, minlength=x.shape[0]))
        norms[norms == 0] = 1.0
        data = (data / norms[row_of]).astype(np.float32)
        return sp.csr_matrix((data, x.indices, x.indptr), shape=x.shape, dtype=np.float32)

    def config(self) -> dict:
        return {"word_ngrams": list(self.word_ngrams), "char_ngrams": list(self.char_ngrams),
                "min_df": self.min_df, "max_features": self.max_features}


# ------------------------------------------------------------------------------------------------ helpers
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit_linear(x: Any, y: np.ndarray, n_classes: int, c: float, max_iter: int, standardize: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression -> ``(coef (k, d), intercept (k,))`` as float32, scaling folded in.

    Standardising dense embeddings makes one ``C`` grid work for any embedder (e5 and MiniLM vectors have very
    different per-dimension spreads); the scaler is folded into the weights so prediction stays one matmul.
    """
    from sklearn.linear_model import LogisticRegression

    mean = scale = None
    if standardize:
        mean = np.asarray(x.mean(axis=0), dtype=np.float64)
        scale = np.asarray(x.std(axis=0), dtype=np.float64)
        scale[scale < 1e-8] = 1.0
        x = (x - mean) / scale
    clf = LogisticRegression(C=c, max_iter=max_iter, tol=1e-4)
    clf.fit(x, y)
    coef = np.zeros((n_classes, x.shape[1]))
    intercept = np.zeros(n_classes)
    if len(clf.classes_) == 2 and clf.coef_.shape[0] == 1:  # binary: sklearn keeps one row
        coef[clf.classes_[1]] = clf.coef_[0] / 2
        coef[clf.classes_[0]] = -clf.coef_[0] / 2
        intercept[clf.classes_[1]] = clf.intercept_[0] / 2
        intercept[clf.classes_[0]] = -clf.intercept_[0] / 2
    else:
        coef[clf.classes_] = clf.coef_
        intercept[clf.classes_] = clf.intercept_
        missing = np.setdiff1d(np.arange(n_classes), clf.classes_)
        intercept[missing] = -1e4  # a class absent from this fold can never win
    if standardize:
        coef = coef / scale
        intercept = intercept - coef @ mean
    return coef.astype(np.float32), intercept.astype(np.float32)


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising validation log-loss (golden-section search on log T); 1.0 if not helpful."""
    def nll(log_t: float) -> float:
        z = logits / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(lse - z[np.arange(len(y)), y]))

    lo, hi = math.log(0.05), math.log(20.0)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    best = (lo + hi) / 2
    return float(math.exp(best)) if nll(best) < nll(0.0) else 1.0


def _auroc(neg: np.ndarray, pos: np.ndarray) -> float:
    """AUROC of "pos scores higher than neg" (Mann-Whitney, ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([neg, pos]))
    return float((ranks[len(neg):].sum() - len(pos) * (len(pos) + 1) / 2) / (len(neg) * len(pos)))


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return (x / n).astype(np.float32)


def _centroids(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    c = np.zeros((k, x.shape[1]), np.float32)
    np.add.at(c, y, x)
    return _normalise_rows(c)


def _youden_threshold(conf_in: np.ndarray, conf_oos: np.ndarray) -> float:
    """Threshold t (flag when confidence < t) maximising OOS recall minus in-scope false-alarm rate."""
    cands = np.unique(np.concatenate([conf_in, conf_oos]))
    cands = np.concatenate([cands, [cands[-1] + 1e-6]])
    in_sorted, oos_sorted = np.sort(conf_in), np.sort(conf_oos)
    fpr = np.searchsorted(in_sorted, cands, side="left") / len(in_sorted)
    tpr = np.searchsorted(oos_sorted, cands, side="left") / len(oos_sorted)
    j = tpr - fpr
    best = int(np.argmax(j))
    # midpoint to the next lower candidate, so the threshold does not sit exactly on a validation score
    lower = cands[best - 1] if best > 0 else 0.0
    return float((lower + cands[best]) / 2)


def _as_texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of strings, not a single string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] is {type(t).__name__}, expected str")
    return out


# ------------------------------------------------------------------------------------------------ model
class IntentModel:
    """Logistic regression on sentence embeddings (+ optional TF-IDF head) with a validated OOS threshold.

    Parameters (stored as given, sklearn style; the choices made during ``fit`` are attributes ending in ``_``):

    * ``c_grid``: inverse regularisation strengths tried for the embedding head (on standardised embeddings).
      Two values only: on banking77 validation C=0.1 and 0.3 tied and 1.0 was worse, and each value is a full
      logistic-regression fit (about a minute for 9k x 77 classes on a busy 2-core machine).
    * ``tfidf``: ``"auto"`` tries TF-IDF blend weights ``alpha_grid`` and keeps the best on validation accuracy
      (0 = off); ``True`` forces it on (best non-zero weight), ``False`` off.
    * ``tfidf_c``: regularisation of the TF-IDF head.
    * ``oos_score``: ``"auto"`` (best validation AUROC when OOS validation data is given, else ``"nearest"``),
      ``"prob"``, ``"centroid"`` or ``"nearest"`` -- what the out-of-scope threshold applies to (module docstring).
    * ``oos_quantile``: share of in-scope validation messages that may be flagged when no OOS validation data is
      given (the threshold is that quantile of their in-scope score).
    * ``refit``: refit the chosen configuration on train + validation (more data; the threshold and temperature
      from validation are kept).
    * ``val_fraction`` / ``cv_folds``: how validation data is made when none is given -- a stratified holdout for
      large sets, k-fold out-of-fold predictions for small (few-shot) ones.
    """

    def __init__(self, c_grid: Sequence[float] = (0.1, 0.3), tfidf: bool | str = "auto",
                 alpha_grid: Sequence[float] = (0.0, 0.25, 0.5, 1.0), tfidf_c: float = 10.0,
                 oos_score: str = "auto", oos_quantile: float = 0.05, refit: bool = True, val_fraction: float = 0.1,
                 cv_folds: int = 5, max_iter: int = 2000, random_state: int = 0) -> None:
        self.c_grid = tuple(c_grid)
        self.tfidf = tfidf
        self.alpha_grid = tuple(alpha_grid)
        self.tfidf_c = tfidf_c
        if oos_score not in OOS_SCORES + ("auto",):
            raise ValueError(f"oos_score must be 'auto' or one of {OOS_SCORES}, got {oos_score!r}")
        self.oos_score = oos_score
        self.oos_quantile = oos_quantile
        self.refit = refit
        self.val_fraction = val_fraction
        self.cv_folds = cv_folds
        self.max_iter = max_iter
        self.random_state = random_state

    # ------------------------------------------------------------------ params
    def get_params(self) -> dict:
        return {"c_grid": list(self.c_grid), "tfidf": self.tfidf, "alpha_grid": list(self.alpha_grid),
                "tfidf_c": self.tfidf_c, "oos_score": self.oos_score, "oos_quantile": self.oos_quantile,
                "refit": self.refit,
                "val_fraction": self.val_fraction, "cv_folds": self.cv_folds, "max_iter": self.max_iter,
                "random_state": self.random_state}

    @property
    def classes(self) -> list[str]:
        return list(self.classes_)

    # ------------------------------------------------------------------ fit
    def fit(self, texts: Sequence[str], labels: Sequence[str], embedder: Any, *,
            val_texts: Sequence[str] | None = None, val_labels: Sequence[str] | None = None,
            oos_texts: Sequence[str] | None = None) -> IntentModel:
        """Embed with ``embedder.embed_queries`` and fit; see :meth:`fit_embedded` for the validation logic."""
        texts = _as_texts(texts, "texts")
        vt = _as_texts(val_texts, "val_texts") if val_texts is not None else None
        ot = _as_texts(oos_texts, "oos_texts") if oos_texts is not None else None
        self.fit_embedded(
            embedder.embed_queries(texts), texts, labels,
            val_vectors=embedder.embed_queries(vt) if vt is not None else None, val_texts=vt, val_labels=val_labels,
            oos_vectors=embedder.embed_queries(ot) if ot else None, oos_texts=ot or None,
            embedder_name=str(getattr(embedder, "name", "")))
        return self

    def fit_embedded(self, vectors: np.ndarray, texts: Sequence[str], labels: Sequence[str], *,
                     val_vectors: np.ndarray | None = None, val_texts: Sequence[str] | None = None,
                     val_labels: Sequence[str] | None = None, oos_vectors: np.ndarray | None = None,
                     oos_texts: Sequence[str] | None = None, embedder_name: str = "") -> IntentModel:
        """Fit on precomputed embeddings (``vectors[i]`` is the embedding of ``texts[i]``).

        Validation data decides everything that is not a weight: the embedding head's ``C``, whether / how much
        TF-IDF to blend in, the softmax temperature and the OOS threshold. If ``val_*`` is not given, it is made
        from the training data (stratified holdout, or k-fold out-of-fold predictions for small sets).
        ``oos_*`` are messages that belong to no intent; they only set the threshold.
        """
        t0 = time.perf_counter()
        texts = _as_texts(texts, "texts")
        labels = [str(x) for x in labels]
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != len(texts) or len(labels) != len(texts):
            raise ValueError(f"vectors {x.shape}, {len(texts)} texts and {len(labels)} labels must line up")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError("need at least two intents to train a classifier")
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[lab] for lab in labels])
        k = len(classes)

        # --- validation folds: list of (train rows, val rows) over the pooled arrays
        if val_vectors is not None:
            if val_texts is None or val_labels is None:
                raise ValueError("val_vectors needs val_texts and val_labels")
            vtexts = _as_texts(val_texts, "val_texts")
            vx = np.asarray(val_vectors, dtype=np.float32)
            unknown = sorted({str(v) for v in val_labels} - set(classes))
            if unknown:
                raise ValueError(f"validation labels not in training labels: {unknown[:5]}")
            vy = np.array([index[str(v)] for v in val_labels])
            all_x, all_t, all_y = np.vstack([x, vx]), texts + vtexts, np.concatenate([y, vy])
            folds = [(np.arange(len(texts)), np.arange(len(texts), len(all_t)))]
            strategy = "given"
        else:
            all_x, all_t, all_y = x, texts, y
            folds, strategy = self._make_folds(y)

        ox = np.asarray(oos_vectors, dtype=np.float32) if oos_vectors is not None else None
        otexts = _as_texts(oos_texts, "oos_texts") if oos_texts is not None else None
        if ox is not None and (otexts is None or len(otexts) != len(ox)):
            raise ValueError("oos_vectors needs oos_texts of the same length")

        use_tfidf = self.tfidf is True or self.tfidf == "auto"
        alphas = [a for a in self.alpha_grid if (self.tfidf == "auto" or a > 0)] if use_tfidf else [0.0]
        alphas = alphas or [0.0]

        # --- out-of-fold logits for every C (embedding head) and for the TF-IDF head, and similarities
        val_rows = np.concatenate([v for _, v in folds])
        val_y = all_y[val_rows]
        n_oos = 0 if ox is None else len(ox)
        emb_logits = {c: np.zeros((len(val_rows), k), np.float32) for c in self.c_grid}
        emb_oos = {c: np.zeros((n_oos, k), np.float32) for c in self.c_grid}
        tf_logits = np.zeros((len(val_rows), k), np.float32)
        tf_oos = np.zeros((n_oos, k), np.float32)
        sim_val = {s: np.zeros(len(val_rows), np.float32) for s in ("centroid", "nearest")}
        sim_oos = {s: np.zeros(n_oos, np.float32) for s in ("centroid", "nearest")}
        pos = 0
        for tr, va in folds:
            sl = slice(pos, pos + len(va))
            for c in self.c_grid:
                w, b = _fit_linear(all_x[tr], all_y[tr], k, c, self.max_iter, standardize=True)
                emb_logits[c][sl] = all_x[va] @ w.T + b
                if ox is not None:
                    emb_oos[c] += (ox @ w.T + b) / len(folds)
            refs = {"centroid": _centroids(all_x[tr], all_y[tr], k), "nearest": all_x[tr]}
            for name, r in refs.items():
                sim_val[name][sl] = (all_x[va] @ r.T).max(axis=1)
                if ox is not None:
                    sim_oos[name] += (ox @ r.T).max(axis=1) / len(folds)
            if any(a > 0 for a in alphas):
                feats = _TfidfFeatures().fit([all_t[i] for i in tr])
                w, b = _fit_linear(feats.transform([all_t[i] for i in tr]), all_y[tr], k, self.tfidf_c,
                                   self.max_iter, standardize=False)
                tf_logits[sl] = feats.transform([all_t[i] for i in va]) @ w.T + b
                if ox is not None:
                    tf_oos += (feats.transform(otexts) @ w.T + b) / len(folds)
            pos += len(va)

        # --- choose C and alpha on validation accuracy. Ties (common with few examples, where every setting
        # is 100 % right) go to the best OOS AUROC when OOS data is given, else to the smaller C and alpha: the
        # out-of-fold log-loss would always pick the least regularised model, which is the most overconfident
        # on messages unlike any training example.
        scores = []
        for c in self.c_grid:
            for a in alphas:
                z = emb_logits[c] + a * tf_logits
                acc = float(np.mean(z.argmax(axis=1) == val_y))
                p = _softmax(z)
                nll = float(-np.mean(np.log(np.clip(p[np.arange(len(val_y)), val_y], 1e-12, None))))
                row = {"C": c, "alpha": a, "val_accuracy": acc, "val_log_loss": nll}
                if n_oos:
                    row["val_oos_auroc_prob"] = _auroc(-p.max(axis=1), -_softmax(emb_oos[c] + a * tf_oos).max(axis=1))
                scores.append(row)
        best = max(scores, key=lambda r: (round(r["val_accuracy"], 4), r.get("val_oos_auroc_prob", 0.0),
                                          -r["C"], -r["alpha"]))
        self.C_, self.alpha_ = float(best["C"]), float(best["alpha"])
        z_val = emb_logits[self.C_] + self.alpha_ * tf_logits
        n_wrong = int(np.sum(z_val.argmax(axis=1) != val_y))
        self.temperature_ = _fit_temperature(z_val, val_y) if len(val_y) >= MIN_VAL_FOR_TEMPERATURE and n_wrong else 1.0
        score_val = {"prob": _softmax(z_val / self.temperature_).max(axis=1), **sim_val}

        # --- OOS score and threshold
        oos_auroc: dict[str, float] = {}
        if n_oos:
            z_oos = emb_oos[self.C_] + self.alpha_ * tf_oos
            score_oos = {"prob": _softmax(z_oos / self.temperature_).max(axis=1), **sim_oos}
            oos_auroc = {s: _auroc(-score_val[s], -score_oos[s]) for s in OOS_SCORES}
            self.oos_score_ = (max(OOS_SCORES, key=lambda s: oos_auroc[s]) if self.oos_score == "auto"
                               else self.oos_score)
            self.threshold_ = _youden_threshold(score_val[self.oos_score_], score_oos[self.oos_score_])
            self.threshold_source_ = "youden_j_on_oos_validation"
            oos_recall = float(np.mean(score_oos[self.oos_score_] < self.threshold_))
        else:
            self.oos_score_ = "nearest" if self.oos_score == "auto" else self.oos_score
            self.threshold_ = float(np.quantile(score_val[self.oos_score_], self.oos_quantile))
            self.threshold_source_ = f"quantile_{self.oos_quantile:g}_of_in_scope_validation_score"
            oos_recall = None

        # --- final weights
        if self.refit:
            fit_rows = np.arange(len(all_t))
        else:
            fit_rows = folds[0][0] if strategy == "given" else np.arange(len(all_t))
        self.coef_, self.intercept_ = _fit_linear(all_x[fit_rows], all_y[fit_rows], k, self.C_, self.max_iter,
                                                  standardize=True)
        # reference vectors for the similarity scores (only the one in use is kept)
        if self.oos_score_ == "centroid":
            self.references_ = _centroids(all_x[fit_rows], all_y[fit_rows], k)
        elif self.oos_score_ == "nearest":
            self.references_ = np.ascontiguousarray(all_x[fit_rows], dtype=np.float32)
        else:
            self.references_ = np.zeros((0, x.shape[1]), np.float32)
        self.tfidf_features_: _TfidfFeatures | None = None
        self.tfidf_coef_ = self.tfidf_intercept_ = None
        if self.alpha_ > 0:
            ft = [all_t[i] for i in fit_rows]
            self.tfidf_features_ = _TfidfFeatures().fit(ft)
            self.tfidf_coef_, self.tfidf_intercept_ = _fit_linear(
                self.tfidf_features_.transform(ft), all_y[fit_rows], k, self.tfidf_c, self.max_iter,
                standardize=False)

        self.classes_ = np.array(classes, dtype=object)
        self.dim_ = int(x.shape[1])
        self.embedder_name_ = embedder_name
        self.validation_ = {
            "strategy": strategy, "n_folds": len(folds), "n_train": len(texts), "n_val": int(len(val_rows)),
            "n_oos_val": 0 if ox is None else int(len(ox)), "grid": scores,
            "val_accuracy": best["val_accuracy"], "temperature_errors": n_wrong, "oos_auroc": oos_auroc,
            "in_scope_flag_rate": float(np.mean(score_val[self.oos_score_] < self.threshold_)),
            "oos_recall": oos_recall, "fit_seconds": round(time.perf_counter() - t0, 2),
        }
        return self

    def _make_folds(self, y: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
        """Holdout for large sets, k-fold for few-shot ones (a 10 % holdout of 8 examples is nothing)."""
        from sklearn.model_selection import StratifiedKFold, train_test_split

        counts = np.bincount(y)
        min_count = int(counts.min())
        if min_count < 2:
            raise ValueError("every intent needs at least two examples (one to train, one to validate)")
        if min_count * self.val_fraction >= 3:
            tr, va = train_test_split(np.arange(len(y)), test_size=self.val_fraction, stratify=y,
                                      random_state=self.random_state)
            return [(np.sort(tr), np.sort(va))], "holdout"
        n_splits = max(2, min(self.cv_folds, min_count))
        skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        return [(tr, va) for tr, va in skf.split(np.zeros(len(y)), y)], f"{n_splits}-fold"

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("IntentModel is not fitted; call fit() or IntentModel.load()")

    def logits_embedded(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Blended, temperature-scaled logits ``(n, n_classes)``; softmax of these is the calibrated probability."""
        self._check_fitted()
        texts = _as_texts(texts, "texts")
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim_ or x.shape[0] != len(texts):
            raise ValueError(f"expected vectors of shape ({len(texts)}, {self.dim_}), got {x.shape}")
        z = x @ self.coef_.T + self.intercept_
        if self.alpha_ > 0 and self.tfidf_features_ is not None and len(texts):
            z = z + self.alpha_ * np.asarray(self.tfidf_features_.transform(texts) @ self.tfidf_coef_.T
                                             + self.tfidf_intercept_)
        return z / self.temperature_

    def predict_proba_embedded(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities ``(n, n_classes)`` in the order of :attr:`classes`."""
        return _softmax(self.logits_embedded(vectors, texts)).astype(np.float32)

    def _scores(self, vectors: np.ndarray, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities (n, k), in-scope score (n,))``; the score is what the threshold applies to."""
        p = self.predict_proba_embedded(vectors, texts)
        if self.oos_score_ == "prob":
            score = p.max(axis=1) if len(p) else np.zeros(0, np.float32)
        else:
            x = np.asarray(vectors, dtype=np.float32)
            score = (x @ self.references_.T).max(axis=1) if len(x) else np.zeros(0, np.float32)
        return p, score

    def in_scope_scores_embedded(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The score the out-of-scope threshold applies to (higher = more in scope); 1 - it ranks OOS messages."""
        return self._scores(vectors, texts)[1]

    def predict_embedded(self, vectors: np.ndarray, texts: Sequence[str]) -> list[IntentPrediction]:
        """Predictions for messages that are already embedded (with the same embedder as at fit time)."""
        p, score = self._scores(vectors, texts)
        if not len(p):
            return []
        top = p.argmax(axis=1)
        conf = p[np.arange(len(p)), top]
        return [IntentPrediction(str(self.classes_[i]), float(c), bool(sc < self.threshold_))
                for i, c, sc in zip(top, conf, score)]

    def predict(self, texts: Sequence[str], embedder: Any) -> list[IntentPrediction]:
        """Embed ``texts`` with ``embedder.embed_queries`` and predict; the embedder must match the fitted one."""
        self._check_fitted()
        name = str(getattr(embedder, "name", ""))
        if self.embedder_name_ and name and name != self.embedder_name_:
            raise ValueError(f"model was fitted on {self.embedder_name_!r} embeddings, got embedder {name!r}")
        texts = _as_texts(texts, "texts")
        return self.predict_embedded(embedder.embed_queries(texts), texts)

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write ``intent_model.json`` (metadata, labels, threshold, vocabulary) and ``intent_weights.npz``."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"coef": self.coef_, "intercept": self.intercept_,
                                         "references": self.references_}
        tf_meta = None
        if self.tfidf_features_ is not None:
            arrays.update(tfidf_coef=self.tfidf_coef_, tfidf_intercept=self.tfidf_intercept_,
                          tfidf_idf=self.tfidf_features_.idf)
            tf_meta = {**self.tfidf_features_.config(), "word_terms": self.tfidf_features_.word_terms,
                       "char_terms": self.tfidf_features_.char_terms}
        meta = {
            "format": "kefu.intent", "version": FORMAT_VERSION, "params": self.get_params(),
            "classes": [str(c) for c in self.classes_], "dim": self.dim_, "embedder": self.embedder_name_,
            "C": self.C_, "alpha": self.alpha_, "temperature": self.temperature_, "threshold": self.threshold_,
            "oos_score": self.oos_score_, "threshold_source": self.threshold_source_,
            "validation": self.validation_, "tfidf": tf_meta,
        }
        tmp_w = folder / (WEIGHTS_FILE + ".tmp.npz")
        np.savez(tmp_w, **arrays)
        tmp_w.replace(folder / WEIGHTS_FILE)
        tmp_m = folder / (META_FILE + ".tmp")
        tmp_m.write_text(json.dumps(meta, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8")
        tmp_m.replace(folder / META_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> IntentModel:
        """Rebuild a model written by :meth:`save` (no pickle: ``allow_pickle=False``)."""
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != "kefu.intent" or meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{folder} does not hold a kefu intent model of version {FORMAT_VERSION}")
        params = dict(meta["params"])
        model = cls(**params)
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        model.classes_ = np.array(meta["classes"], dtype=object)
        model.dim_ = int(meta["dim"])
        model.embedder_name_ = meta["embedder"]
        model.C_, model.alpha_ = float(meta["C"]), float(meta["alpha"])
        model.temperature_, model.threshold_ = float(meta["temperature"]), float(meta["threshold"])
        model.threshold_source_ = meta["threshold_source"]
        model.oos_score_ = meta["oos_score"]
        model.references_ = arrays["references"]
        model.validation_ = meta["validation"]
        model.tfidf_features_ = None
        model.tfidf_coef_ = model.tfidf_intercept_ = None
        tf = meta.get("tfidf")
        if tf is not None:
            feats = _TfidfFeatures(tuple(tf["word_ngrams"]), tuple(tf["char_ngrams"]), tf["min_df"],
                                   tf["max_features"])
            feats.word_terms, feats.char_terms = list(tf["word_terms"]), list(tf["char_terms"])
            feats.idf = arrays["tfidf_idf"]
            model.tfidf_features_ = feats
            model.tfidf_coef_, model.tfidf_intercept_ = arrays["tfidf_coef"], arrays["tfidf_intercept"]
        if model.coef_.shape != (len(model.classes_), model.dim_):
            raise ValueError(f"weights {model.coef_.shape} do not match {len(model.classes_)} classes x {model.dim_}")
        return model
