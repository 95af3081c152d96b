"""Scripted English and Chinese support conversations through the real chat service, per reply generator.

    python bench/eval_chat.py [--backends template,local] [--local-limit 40] [--local-budget 8] [--no-kb] [--show]
                              [--world DIR]

The world: the app factory on SQLite in a temporary folder, a simulated shop (``--customers``, default 150)
with profiles and a trained recommender, the demo chat models (knowledge base, intents, sentiment:
``models.chat.jobs.setup_demo_chat_models``) and the hand-made customers of ``bench/chat_scripts.py`` with
known orders and high-risk audit rows. The conversations of ``bench/chat_scripts.py`` are sent turn by turn
to ``ChatService.respond`` (the service behind ``POST /v1/chat``; no HTTP, so the latency is the pipeline's).

Per backend (``template`` always first; ``local`` = ``LocalLlamaGenerator`` with 2 threads, budget
``--local-budget``, on a subset of ``--local-limit`` turns -- whole conversations alternating English and
Chinese, spread over the kinds of conversation -- after one warm-up reply; the template's numbers on the same
subset are reported beside it):

* intent accuracy per language (turn level; the predicted label is ``out_of_scope`` when the service says so);
* handoff precision / recall (turn level): a turn is positive when its expected reason is not None; a true
  positive needs the predicted reason to equal the expected one ("strict"); "any reason" counts a handoff
  with another reason as found;
* the share of replies that contain every fact the script expects (and, for high-risk customers, none of
  the forbidden ones);
* generator fact keeping: ``fact_check.passed`` (the generated text kept every required fact, before any
  fallback) and the share of sent replies that contain every required fact after the check (the facts are
  taken from the request the service handed the generator); fallback reasons; timeouts; latency p50 / p95
  and turns slower than the budget;
* the reverse check the service does not make: fact-like strings (numbers, dates, ids, phones, e-mails) in a
  sent reply that appear nowhere in what the generator was given (answer, message, name, context, history),
  i.e. invented ones; and how many model replies went out with no required fact to check at all.

The numbers of one run are deterministic for ``template``; the local model's depend on the machine's load
(timeouts), so the JSON records the load average at start and end.

Also (unless ``--no-kb``) knowledge-base hit@1 on held-out bitext-customer-support utterances, by calling
``bench/eval_kb.py``'s ``eval_bitext`` (its embedding cache is shared).

A table is printed; JSON with every turn goes to ``bench/results/eval_chat.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chat_scripts import CONVERSATIONS, CUSTOMERS, HIGH_RISK, ITEMS, ORDERS, Conversation  # noqa: E402
from bench.common import DEFAULT_DATA, RESULTS, peak_rss_mib, print_table, write_result  # noqa: E402

LANGUAGES = ("en", "zh")


# ------------------------------------------------------------------------------------------------ world
@dataclass
class World:
    """Where the evaluation shop lives; every backend gets its own app on the same database and models."""

    folder: Path
    embedder: Any
    placed: dict[str, datetime]  # order id -> purchase time as stored
    simulated: dict[str, str]  # "@sim-en" / "@sim-zh" -> a simulated customer with purchases
    delivery_days: int = 5
    build_s: float = 0.0
    counts: dict = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'kefu.db'}"

    def config(self, **extra: Any) -> dict:
        return {"database_url": self.database_url, "data_dir": str(self.folder / "data"),
                "model_dir": str(self.folder / "models"), "log_level": "WARNING", "auth_cache_seconds": 0.0,
                "chat_delivery_days": self.delivery_days, **extra}


def save_world(world: World) -> None:
    """Write what a later run needs to reuse the world (``--world DIR``)."""
    (world.folder / "world.json").write_text(json.dumps({
        "placed": {k: v.isoformat() for k, v in world.placed.items()}, "simulated": world.simulated,
        "delivery_days": world.delivery_days, "build_s": world.build_s, "counts": world.counts}))


def load_world(folder: Path, embedder: Any) -> World | None:
    """A world built earlier in ``folder`` (order statuses age with it: reuse it the same day), or None."""
    path = Path(folder) / "world.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return World(Path(folder), embedder, {k: datetime.fromisoformat(v) for k, v in data["placed"].items()},
                 data["simulated"], data["delivery_days"], data["build_s"], data["counts"])


def build_world(folder: Path, embedder: Any, *, n_customers: int = 150, seed: int = 11, recommender: bool = True,
                chat_models: str = "demo", echo: Callable[[str], Any] = print) -> World:
    """Store the shop, train what the chat needs, add the hand-made customers.

    For quick tests only: ``recommender=False`` skips the profiles and the recommender (recommendation turns
    then get the "no picks yet" answer); ``chat_models="kb"`` publishes only the demo knowledge base (no intent
    or sentiment model: the service then falls back to retrieval and the anger lexicon)."""
    from features.storage.risk_audit import RiskAuditStore
    from models.chat.jobs import setup_demo_chat_models
    from service.app import create_app
    from service.demo import load_shop_into
    from service.pipelines.recommend import train_and_register

    started = time.perf_counter()
    world = World(Path(folder), embedder, {}, {})
    app = create_app(world.config(), embedder=embedder)
    state = app.extensions["kefu"]
    try:
        loaded = load_shop_into(state, n_customers=n_customers, seed=seed, echo=lambda _: None)
        shop = loaded["shop"]
        buyers = {e["customer_id"] for e in shop.events if e["type"] == "purchase"}
        for lang in LANGUAGES:
            found = next((c["customer_id"] for c in shop.customers
                          if c.get("language") == lang and c["customer_id"] in buyers), None)
            world.simulated[f"@sim-{lang}"] = found or shop.customers[0]["customer_id"]
        t = time.perf_counter()
        if recommender:
            state.extras["profiles"].rebuild_all()
            train_and_register(state)
        echo(f"shop: {len(shop.customers)} customers, {loaded['accepted']} events; "
             f"{'profiles + recommender' if recommender else 'no recommender'} in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        if chat_models == "demo":
            setup_demo_chat_models(state.extras["registry"], embedder, echo=lambda _: None)
        elif chat_models == "kb":
            from features.demo.knowledge_base import demo_knowledge_base
            from models.chat.jobs import import_knowledge_base

            import_knowledge_base(state.extras["registry"], demo_knowledge_base(), embedder, source="demo")
        else:
            raise ValueError(f"chat_models must be 'demo' or 'kb', got {chat_models!r}")
        echo(f"chat models ({chat_models}) ready in {time.perf_counter() - t:.1f} s")

        store = state.store
        store.upsert_customers(CUSTOMERS)
        store.upsert_items(ITEMS)
        now = datetime.utcnow()
        events = []
        for order_id, customer, days, lines in ORDERS:
            ts = now - timedelta(days=days)
            world.placed[order_id] = ts
            for n, (item, amount) in enumerate(lines):
                events.append({"event_id": f"eval-{order_id}-{n}", "type": "purchase", "customer_id": customer,
                               "ts": ts, "item_id": item, "order_id": order_id, "quantity": 1.0, "amount": amount,
                               "currency": "USD"})
        store.insert_events(events)
        RiskAuditStore(store.engine).record_scores([{
            "score_id": f"eval-risk-{cid}", "model": "transactions", "model_version": "v1", "customer_id": cid,
            "transaction_id": None, "score": 0.93 if decision == "decline" else 0.7, "decision": decision,
            "reasons": [], "features": {}, "request_id": None} for cid, decision in HIGH_RISK.items()])
        world.counts = {"customers": len(shop.customers) + len(CUSTOMERS), "events": loaded["accepted"] + len(events)}
    finally:
        state.extras["profile_refresher"].flush()
        state.store.engine.dispose()
    world.build_s = time.perf_counter() - started
    save_world(world)
    return world


# --------------------------------------------------------------------------------------------- running
class RecordingGenerator:
    """Passes every request to ``inner`` and keeps the last one: its ``facts`` are what the check required."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.last: Any = None

    def stream(self, request: Any, deadline: float) -> Iterator[str]:
        self.last = request
        return self.inner.stream(request, deadline)


def expected_facts(facts: Sequence[str], language: str, answer: dict, world: World) -> tuple[list[str], list[str]]:
    """(facts to look for, placeholders that could not be resolved) for one turn."""
    from models.chat.phrases import format_date

    out: list[str] = []
    unresolved: list[str] = []
    for fact in facts:
        if fact.startswith("{delivery:"):
            order = fact[len("{delivery:"):-1]
            out.append(format_date(world.placed[order] + timedelta(days=world.delivery_days), language))
        elif fact == "{recommendations}":
            names = [r.get("name") or r["item_id"] for r in answer.get("recommendations") or []]
            if names:
                out.extend(names)
            else:
                unresolved.append(fact)  # no recommendation returned: the fact cannot be in the reply
        else:
            out.append(fact)
    return out, unresolved


def run_conversations(app, world: World, conversations: Sequence[Conversation], recorder: RecordingGenerator,
                      show: bool = False) -> list[dict]:
    """Every turn of every conversation through ``ChatService.respond``; one record per turn."""
    from models.chat.grounding import invented_facts, missing_facts
    from service.pipelines.chat import ChatRequest

    chat = app.extensions["kefu"].extras["chat"]
    records: list[dict] = []
    for conv in conversations:
        customer = world.simulated.get(conv.customer, conv.customer)
        conversation_id = None
        for i, turn in enumerate(conv.turns):
            recorder.last = None
            started = time.perf_counter()
            answer = chat.respond(ChatRequest(customer, turn.message, conversation_id))
            latency = time.perf_counter() - started
            conversation_id = answer["conversation_id"]
            reply = answer["reply"] or ""
            request = recorder.last
            required = list(request.facts) if request is not None else []
            # fact-like strings (numbers, dates, ids, phones, e-mails) in the sent reply that appear nowhere in
            # what the generator was given: invented, since the check only asks that required facts are kept
            added = invented_facts(reply, request) if request is not None else []
            facts, unresolved = expected_facts(turn.facts, conv.language, answer, world)
            missing = missing_facts(reply, facts) + unresolved
            forbidden = [f for f in turn.forbid if not missing_facts(reply, [f])]
            intent = answer["intent"]
            predicted = "out_of_scope" if intent["out_of_scope"] else intent["name"]
            check = answer["fact_check"] or {}
            record = {
                "conversation": conv.cid, "turn": i, "language": conv.language, "customer": customer,
                "tags": list(conv.tags), "message": turn.message,
                "expected_intent": turn.intent, "predicted_intent": predicted,
                "intent_confidence": intent.get("confidence"), "intent_ok": predicted == turn.intent,
                "top_source": (answer["sources"] or [{}])[0].get("intent"), "sentiment": answer["sentiment"],
                "reply_language": answer["language"],
                "expected_handoff": turn.handoff, "predicted_handoff": answer["handoff"]["reason"],
                "expected_facts": facts + unresolved, "missing_expected": missing, "forbid": list(turn.forbid),
                "forbidden_found": forbidden,
                "facts_ok": not missing, "forbid_ok": not forbidden,
                "reply": reply, "generator": answer["generator"], "fact_check_passed": bool(check.get("passed")),
                "fallback_reason": check.get("fallback_reason"), "generator_missing": check.get("missing") or [],
                "reached_model": request is not None,
                "required_facts": required, "required_kept_after_check": not missing_facts(reply, required),
                "added_facts": added,
                "slots": answer["slots"], "recommendations": [r.get("name") or r["item_id"]
                                                              for r in answer["recommendations"]],
                "latency_s": round(latency, 4), "over_budget": latency > chat.budget_s,
            }
            records.append(record)
            if show:
                flags = "".join([" intent!" if not record["intent_ok"] else "",
                                 " handoff!" if turn.handoff != record["predicted_handoff"] else "",
                                 f" missing {missing}" if missing else "",
                                 f" FORBIDDEN {forbidden}" if forbidden else ""])
                print(f"[{conv.cid} #{i} {latency:.2f}s] {turn.message!r} -> {predicted} / "
                      f"{record['predicted_handoff']}{flags}\n    {answer['generator']}: {reply!r}")
    return records


def evaluate(world: World, conversations: Sequence[Conversation], generator: Any, *, budget_s: float = 3.0,
             show: bool = False, warmup: bool = False) -> dict:
    """One backend: a fresh app on the world's database with ``generator``; returns records and summary."""
    from service.app import create_app

    recorder = RecordingGenerator(generator)
    app = create_app(world.config(chat_budget_seconds=budget_s), embedder=world.embedder, generator=recorder)
    state = app.extensions["kefu"]
    warmup_s = None
    try:
        if warmup:  # a service answers many requests: llama.cpp's cached prompt prefix is warm in steady state
            from service.pipelines.chat import ChatRequest

            t = time.perf_counter()
            state.extras["chat"].respond(ChatRequest("c-new", "How long is the warranty on your products?"))
            warmup_s = round(time.perf_counter() - t, 2)
        started = time.perf_counter()
        records = run_conversations(app, world, conversations, recorder, show=show)
        seconds = time.perf_counter() - started
    finally:
        state.extras["profile_refresher"].flush()
        state.store.engine.dispose()
    return {"generator": generator.name, "budget_s": budget_s, "warmup_s": warmup_s,
            "seconds": round(seconds, 1), "records": records, "summary": summarise(records)}


# -------------------------------------------------------------------------------------------- metrics
def _share(ok: int, n: int) -> float | None:
    return round(ok / n, 4) if n else None


def _pct(values: list[float], q: int) -> float | None:
    values = sorted(values)
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)


def summarise(records: list[dict]) -> dict:
    out: dict[str, Any] = {"turns": len(records), "conversations": len({r["conversation"] for r in records})}
    out["intent_accuracy"] = {"all": _share(sum(r["intent_ok"] for r in records), len(records)), "n": len(records)}
    for lang in LANGUAGES:
        sub = [r for r in records if r["language"] == lang]
        out["intent_accuracy"][lang] = _share(sum(r["intent_ok"] for r in sub), len(sub))
        out["intent_accuracy"][f"n_{lang}"] = len(sub)

    expected = [r for r in records if r["expected_handoff"] is not None]
    predicted = [r for r in records if r["predicted_handoff"] is not None]
    strict = sum(r["predicted_handoff"] == r["expected_handoff"] for r in expected)
    found = sum(r["predicted_handoff"] is not None for r in expected)
    out["handoff"] = {
        "expected_positive": len(expected), "predicted_positive": len(predicted), "true_positive_strict": strict,
        "precision_strict": _share(strict, len(predicted)), "recall_strict": _share(strict, len(expected)),
        "precision_any_reason": _share(found, len(predicted)), "recall_any_reason": _share(found, len(expected)),
        "false_handoffs": [(r["conversation"], r["turn"], r["message"], r["predicted_handoff"])
                           for r in records if r["expected_handoff"] is None and r["predicted_handoff"] is not None],
        "missed_or_wrong": [(r["conversation"], r["turn"], r["message"], r["expected_handoff"], r["predicted_handoff"])
                            for r in expected if r["predicted_handoff"] != r["expected_handoff"]],
        "by_reason": {reason: {"expected": sum(r["expected_handoff"] == reason for r in records),
                               "predicted": sum(r["predicted_handoff"] == reason for r in records),
                               "both": sum(r["expected_handoff"] == reason == r["predicted_handoff"] for r in records)}
                      for reason in sorted(({r["expected_handoff"] for r in records}
                                            | {r["predicted_handoff"] for r in records}) - {None})},
    }
    with_facts = [r for r in records if r["expected_facts"]]
    with_forbid = [r for r in records if r["forbid"]]
    out["expected_facts"] = {"turns_with_facts": len(with_facts),
                             "all_present": _share(sum(r["facts_ok"] for r in with_facts), len(with_facts)),
                             "all_turns_all_present": _share(sum(r["facts_ok"] for r in records), len(records))}
    for lang in LANGUAGES:
        sub = [r for r in with_facts if r["language"] == lang]
        out["expected_facts"][f"all_present_{lang}"] = _share(sum(r["facts_ok"] for r in sub), len(sub))
    out["forbidden_absent"] = {"turns": len(with_forbid),
                               "share": _share(sum(r["forbid_ok"] for r in with_forbid), len(with_forbid))}
    out["reply_in_conversation_language"] = _share(sum(r["reply_language"] == r["language"] for r in records),
                                                   len(records))
    reasons = Counter(r["fallback_reason"] for r in records if r["fallback_reason"])
    # Only filled knowledge-base answers of customers who are not high-risk reach the generator; handoffs,
    # questions back and small talk are the bot's own sentences (the template), so the rates below are over
    # the turns that reached it.
    reached = [r for r in records if r["reached_model"]]
    out["generator"] = {
        "turns_sent_to_generator": len(reached),
        "kept_facts_before_fallback": _share(sum(r["fact_check_passed"] for r in reached), len(reached)),
        "kept_facts_after_check": _share(sum(r["required_kept_after_check"] for r in records), len(records)),
        "fallbacks": dict(reasons), "timeouts": reasons.get("timeout", 0),
        "turns_with_required_facts": sum(bool(r["required_facts"]) for r in records),
        "model_replies_sent": sum(r["fact_check_passed"] for r in reached),
        "model_replies_sent_without_required_facts": sum(r["fact_check_passed"] and not r["required_facts"]
                                                         for r in reached),
        "replies_with_added_facts": _share(sum(bool(r["added_facts"]) for r in records), len(records)),
        "added_facts": [(r["conversation"], r["turn"], r["added_facts"], r["reply"])
                        for r in records if r["added_facts"]],
    }
    lat = [r["latency_s"] for r in records]
    out["latency_s"] = {"p50": _pct(lat, 50), "p95": _pct(lat, 95), "max": round(max(lat), 3) if lat else None,
                        "turns_over_budget": sum(r["over_budget"] for r in records)}
    out["misclassified"] = [(r["conversation"], r["turn"], r["message"], r["expected_intent"], r["predicted_intent"],
                             r["intent_confidence"]) for r in records if not r["intent_ok"]]
    out["facts_missing"] = [(r["conversation"], r["turn"], r["message"], r["missing_expected"])
                            for r in records if not r["facts_ok"]]
    return out


def _spread(conversations: Sequence[Conversation]) -> list[Conversation]:
    """Round-robin over the conversations' tag sets (order, order + slot carry-over, handoff + high risk, ...),
    script order within a set, so that any prefix covers many kinds of conversation."""
    groups: dict[tuple[str, ...], list[Conversation]] = {}
    for c in conversations:
        groups.setdefault(c.tags, []).append(c)
    out: list[Conversation] = []
    while any(groups.values()):
        for queue in groups.values():
            if queue:
                out.append(queue.pop(0))
    return out


def local_subset(conversations: Sequence[Conversation], limit: int) -> list[Conversation]:
    """Whole conversations, alternating English and Chinese and spread over the kinds of conversation
    (:func:`_spread`), up to ``limit`` turns in all; returned in script order."""
    queues = {lang: _spread([c for c in conversations if c.language == lang]) for lang in LANGUAGES}
    chosen: list[Conversation] = []
    total = 0
    while any(queues.values()):
        for lang in LANGUAGES:
            while queues[lang]:
                conv = queues[lang].pop(0)
                if total + len(conv.turns) <= limit:
                    chosen.append(conv)
                    total += len(conv.turns)
                    break
    order = {c.cid: i for i, c in enumerate(conversations)}
    return sorted(chosen, key=lambda c: order[c.cid])


# --------------------------------------------------------------------------------------------- output
def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown(runs: dict[str, dict]) -> str:
    cols = list(runs)
    rows: list[tuple[str, Callable[[dict], Any]]] = [
        ("conversations / turns", lambda s: f"{s['conversations']} / {s['turns']}"),
        ("intent accuracy en", lambda s: f"{_f(s['intent_accuracy']['en'])} (n={s['intent_accuracy']['n_en']})"),
        ("intent accuracy zh", lambda s: f"{_f(s['intent_accuracy']['zh'])} (n={s['intent_accuracy']['n_zh']})"),
        ("intent accuracy all", lambda s: _f(s["intent_accuracy"]["all"])),
        ("handoff precision (strict)", lambda s: _f(s["handoff"]["precision_strict"])),
        ("handoff recall (strict)", lambda s: _f(s["handoff"]["recall_strict"])),
        ("handoff precision / recall (any reason)",
         lambda s: f"{_f(s['handoff']['precision_any_reason'])} / {_f(s['handoff']['recall_any_reason'])}"),
        ("handoff expected / predicted turns",
         lambda s: f"{s['handoff']['expected_positive']} / {s['handoff']['predicted_positive']}"),
        ("replies with every expected fact", lambda s: f"{_f(s['expected_facts']['all_present'])} "
                                                     f"(n={s['expected_facts']['turns_with_facts']})"),
        ("  en / zh", lambda s: f"{_f(s['expected_facts']['all_present_en'])} / "
                                f"{_f(s['expected_facts']['all_present_zh'])}"),
        ("high-risk replies without refund promise", lambda s: f"{_f(s['forbidden_absent']['share'])} "
                                                             f"(n={s['forbidden_absent']['turns']})"),
        ("reply in the conversation's language", lambda s: _f(s["reply_in_conversation_language"])),
        ("generated text kept required facts (before fallback)",
         lambda s: _f(s["generator"]["kept_facts_before_fallback"])),
        ("sent reply kept required facts (after check)", lambda s: _f(s["generator"]["kept_facts_after_check"])),
        ("turns sent to the generator / replies it wrote that were sent / of them with no required fact",
         lambda s: f"{s['generator']['turns_sent_to_generator']} / {s['generator']['model_replies_sent']} / "
                   f"{s['generator']['model_replies_sent_without_required_facts']}"),
        ("sent replies with fact-like strings not given to the generator",
         lambda s: _f(s["generator"]["replies_with_added_facts"])),
        ("fallbacks", lambda s: ", ".join(f"{k} {v}" for k, v in s["generator"]["fallbacks"].items()) or "-"),
        ("timeouts", lambda s: str(s["generator"]["timeouts"])),
        ("latency per turn p50 / p95 / max s", lambda s: f"{_f(s['latency_s']['p50'])} / {_f(s['latency_s']['p95'])} "
                                                        f"/ {_f(s['latency_s']['max'])}"),
        ("turns slower than the budget", lambda s: str(s["latency_s"]["turns_over_budget"])),
    ]
    lines = ["| metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(get(runs[c]["summary"]) for c in cols) + " |")
    return "\n".join(lines)


def kb_markdown(bitext: dict) -> str:
    lines = ["| KB shape (bitext held-out) | mode | hit@1 | hit@3 | n |", "|---|---|---|---|---|"]
    for shape, res in bitext["shapes"].items():
        for mode, m in res["modes"].items():
            lines.append(f"| {shape} ({res['kb_entries']} entries) | {mode} | {m['hit@1']:.3f} | {m['hit@3']:.3f} "
                         f"| {m['n']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="template", help="comma-separated: template, local")
    ap.add_argument("--budget", type=float, default=3.0, help="chat_budget_seconds for the template run")
    ap.add_argument("--local-budget", type=float, default=8.0, help="chat_budget_seconds for the local run")
    ap.add_argument("--local-limit", type=int, default=40, help="turns for the local run (whole conversations)")
    ap.add_argument("--local-threads", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=RESULTS / "cache" / "llm", help="where the joined model goes")
    ap.add_argument("--customers", type=int, default=150)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2, help="embedder threads")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--no-kb", action="store_true", help="skip the bitext knowledge-base hit@1 (eval_kb.py)")
    ap.add_argument("--show", action="store_true", help="print every turn")
    ap.add_argument("--world", type=Path, help="keep the built shop in DIR and reuse it if it is there "
                                               "(for reruns on the same day; default: a temporary folder)")
    args = ap.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "template" not in backends:
        backends.insert(0, "template")

    from features.text.embedder import make_embedder
    from models.chat.generator import GeneratorUnavailable, TemplateGenerator, make_generator

    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]  # a shared machine: other work slows every number here
    embedder = make_embedder("e5", num_threads=args.threads)
    runs: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kefu-eval-chat-") as tmp:
        folder = args.world or Path(tmp)
        world = load_world(folder, embedder) if args.world else None
        if world is None:
            folder.mkdir(parents=True, exist_ok=True)
            world = build_world(folder, embedder, n_customers=args.customers, seed=args.seed)
            print(f"world built in {world.build_s:.1f} s")
        else:
            print(f"reusing the world in {folder}")
        for backend in backends:
            if backend == "template":
                runs["template"] = evaluate(world, CONVERSATIONS, TemplateGenerator(), budget_s=args.budget,
                                            show=args.show)
            elif backend == "local":
                try:
                    t = time.perf_counter()
                    generator = make_generator("local", cache_dir=args.cache_dir, threads=args.local_threads)
                    load_s = time.perf_counter() - t
                except (GeneratorUnavailable, ImportError, OSError, ValueError) as exc:
                    skipped["local"] = f"{type(exc).__name__}: {exc}"
                    print(f"local: skipped ({skipped['local']})", file=sys.stderr)
                    continue
                subset = local_subset(CONVERSATIONS, args.local_limit)
                run = evaluate(world, subset, generator, budget_s=args.local_budget, show=args.show, warmup=True)
                run["load_s"] = round(load_s, 2)
                runs["local"] = run
                ids = {c.cid for c in subset}
                same = [r for r in runs["template"]["records"] if r["conversation"] in ids]
                runs["template (local's subset)"] = {"generator": "template", "records": [],
                                                     "summary": summarise(same)}
            else:
                skipped[backend] = "unknown backend (template, local)"
                print(f"{backend}: unknown backend, skipped", file=sys.stderr)

    kb = None
    if not args.no_kb:
        from bench import eval_kb

        if (args.data / eval_kb.BITEXT).exists():
            t = time.perf_counter()
            kb = eval_kb.eval_bitext(args.data, 0, 0.3, eval_kb.CachedEmbedder(embedder))
            kb["seconds"] = round(time.perf_counter() - t, 1)
        else:
            skipped["kb"] = f"bitext not found at {args.data / eval_kb.BITEXT}"

    cols = ["template", "template (local's subset)", "local"]
    table = markdown({c: runs[c] for c in cols if c in runs})
    print(table)
    for name in ("template", "local"):
        if name not in runs:
            continue
        s = runs[name]["summary"]
        print(f"\n{name}: {len(s['misclassified'])} misclassified turns, {len(s['facts_missing'])} with missing facts, "
              f"{len(s['handoff']['false_handoffs'])} false handoffs, "
              f"{len(s['handoff']['missed_or_wrong'])} missed/wrong handoffs")
        for conv, turn, msg, want, got, conf in s["misclassified"]:
            print(f"  intent  {conv}#{turn}: {msg!r} expected {want}, got {got} ({conf})")
        for conv, turn, msg, missing in s["facts_missing"]:
            print(f"  facts   {conv}#{turn}: {msg!r} missing {missing}")
        for conv, turn, msg, got in s["handoff"]["false_handoffs"]:
            print(f"  handoff {conv}#{turn}: {msg!r} handed over ({got}), expected none")
        for conv, turn, msg, want, got in s["handoff"]["missed_or_wrong"]:
            print(f"  handoff {conv}#{turn}: {msg!r} expected {want}, got {got}")
        for r in runs[name]["records"]:
            if r["forbidden_found"]:
                print(f"  FORBIDDEN {r['conversation']}#{r['turn']}: {r['forbidden_found']} in {r['reply']!r}")
        for conv, turn, added, reply in s["generator"]["added_facts"]:
            print(f"  added   {conv}#{turn}: {added} in {reply!r}")
    if "local" in runs:
        r = runs["local"]
        print(f"\nlocal: model load {r['load_s']} s, warm-up reply {r['warmup_s']} s, "
              f"{r['summary']['turns']} turns in {r['seconds']} s, budget {r['budget_s']} s")
    kb_table = None
    if kb is not None:
        kb_table = kb_markdown(kb)
        print("\n" + kb_table)
    path = write_result("eval_chat", {
        "command": " ".join(["python", "bench/eval_chat.py", *(argv if argv is not None else sys.argv[1:])]),
        "world": {"customers": world.counts.get("customers"), "events": world.counts.get("events"),
                  "build_s": round(world.build_s, 1), "simulated_speakers": world.simulated},
        "skipped": skipped, "markdown": table, "kb_markdown": kb_table, "bitext_kb": kb,
        "runs": {name: {k: v for k, v in run.items()} for name, run in runs.items()},
        "seconds": round(time.perf_counter() - started, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
        "load_average_start": load_start, "load_average_end": [round(x, 2) for x in os.getloadavg()],
    })
    print(f"\nwrote {path}")
    print_table([("total seconds", f"{time.perf_counter() - started:.1f}")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
