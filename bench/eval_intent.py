"""kefu's intent classifier (with out-of-scope detection) against a MiniLM + logistic-regression baseline.

    python bench/eval_intent.py [--data ../shared/data] [--threads 2] [--no-tfidf-search]

* banking77: train on ``train.csv`` minus a stratified 10 % validation split (used for the model's own choices:
  regularisation, TF-IDF on/off, OOS threshold default), test on ``test.csv``; accuracy.
* CLINC150 (``data_full.json``): train on ``train``, tune on ``val`` + ``oos_val``; on ``test`` report in-scope
  accuracy (argmax over the 150 intents), out-of-scope AUROC with score = 1 - max probability over
  ``test`` + ``oos_test``, and OOS precision / recall at the threshold chosen on ``oos_val``.
* Baseline in the same run: all-MiniLM-L6-v2 embeddings + plain logistic regression (the MTEB-style reference).

Embeddings are cached in ``bench/results/cache/intent_<dataset>_<split>_<embedder>.npz`` (with a hash of the texts,
so a changed dataset is re-embedded rather than silently reused). A markdown table is printed and JSON is written
to ``bench/results/eval_intent.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, RESULTS, peak_rss_mib, write_result  # noqa: E402

CACHE = RESULTS / "cache"


# ----------------------------------------------------------------------------------------------- data
def load_banking77(data: Path, seed: int = 0) -> dict[str, tuple[list[str], list[str]]]:
    """train / val (stratified 10 % of train) / test, each ``(texts, labels)``."""
    from sklearn.model_selection import train_test_split

    folder = data / "text" / "banking77"
    train = pd.read_csv(folder / "train.csv")
    test = pd.read_csv(folder / "test.csv")
    tr, va = train_test_split(train, test_size=0.1, random_state=seed, stratify=train["category"])
    as_pair = lambda df: (df["text"].astype(str).tolist(), df["category"].astype(str).tolist())  # noqa: E731
    return {"train": as_pair(tr), "val": as_pair(va), "test": as_pair(test)}


def _per_class(texts: list[str], labels: list[str], n: int | None, seed: int = 0) -> tuple[list[str], list[str]]:
    """At most ``n`` examples per label (seeded random choice, original order kept); all when ``n`` is None."""
    if n is None:
        return texts, labels
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    lab = np.array(labels)
    for c in sorted(set(labels)):
        idx = np.flatnonzero(lab == c)
        keep += rng.choice(idx, size=min(n, len(idx)), replace=False).tolist()
    keep.sort()
    return [texts[i] for i in keep], [labels[i] for i in keep]


def load_clinc150(data: Path, train_per_class: int | None = None, eval_per_class: int | None = None
                  ) -> dict[str, tuple[list[str], list[str]]]:
    """The six splits of ``data_full.json`` as ``(texts, labels)``; OOS splits are labelled ``"oos"``.

    ``train_per_class`` / ``eval_per_class`` subsample the in-scope train and val/test splits (for a quick run
    on a busy machine: e5 embeds ~15-90 sentences/s here); the OOS splits are always used whole.
    """
    raw = json.loads((data / "text" / "clinc150" / "data_full.json").read_text())
    out = {k: ([t for t, _ in v], [lab for _, lab in v]) for k, v in raw.items()}
    out["train"] = _per_class(*out["train"], train_per_class)
    out["val"] = _per_class(*out["val"], eval_per_class, seed=1)
    out["test"] = _per_class(*out["test"], eval_per_class, seed=2)
    return out


# ------------------------------------------------------------------------------------------ embedding
def _text_hash(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.hexdigest()


def cached_embeddings(dataset: str, split: str, texts: list[str], embedder) -> np.ndarray:
    """Query embeddings of ``texts``, read from / written to the cache (keyed by dataset, split, embedder)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"intent_{dataset}_{split}_{embedder.name}.npz"
    digest = _text_hash(texts)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            if str(z["hash"]) == digest:
                return z["vectors"]
    t0 = time.perf_counter()
    vectors = embedder.embed_queries(texts)
    dt = time.perf_counter() - t0
    print(f"  embedded {dataset}/{split} with {embedder.name}: {len(texts)} texts in {dt:.0f} s "
          f"({len(texts) / max(dt, 1e-9):.0f}/s)", flush=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=vectors, hash=np.array(digest))
    tmp.replace(path)
    return vectors


def embed_all(datasets: dict[str, dict[str, tuple[list[str], list[str]]]], embedder
              ) -> dict[str, dict[str, np.ndarray]]:
    """Embeddings of every split; the cache key holds the split size so a subsample never reuses a full split."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, splits in datasets.items():
        out[name] = {split: cached_embeddings(name, f"{split}{len(texts)}", texts, embedder)
                     for split, (texts, _) in splits.items()}
    return out


# ------------------------------------------------------------------------------------------- metrics
def auroc(neg: np.ndarray, pos: np.ndarray) -> float:
    """AUROC of "OOS messages score higher than in-scope ones"."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]))


def oos_precision_recall(flag_in: np.ndarray, flag_oos: np.ndarray) -> tuple[float, float]:
    tp, fp = int(flag_oos.sum()), int(flag_in.sum())
    return (tp / (tp + fp) if tp + fp else 0.0), tp / len(flag_oos)


def youden(conf_in: np.ndarray, conf_oos: np.ndarray) -> float:
    """Baseline threshold on max probability, chosen on validation like the model's (flag below it)."""
    from models.chat.intent import _youden_threshold

    return _youden_threshold(conf_in, conf_oos)


# -------------------------------------------------------------------------------------------- models
def plain_lr(x: np.ndarray, y: list[str]):
    """The MTEB-style reference: sklearn's default logistic regression on the raw embeddings."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(x, y)


def run_kefu(name: str, emb: dict, data: dict, params: dict) -> dict:
    from models.chat.intent import IntentModel

    out: dict = {"model": name, "params": params}
    # banking77: model tunes on its validation split, no OOS data -> default quantile threshold
    b, be = data["banking77"], emb["banking77"]
    t0 = time.perf_counter()
    m = IntentModel(**params).fit_embedded(be["train"], b["train"][0], b["train"][1], val_vectors=be["val"],
                                           val_texts=b["val"][0], val_labels=b["val"][1])
    out["banking77_fit_s"] = round(time.perf_counter() - t0, 1)
    p = m.predict_proba_embedded(be["test"], b["test"][0])
    out["banking77_accuracy"] = float(np.mean(np.array(m.classes)[p.argmax(1)] == np.array(b["test"][1])))
    z = be["test"] @ m.coef_.T + m.intercept_  # the embedding head alone: what the TF-IDF blend adds
    out["banking77_accuracy_embedding_head_only"] = float(np.mean(np.array(m.classes)[z.argmax(1)]
                                                                  == np.array(b["test"][1])))
    out["banking77_val_grid"] = m.validation_["grid"]
    out["banking77_choice"] = {"C": m.C_, "alpha": m.alpha_, "temperature": m.temperature_, "oos_score": m.oos_score_}
    flagged = m.in_scope_scores_embedded(be["test"], b["test"][0]) < m.threshold_
    out["banking77_test_flag_rate"] = float(flagged.mean())

    c, ce = data["clinc150"], emb["clinc150"]
    t0 = time.perf_counter()
    m = IntentModel(**params).fit_embedded(ce["train"], c["train"][0], c["train"][1], val_vectors=ce["val"],
                                           val_texts=c["val"][0], val_labels=c["val"][1],
                                           oos_vectors=ce["oos_val"], oos_texts=c["oos_val"][0])
    out["clinc150_fit_s"] = round(time.perf_counter() - t0, 1)
    p_in = m.predict_proba_embedded(ce["test"], c["test"][0])
    p_oos = m.predict_proba_embedded(ce["oos_test"], c["oos_test"][0])
    out["clinc150_accuracy"] = float(np.mean(np.array(m.classes)[p_in.argmax(1)] == np.array(c["test"][1])))
    out["clinc150_oos_auroc"] = auroc(1 - p_in.max(1), 1 - p_oos.max(1))
    out["clinc150_val_grid"] = m.validation_["grid"]
    s_in = m.in_scope_scores_embedded(ce["test"], c["test"][0])
    s_oos = m.in_scope_scores_embedded(ce["oos_test"], c["oos_test"][0])
    out["clinc150_oos_auroc_model_score"] = auroc(-s_in, -s_oos)
    out["clinc150_oos_precision"], out["clinc150_oos_recall"] = oos_precision_recall(s_in < m.threshold_,
                                                                                     s_oos < m.threshold_)
    out["clinc150_choice"] = {"C": m.C_, "alpha": m.alpha_, "temperature": m.temperature_,
                              "oos_score": m.oos_score_, "threshold": m.threshold_,
                              "val_oos_auroc": m.validation_["oos_auroc"]}
    return out


def run_plain(name: str, emb: dict, data: dict) -> dict:
    out: dict = {"model": name}
    b, be = data["banking77"], emb["banking77"]
    t0 = time.perf_counter()
    clf = plain_lr(np.vstack([be["train"], be["val"]]), b["train"][1] + b["val"][1])  # all of train.csv
    out["banking77_fit_s"] = round(time.perf_counter() - t0, 1)
    out["banking77_accuracy"] = float(np.mean(clf.predict(be["test"]) == np.array(b["test"][1])))

    c, ce = data["clinc150"], emb["clinc150"]
    t0 = time.perf_counter()
    clf = plain_lr(ce["train"], c["train"][1])
    out["clinc150_fit_s"] = round(time.perf_counter() - t0, 1)
    p_in, p_oos = clf.predict_proba(ce["test"]), clf.predict_proba(ce["oos_test"])
    out["clinc150_accuracy"] = float(np.mean(clf.classes_[p_in.argmax(1)] == np.array(c["test"][1])))
    out["clinc150_oos_auroc"] = out["clinc150_oos_auroc_model_score"] = auroc(1 - p_in.max(1), 1 - p_oos.max(1))
    thr = youden(clf.predict_proba(ce["val"]).max(1), clf.predict_proba(ce["oos_val"]).max(1))
    out["clinc150_oos_precision"], out["clinc150_oos_recall"] = oos_precision_recall(p_in.max(1) < thr,
                                                                                     p_oos.max(1) < thr)
    return out


# ---------------------------------------------------------------------------------------------- main
COLUMNS = [("model", "model"), ("banking77_accuracy", "banking77 acc"),
           ("banking77_accuracy_embedding_head_only", "banking77 acc, e5 head only"),
           ("banking77_fit_s", "banking77 fit s"),
           ("clinc150_accuracy", "CLINC150 in-scope acc"), ("clinc150_oos_auroc", "OOS AUROC (1-max prob)"),
           ("clinc150_oos_auroc_model_score", "OOS AUROC (model's OOS score)"),
           ("clinc150_oos_precision", "OOS precision @thr"), ("clinc150_oos_recall", "OOS recall @thr")]


def markdown(rows: list[dict]) -> str:
    def fmt(key: str, v) -> str:
        if isinstance(v, float):
            return f"{v:.1f}" if key.endswith("_s") else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(k, r.get(k, "")) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threads", type=int, default=2, help="embedder threads (default 2)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the MiniLM baseline")
    ap.add_argument("--clinc-train-per-class", type=int, default=None,
                    help="subsample CLINC150 train (default: all 100)")
    ap.add_argument("--clinc-eval-per-class", type=int, default=None,
                    help="subsample CLINC150 in-scope val/test (default: all 20/30); OOS splits stay whole")
    args = ap.parse_args(argv)

    from features.text.embedder import E5Embedder, SentenceTransformerEmbedder

    data = {"banking77": load_banking77(args.data),
            "clinc150": load_clinc150(args.data, args.clinc_train_per_class, args.clinc_eval_per_class)}
    sizes = {d: {k: len(v[0]) for k, v in splits.items()} for d, splits in data.items()}
    print(f"split sizes: {sizes}", flush=True)
    rows = []
    e5 = embed_all(data, E5Embedder(num_threads=args.threads))
    rows.append(run_kefu("kefu IntentModel (e5; C, TF-IDF blend, OOS score chosen on val)", e5, data, {}))
    print(f"kefu: {json.dumps({k: v for k, v in rows[-1].items() if 'grid' not in k}, default=str)}", flush=True)
    rows.append(run_plain("e5 + plain LogisticRegression", e5, data))
    if not args.no_baseline:
        mini = embed_all(data, SentenceTransformerEmbedder(num_threads=args.threads))
        rows.append(run_plain("baseline: MiniLM + plain LogisticRegression", mini, data))
    table = markdown(rows)
    print(table)
    path = write_result("eval_intent", {"data": str(args.data), "split_sizes": sizes,
                                         "goals": {"banking77_accuracy": 0.90, "clinc150_oos_auroc": 0.92},
                                         "rows": rows, "peak_rss_mib": round(peak_rss_mib(), 1),
                                         "markdown": table})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
