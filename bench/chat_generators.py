"""Reply generators for grounded chat: speed, memory and fact keeping of template vs. the local llama.cpp model.

    python bench/chat_generators.py [--backends template local:2 local:1] [--budget 4] [--cache-dir DIR] [--show]

Cases: ten fact-bearing replies (five English, five Chinese) built from the demo knowledge base
(``features/demo/knowledge_base.py``) with made-up order ids, dates and customer names filled in, each with the
facts ``required_facts`` finds. Each backend runs in its own subprocess, so its load time and peak RSS are its own.
Per backend:

* ``load_s``: constructing the generator (local: join + sha256 check of the 470 MiB file + llama.cpp load).
* One warm-up reply (not counted): a service answers many requests, so llama.cpp's cached system prefix is warm.
* Raw pass, generous budget (``--raw-budget``, 60 s): first-piece latency, full reply time, and whether the
  model's own reply kept every fact (``missing_facts``) -- how often the model alone can be trusted. Replies
  the raw budget cut off (only on a machine busy with other work) are counted apart as "unfinished".
* Checked pass with the serving budget (``--budget``): ``generate_checked``; the share of sent replies that
  keep every fact (1.0 by construction: failures fall back to the template), the fallback rate and reasons.

The template backend is the baseline measured in the same run (these machines are shared and noisy). A
markdown table is printed; JSON (with every reply, all synthetic) goes to ``bench/results/chat_generators.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, peak_rss_mib, write_result  # noqa: E402

# (intent, language, customer name, slot values); made-up orders, the demo KB's own answers
_ORDER_EN = {"Order Number": "O-1042", "Order Items": "Blue Kettle", "Order Status": "on its way",
             "Delivery Date": "2026-05-03"}
_ORDER_ZH = {"Order Number": "O-20931", "Order Items": "保温杯", "Order Status": "正在配送中",
             "Delivery Date": "2026-06-12"}
_CASES = [
    ("order_status", "en", "Anna", _ORDER_EN),
    ("shipping_cost", "en", None, {}),
    ("refund_timing", "en", "Ben", {}),
    ("contact_human", "en", "Chloe", {}),
    ("warranty", "en", "David", {"Order Number": "KF-88213"}),
    ("order_status", "zh", "王芳", _ORDER_ZH),
    ("return_item", "zh", "李雷", {}),
    ("refund_timing", "zh", None, {}),
    ("cancel_order", "zh", "张伟", {}),
    ("damaged_item", "zh", "陈静", {"Order Number": "O-77310"}),
]


def build_cases() -> list:
    """GroundedReply cases from the demo KB: the topic's first question as the message, the filled answer."""
    from features.demo.knowledge_base import demo_knowledge_base
    from models.chat.generator import GroundedReply
    from models.chat.grounding import required_facts
    from models.chat.knowledge import fill

    rows = {(r["intent"], r["language"]): r for r in demo_knowledge_base()}
    cases = []
    for intent, lang, name, values in _CASES:
        row = rows[(intent, lang)]
        answer, unfilled = fill(row["answer"], values)
        assert not unfilled, (intent, lang, unfilled)
        cases.append(GroundedReply(language=lang, message=row["questions"][0], answer=answer,
                                   facts=required_facts(answer, values), customer_name=name))
    return cases


def _warmup():
    from models.chat.generator import GroundedReply

    return GroundedReply(language="en", message="hello", answer="Hello! How can I help you today?")


def _make(spec: str, cache_dir: Path):
    from models.chat.generator import make_generator

    backend, _, threads = spec.partition(":")
    return make_generator(backend, cache_dir=cache_dir, threads=int(threads or 1))


def _raw(generator, request, budget: float) -> dict:
    """The backend's own reply, unchecked: time to the first piece and to the end, and the facts it lost."""
    from models.chat.grounding import missing_facts

    started = time.monotonic()
    first = None
    pieces = []
    error = None
    try:
        for piece in generator.stream(request, started + budget):
            if first is None and piece:
                first = time.monotonic() - started
            pieces.append(piece)
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
        error = type(exc).__name__
    text = "".join(pieces).strip()
    return {"first_piece_s": first, "total_s": time.monotonic() - started, "text": text, "error": error,
            "missing": missing_facts(text, request.facts) if text else list(request.facts)}


def run_child(spec: str, budget: float, raw_budget: float, cache_dir: Path) -> dict:
    """One backend in this process: load, warm up, raw pass, checked pass."""
    from models.chat.grounding import generate_checked, missing_facts

    cases = build_cases()
    warmup = _warmup()  # not one of the cases, so no case finds its whole prompt cached
    started = time.monotonic()
    generator = _make(spec, cache_dir)
    load_s = time.monotonic() - started
    warm = _raw(generator, warmup, raw_budget)
    raw = [_raw(generator, c, raw_budget) for c in cases]
    checked = [generate_checked(generator, c, budget) for c in cases]
    return {
        "backend": spec, "generator": generator.name, "load_s": load_s, "warmup_s": warm["total_s"],
        "raw": [{**r, "language": c.language, "facts": list(c.facts)} for r, c in zip(raw, cases, strict=True)],
        "checked": [{"text": r.text, "generator": r.generator, "fell_back": r.fell_back,
                     "fallback_reason": r.fallback_reason, "missing": list(r.missing),
                     "first_piece_s": r.first_piece_s, "total_s": r.total_s,
                     "kept_all": not missing_facts(r.text, c.facts)} for r, c in zip(checked, cases, strict=True)],
        "peak_rss_mib": peak_rss_mib(),
    }


def _pct(values: list[float], q: float) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarise(child: dict) -> dict:
    raw, checked = child["raw"], child["checked"]
    done = [r for r in raw if not r["error"]]  # a reply cut by the raw budget says nothing about the model
    by_lang = {lang: [r for r in done if r["language"] == lang] for lang in ("en", "zh")}
    return {
        "backend": child["backend"], "generator": child["generator"], "load_s": round(child["load_s"], 2),
        "first_piece_p50_s": _round(_pct([r["first_piece_s"] for r in raw], 50)),
        "reply_p50_s": _round(_pct([r["total_s"] for r in raw], 50)),
        "reply_p95_s": _round(_pct([r["total_s"] for r in raw], 95)),
        "raw_unfinished": len(raw) - len(done),
        "kept_facts_raw": round(sum(not r["missing"] for r in done) / max(1, len(done)), 2),
        "kept_facts_raw_en": round(sum(not r["missing"] for r in by_lang["en"]) / max(1, len(by_lang["en"])), 2),
        "kept_facts_raw_zh": round(sum(not r["missing"] for r in by_lang["zh"]) / max(1, len(by_lang["zh"])), 2),
        "kept_facts_checked": round(sum(c["kept_all"] for c in checked) / len(checked), 2),
        "model_reply_sent": round(sum(not c["fell_back"] for c in checked) / len(checked), 2),
        "checked_p50_s": _round(_pct([c["total_s"] for c in checked], 50)),
        "checked_p95_s": _round(_pct([c["total_s"] for c in checked], 95)),
        "fallbacks": dict(Counter(c["fallback_reason"] for c in checked if c["fell_back"])),
        "peak_rss_mib": round(child["peak_rss_mib"]),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.3g}")


def markdown(rows: list[dict], budget: float) -> str:
    head = ("| backend | load s | first piece p50 s | reply p50 / p95 s | kept every fact: model alone (en / zh) "
            f"| after check ({budget:g} s budget) | checked reply p50 / p95 s | model reply sent | fallbacks "
            "| peak RSS MiB |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        unfinished = f", {r['raw_unfinished']} unfinished" if r["raw_unfinished"] else ""
        lines.append(
            f"| {r['generator']} ({r['backend']}) | {r['load_s']} | {r['first_piece_p50_s']} | "
            f"{r['reply_p50_s']} / {r['reply_p95_s']} | {r['kept_facts_raw']} ({r['kept_facts_raw_en']} / "
            f"{r['kept_facts_raw_zh']}){unfinished} | {r['kept_facts_checked']} | "
            f"{r['checked_p50_s']} / {r['checked_p95_s']} | {r['model_reply_sent']} | "
            f"{r['fallbacks'] or '-'} | {r['peak_rss_mib']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["template", "local:2", "local:1"],
                    help="template, local:<threads>, each run in its own process")
    ap.add_argument("--budget", type=float, default=4.0, help="serving budget for generate_checked, seconds")
    ap.add_argument("--raw-budget", type=float, default=60.0, help="budget for the unchecked pass, seconds")
    ap.add_argument("--cache-dir", type=Path, default=RESULTS / "cache" / "llm", help="where the joined model goes")
    ap.add_argument("--show", action="store_true", help="print every reply")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(run_child(args.child, args.budget, args.raw_budget, args.cache_dir)))
        return 0

    children, rows = [], []
    for spec in args.backends:
        cmd = [sys.executable, __file__, "--child", spec, "--budget", str(args.budget),
               "--raw-budget", str(args.raw_budget), "--cache-dir", str(args.cache_dir)]
        env = {**os.environ, "OMP_NUM_THREADS": spec.partition(":")[2] or "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"{spec}: failed with exit code {proc.returncode}\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        children.append(child)
        rows.append(summarise(child))
        if args.show:
            for r, c in zip(child["raw"], child["checked"], strict=True):
                flag = "ok" if not r["missing"] else f"missing {r['missing']}"
                print(f"[{spec} {r['language']} {r['total_s']:.1f}s {flag}] {r['text']!r}\n"
                      f"    sent ({c['generator']}): {c['text']!r}")
    table = markdown(rows, args.budget)
    print(table)
    path = write_result("chat_generators", {"command": " ".join(["python", "bench/chat_generators.py", *sys.argv[1:]]),
                                            "budget_s": args.budget, "summary": rows, "markdown": table,
                                            "runs": children})
    print(f"\nwrote {path}")
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
