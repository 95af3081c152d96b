"""Knowledge-base retrieval: dense vs keyword vs hybrid, on held-out bitext utterances and on the demo KB.

    python bench/eval_kb.py [--data ../shared/data] [--seed 0] [--test-share 0.3]

bitext (4,514 e-commerce utterances, 27 intents): per intent, a fixed-seed 30 % of the utterances is held
out as queries; the KB is built from the other 70 % (the training part). Three KB shapes, each answer being
the first training response of the intent:

* ``1/intent``   -- one entry per intent, the question being the intent name ("track order");
* ``5/intent``   -- five training utterances per intent as example questions;
* ``all/intent`` -- every training utterance as an example question (nearest-neighbour retrieval).

Metrics: hit@1 / hit@3 = the held-out utterance's intent is the top / among the top-3 topics. Modes, all
on the same KB and queries in the same run: dense only (fusion weight 0), keyword only (BM25 alone) and
hybrid (dense + w * keyword). w is tuned on a validation split carved out of the training part (KB from
80 % of it, queries from the other 20 %), never on the held-out test utterances; the library default
``KEYWORD_WEIGHT`` is reported too.

Demo KB: paraphrased English and Chinese questions written here (not the KB's own examples) -> hit@1 of
the topic and share answered in the question's language; plus a cross-lingual check (Chinese questions
against the English half of the KB only).

Embeddings are cached under ``bench/results/cache/`` (npz, keyed by text). Results: markdown table on
stdout, JSON in ``bench/results/eval_kb.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CACHE = Path(__file__).resolve().parent / "results" / "cache"


class CachedEmbedder:
    """Wraps an embedder and keeps every vector on disk, keyed by (kind, text).

    Embedding the 4,514 bitext utterances with e5 on two CPU threads takes minutes; reruns (and
    the tuning of the fusion weight) should not pay that again. The cache is a plain npz per kind
    (texts + vectors), never a pickle.
    """

    def __init__(self, inner, tag: str = "eval_kb") -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.tag = tag
        self._mem: dict[str, dict[str, np.ndarray]] = {}

    def _path(self, kind: str) -> Path:
        return CACHE / f"{self.tag}_{self.name}_{kind}.npz"

    def _table(self, kind: str) -> dict[str, np.ndarray]:
        if kind not in self._mem:
            table: dict[str, np.ndarray] = {}
            path = self._path(kind)
            if path.exists():
                with np.load(path, allow_pickle=False) as z:
                    for t, v in zip(z["texts"].tolist(), z["vecs"]):
                        table[t] = v
            self._mem[kind] = table
        return self._mem[kind]

    def _embed(self, texts: Sequence[str], kind: str) -> np.ndarray:
        table = self._table(kind)
        todo = list(dict.fromkeys(t for t in texts if t not in table))
        if todo:
            fn = self.inner.embed_queries if kind == "query" else self.inner.embed_passages
            for t, v in zip(todo, fn(todo)):
                table[t] = v
            CACHE.mkdir(parents=True, exist_ok=True)
            keys = list(table)
            np.savez(self._path(kind), texts=np.array(keys, dtype=str), vecs=np.stack([table[k] for k in keys]))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([table[t] for t in texts]).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "query")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "passage")


# --------------------------------------------------------------------------------------------- evaluation

from bench.common import DEFAULT_DATA, peak_rss_mib, write_result  # noqa: E402
from features.demo.knowledge_base import demo_knowledge_base  # noqa: E402
from models.chat.knowledge import KEYWORD_WEIGHT, KBEntry, KnowledgeBase, entries_from_records  # noqa: E402

BITEXT = "text/bitext-customer-support/bitext_customer_support_sample.csv"
WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)

#: Paraphrases of demo-KB topics written for this benchmark: (question, intent). Language = detected.
DEMO_QUERIES: list[tuple[str, str]] = [
    ("it's been a week, any idea when my stuff gets here?", "order_status"),
    ("can I see where the courier is with my box?", "order_status"),
    ("I want to send the shoes back, how does that work?", "return_item"),
    ("how quickly will the money be back in my account after a return?", "refund_timing"),
    ("the glass was shattered when I opened the parcel", "damaged_item"),
    ("one of the three things I bought wasn't in the box", "missing_item"),
    ("please deliver to my office instead of my home", "change_address"),
    ("I changed my mind, stop my purchase please", "cancel_order"),
    ("the checkout keeps rejecting my visa", "payment_failed"),
    ("the voucher I got by email gives an error", "discount_code"),
    ("what do you charge for delivery?", "shipping_cost"),
    ("the headphones died after 10 months, are they covered?", "warranty"),
    ("stop the bot, get me a real agent", "contact_human"),
    ("is anyone answering on Sunday?", "opening_hours"),
    ("I can't remember my login details", "password_reset"),
    ("I need a bill with my company's tax number", "invoice"),
    ("too small, I need a larger one", "exchange_size"),
    ("can you post to Canada?", "international_shipping"),
    ("我的快递走到哪儿了？一周了还没到", "order_status"),
    ("我想把鞋子寄回去，怎么操作？", "return_item"),
    ("退货以后多久能收到钱？", "refund_timing"),
    ("打开箱子发现杯子碎了", "damaged_item"),
    ("买了三样东西，箱子里只有两样", "missing_item"),
    ("能不能改成寄到我公司？", "change_address"),
    ("不想要了，帮我把订单撤销", "cancel_order"),
    ("付款的时候银行卡一直支付不成功", "payment_failed"),
    ("邮件里收到的优惠券提示无效", "discount_code"),
    ("寄快递要收多少钱？", "shipping_cost"),
    ("耳机用了十个月就坏了，能保修吗？", "warranty"),
    ("别让机器人回复了，我要跟真人沟通", "contact_human"),
    ("星期天有人在线吗？", "opening_hours"),
    ("登录密码记不得了", "password_reset"),
    ("我要开一张带公司税号的发票", "invoice"),
    ("衣服小了，能换大一号吗？", "exchange_size"),
    ("可以寄到加拿大吗？", "international_shipping"),
]


def split_per_intent(frame, share: float, seed: int):
    """Fixed-seed stratified split: ``share`` of each intent's rows go to the second part."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for _, group in frame.groupby("intent", sort=True):
        idx = group.index.to_numpy().copy()
        rng.shuffle(idx)
        n_out = int(round(share * len(idx)))
        second.extend(idx[:n_out])
        first.extend(idx[n_out:])
    return frame.loc[sorted(first)], frame.loc[sorted(second)]


def bitext_entries(train, shape: str, seed: int) -> list[KBEntry]:
    """KB entries for one KB shape (see the module docstring); the answer is the intent's first training response."""
    rng = np.random.default_rng(seed)
    entries: list[KBEntry] = []
    for intent, group in train.groupby("intent", sort=True):
        answer = str(group["response"].iloc[0])
        category = str(group["category"].iloc[0])
        if shape == "1/intent":
            questions = [intent.replace("_", " ")]
        else:
            texts = list(dict.fromkeys(group["instruction"].astype(str)))
            if shape == "5/intent":
                texts = [texts[i] for i in sorted(rng.choice(len(texts), size=min(5, len(texts)), replace=False))]
            questions = texts
        entries += [KBEntry(f"{intent}-{i}", q, answer, "en", intent, category) for i, q in enumerate(questions)]
    return entries


def score_queries(kb: KnowledgeBase, queries: Sequence[str], embedder) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-query (dense, keyword) entry scores, embedding all queries in one batch first (cache-friendly)."""
    embedder.embed_queries(list(queries))
    return [kb.entry_scores(q, embedder) for q in queries]


def hits_at(kb: KnowledgeBase, scores, gold: Sequence[str], mode: str, weight: float, languages=None) -> dict:
    """hit@1, hit@3 (and, with ``languages``, the share of top hits in the query's language) for one mode."""
    h1 = h3 = same = 0
    for i, ((dense, keyword), want) in enumerate(zip(scores, gold)):
        lang = languages[i] if languages else "en"
        if mode == "dense":
            hits = kb.rank(dense, keyword, 3, lang, keyword_weight=0.0)
        elif mode == "keyword":
            hits = kb.rank(np.zeros_like(dense), keyword, 3, lang, keyword_weight=1.0)
        else:
            hits = kb.rank(dense, keyword, 3, lang, keyword_weight=weight)
        intents = [h.entry.intent for h in hits]
        h1 += intents[0] == want
        h3 += want in intents
        same += hits[0].entry.language == lang
    n = len(gold)
    out = {"hit@1": h1 / n, "hit@3": h3 / n, "n": n}
    if languages:
        out["answer_in_query_language"] = same / n
    return out


def tune_weight(train, seed: int, shape: str, embedder) -> tuple[float, dict]:
    """Pick the fusion weight with the best validation hit@1 (ties -> the smaller weight)."""

    fit, val = split_per_intent(train, 0.2, seed + 1)
    kb = KnowledgeBase.build(bitext_entries(fit, shape, seed), embedder)
    scores = score_queries(kb, val["instruction"].astype(str).tolist(), embedder)
    gold = val["intent"].tolist()
    curve = {w: hits_at(kb, scores, gold, "hybrid", w)["hit@1"] for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (curve[w], -w))
    return best, {str(w): round(v, 4) for w, v in curve.items()}


def eval_bitext(data: Path, seed: int, test_share: float, embedder) -> dict:
    import pandas as pd

    frame = pd.read_csv(data / BITEXT)
    train, test = split_per_intent(frame, test_share, seed)
    queries = test["instruction"].astype(str).tolist()
    gold = test["intent"].tolist()
    results = {"n_train": len(train), "n_test": len(test), "intents": int(frame["intent"].nunique()), "shapes": {}}
    for shape in ("1/intent", "5/intent", "all/intent"):
        t0 = time.perf_counter()
        best_w, curve = tune_weight(train, seed, shape, embedder)
        kb = KnowledgeBase.build(bitext_entries(train, shape, seed), embedder)
        scores = score_queries(kb, queries, embedder)
        rows = {
            "dense": hits_at(kb, scores, gold, "dense", 0.0),
            "keyword": hits_at(kb, scores, gold, "keyword", 0.0),
            f"hybrid (w={best_w}, tuned)": hits_at(kb, scores, gold, "hybrid", best_w),
            f"hybrid (w={KEYWORD_WEIGHT}, default)": hits_at(kb, scores, gold, "hybrid", KEYWORD_WEIGHT),
        }
        results["shapes"][shape] = {"kb_entries": len(kb), "tuned_weight": best_w, "validation_hit@1_by_weight": curve,
                                    "modes": rows, "seconds": round(time.perf_counter() - t0, 1)}
    return results


def eval_demo(embedder, weight: float) -> dict:
    from features.text.language import detect_language

    entries = entries_from_records(demo_knowledge_base())
    kb = KnowledgeBase.build(entries, embedder)
    queries = [q for q, _ in DEMO_QUERIES]
    gold = [g for _, g in DEMO_QUERIES]
    langs = [detect_language(q) for q in queries]
    scores = score_queries(kb, queries, embedder)
    out: dict = {"kb_entries": len(kb), "topics": len({e.intent for e in entries}), "by_language": {}}
    for lang in ("en", "zh"):
        idx = [i for i, l in enumerate(langs) if l == lang]
        sub = [scores[i] for i in idx]
        out["by_language"][lang] = {
            mode: hits_at(kb, sub, [gold[i] for i in idx], mode, weight, [langs[i] for i in idx])
            for mode in ("dense", "keyword", "hybrid")
        }
        out["by_language"][lang]["misses (hybrid)"] = [
            (queries[i], gold[i], kb.rank(*scores[i], 1, lang, weight)[0].entry.intent)
            for i in idx if kb.rank(*scores[i], 1, lang, weight)[0].entry.intent != gold[i]
        ]
    # cross-lingual: Chinese questions against the English half only
    en_kb = KnowledgeBase.build([e for e in entries if e.language == "en"], embedder)
    zh_idx = [i for i, l in enumerate(langs) if l == "zh"]
    zh_scores = score_queries(en_kb, [queries[i] for i in zh_idx], embedder)
    out["zh_questions_vs_english_only_kb"] = {
        mode: hits_at(en_kb, zh_scores, [gold[i] for i in zh_idx], mode, weight) for mode in ("dense", "keyword", "hybrid")
    }
    return out


def markdown(bitext: dict, demo: dict) -> str:
    lines = ["| data | KB | mode | hit@1 | hit@3 | n |", "|---|---|---|---|---|---|"]
    for shape, res in bitext["shapes"].items():
        for mode, m in res["modes"].items():
            lines.append(f"| bitext held-out | {shape} ({res['kb_entries']} entries) | {mode} | {m['hit@1']:.3f} | "
                         f"{m['hit@3']:.3f} | {m['n']} |")
    for lang, res in demo["by_language"].items():
        for mode in ("dense", "keyword", "hybrid"):
            m = res[mode]
            lines.append(f"| demo paraphrases {lang} | demo en+zh ({demo['kb_entries']}) | {mode} | {m['hit@1']:.3f} | "
                         f"{m['hit@3']:.3f} | {m['n']} |")
    for mode, m in demo["zh_questions_vs_english_only_kb"].items():
        lines.append(f"| demo zh -> en-only KB | cross-lingual | {mode} | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['n']} |")
    lang_lines = [f"- demo {lang}: top answer in the question's language "
                  f"{res['hybrid']['answer_in_query_language']:.3f} (hybrid)" for lang, res in demo["by_language"].items()]
    return "\n".join(lines + [""] + lang_lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not (args.data / BITEXT).exists():
        sys.exit(f"bitext not found at {args.data / BITEXT}")
    from features.text.embedder import make_embedder

    embedder = CachedEmbedder(make_embedder("e5", num_threads=args.threads))
    t0 = time.perf_counter()
    bitext = eval_bitext(args.data, args.seed, args.test_share, embedder)
    demo = eval_demo(embedder, KEYWORD_WEIGHT)
    table = markdown(bitext, demo)
    print(table)
    for lang, res in demo["by_language"].items():
        for miss in res["misses (hybrid)"]:
            print(f"  demo miss ({lang}): {miss[0]!r} expected {miss[1]}, got {miss[2]}")
    path = write_result("eval_kb", {
        "embedder": "e5 (multilingual-e5-small)", "seed": args.seed, "test_share": args.test_share,
        "library_keyword_weight": KEYWORD_WEIGHT, "bitext": bitext, "demo": demo, "markdown": table,
        "seconds": round(time.perf_counter() - t0, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
