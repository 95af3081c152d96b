"""One chat turn, end to end: understand, look up, decide, phrase, check, store.

1. Mask PII, detect the language, embed the message **once** (intent, sentiment and retrieval share the vector).
2. Load the conversation state; read slots (order number, product) from the message; they carry over turns.
3. Intent (with out-of-scope), sentiment/anger, knowledge-base retrieval; the customer's facts (name, tier,
   recent orders and their status, latest risk decision).
4. Handoff rules (``models.chat.dialogue.HandoffPolicy``); a conversation in handoff gets a holding reply.
5. The answer: the KB entry filled with the customer's facts (or a clarifying question when a needed fact is
   missing); product intents add recommendations from the recommendation capability. A reply that carries
   recommendations gets a ``recommendation_id``, and the list is logged with channel ``chat`` (the same
   buffered log as POST /v1/recommendations), so GET /v1/recommendations/performance measures it.
6. A generator phrases it; the fact check keeps every required fact or falls back to the filled answer.
7. The customer message, the reply and the state are stored (chat_messages + conversations) before the answer
   leaves; the profile (sentiment trend, recent intents, chat centroid) is refreshed in the background.

No Flask here: the HTTP layer (``service/api/chat.py``) calls :meth:`ChatService.respond` or
:meth:`ChatService.respond_stream`.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from features.errors import NotFound, NotReady
from features.orders import Order, recent_orders
from features.storage.conversations import PRIORITY_TIERS
from features.storage.store import utcnow
from features.text.embedder import encode_vector
from features.text.language import detect_language
from features.text.pii import mask_pii
from models.chat.dialogue import ConversationState, HandoffPolicy, delexicalise, small_talk
from models.chat.generator import Generator, GroundedReply, TemplateGenerator
from models.chat.grounding import GenerationResult, generate_checked, required_facts, stream_checked
from models.chat.knowledge import fill, placeholders
from models.chat.phrases import format_date, format_money, join_names, phrase, status_text, tier_text
from models.chat.sentiment import anger_cues
from models.registry import ModelNotFound
from service.ids import uuid7_hex
from service.metrics import chat_reply

log = logging.getLogger(__name__)

KB_MODEL, INTENT_MODEL, SENTIMENT_MODEL = "knowledge_base", "intents", "sentiment"
#: Retrieval hits shown as ``sources``.
SOURCES_K = 3
#: The intent model's answer wins over retrieval's top topic when it is at least this confident.
INTENT_OVER_RETRIEVAL = 0.5
#: Without an intent model, a retrieval score below this counts as out of scope.
MIN_RETRIEVAL_SCORE = 0.80
#: Categories of knowledge-base entries about products: replies to them carry recommendations.
PRODUCT_CATEGORIES = frozenset({"recommendation", "recommendations", "shopping"})
RECOMMENDATIONS_K = 3
HIGH_RISK_DECISIONS = frozenset({"review", "decline"})


@dataclass(frozen=True)
class ChatRequest:
    customer_id: str
    message: str
    conversation_id: str | None = None
    request_id: str | None = None       # the HTTP request's id, kept with a logged recommendation list
    context: dict | None = None         # what the customer looks at in the shop: {item_id, items} (recommendations)


@dataclass
class PreparedTurn:
    """Everything decided before generation; ``reply_request`` is what the generator phrases."""

    conversation: dict
    state: ConversationState
    language: str
    masked: str
    vector: np.ndarray | None
    intent: dict
    sentiment: dict
    handoff: dict
    sources: list[dict]
    recommendations: list[dict]
    reply_request: GroundedReply
    use_model: bool = False
    # the recommender's answer behind ``recommendations`` (model version, strategy) and the list's id; None
    # when the reply carries none
    recommendation: dict | None = None
    recommendation_id: str | None = None


class BackgroundRefresh:
    """Runs profile refreshes off the request thread, one batch at a time, ``delay_s`` after the first request.

    Why a delay: refreshing one customer's profile costs ~40 ms of CPU, twice the rest of a chat turn, and a
    refresh running beside the next request slowed it by as much. Waiting a moment lets the messages of a
    busy period collapse into one vectorised refresh. The events are committed (and the customers marked
    dirty) before the reply, so a crash here loses nothing: ``kefu profiles refresh`` or the next refresh heals
    it."""

    def __init__(self, refresh: Callable[[set[str]], Any], delay_s: float = 1.0) -> None:
        self._refresh = refresh
        self.delay_s = float(delay_s)
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._busy = False
        self._hurry = False
        self._thread: threading.Thread | None = None

    def submit(self, customers: set[str]) -> None:
        with self._cond:
            self._pending |= customers
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kefu-profile-refresh", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._cond.wait(timeout=5.0)
                    if not self._pending:
                        self._thread = None
                        return
                deadline = time.monotonic() + self.delay_s
                while not self._hurry and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(timeout=left)
                batch, self._pending = self._pending, set()
                self._busy = True
            try:
                self._refresh(batch)
            except Exception:  # noqa: BLE001 -- the dirty marks stay; a later refresh heals it
                log.exception("background profile refresh failed for %d customers", len(batch))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Run what is pending now and wait for it (tests, shutdown)."""
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)
            self._hurry = False


class ChatService:
    def __init__(self, *, store, conversations, models, embedder: Callable[[], Any], recommend,
                 risk_audit, generator: Generator, budget_s: float = 3.0, delivery_days: int = 5,
                 policy: HandoffPolicy | None = None, after_store: Callable[[set[str]], Any] | None = None,
                 recommend_log=None) -> None:
        """``recommend_log``: where the lists shown in replies are logged (a
        ``features.storage.recommend_log.RecommendationLog``); None logs nothing."""
        self.store = store
        self.conversations = conversations
        self.models = models
        self.embedder = embedder
        self.recommend = recommend
        self.risk_audit = risk_audit
        self.generator = generator
        self.budget_s = float(budget_s)
        self.delivery_days = int(delivery_days)
        self.policy = policy or HandoffPolicy()
        self.after_store = after_store
        self.recommend_log = recommend_log
        self._template = TemplateGenerator()

    # ------------------------------------------------------------------------------------------- models
    def _optional(self, name: str):
        try:
            return self.models.get(name)[0]
        except ModelNotFound:
            if name in self.models.registry.names():
                raise
            return None

    def _knowledge_base(self):
        kb = self._optional(KB_MODEL)
        if kb is None:
            raise NotReady("No knowledge base yet. Import one with `kefu kb import FILE` (or run `kefu demo`).")
        return kb

    # ------------------------------------------------------------------------------------------- public
    def respond(self, request: ChatRequest) -> dict:
        turn = self.prepare(request)
        result = generate_checked(self._generator(turn), turn.reply_request, self.budget_s)
        self._store(turn, request, result.text, customer_too=True)
        self._log_recommendations(turn, request)
        return self._answer(turn, result)

    def respond_stream(self, request: ChatRequest) -> Iterator[tuple[str, Any]]:
        """("meta", dict) first, then ("delta", text) pieces, maybe ("replace", text) when the check or the
        time budget replaced the generated text, and ("done", full answer). The customer's message is stored
        before the first event; the reply when it is complete."""
        turn = self.prepare(request)
        self._store(turn, request, None, customer_too=True)
        self._log_recommendations(turn, request)     # the meta event shows them
        yield "meta", self._answer(turn, None)
        result: GenerationResult | None = None
        for kind, value in stream_checked(self._generator(turn), turn.reply_request, self.budget_s):
            if kind == "done":
                result = value
            else:
                yield kind, value
        assert result is not None
        self._store(turn, request, result.text, customer_too=False)
        yield "done", self._answer(turn, result)

    def _generator(self, turn: PreparedTurn) -> Generator:
        return self.generator if turn.use_model else self._template

    # ------------------------------------------------------------------------------------------- steps
    def _conversation(self, request: ChatRequest) -> dict:
        """The stored conversation, or a new one (saved with the turn)."""
        if request.conversation_id:
            found = self.conversations.get(request.conversation_id)
            if found is not None:
                if found["customer_id"] != request.customer_id:
                    raise NotFound(f"no conversation {request.conversation_id!r} for customer {request.customer_id!r}")
                return found
        return {"conversation_id": request.conversation_id or f"conv_{uuid.uuid4().hex[:20]}",
                "customer_id": request.customer_id, "status": "bot", "handoff_reason": None,
                "state": {}, "turns": 0, "created_at": None}

    def prepare(self, request: ChatRequest) -> PreparedTurn:
        kb = self._knowledge_base()
        conversation = self._conversation(request)
        state = ConversationState.from_json(conversation.get("state"))
        masked = mask_pii(request.message).strip()
        customer = self.store.get_customer(request.customer_id) or {}
        language = detect_language(masked) if any(ch.isalpha() for ch in masked) else (
            conversation.get("language") or customer.get("language") or "en")
        if language not in kb.languages:
            language = customer.get("language") if customer.get("language") in kb.languages else sorted(kb.languages)[0]
        orders = recent_orders(self.store.engine, request.customer_id, delivery_days=self.delivery_days)
        products = {name for o in orders for name in o.items}
        found = state.update_slots(masked, [o.order_id for o in orders], products)
        understood = delexicalise(masked, found)

        embedder = self.embedder()
        vector = embedder.embed_queries([understood])[0] if understood else None
        chit_chat = small_talk(masked)
        intent = self._intent(understood, vector, kb, embedder, language)
        previous = next((t for r, t in reversed(state.history) if r == "customer"), None)
        if intent["out_of_scope"] and not chit_chat and previous and state.last_intent:
            # A follow-up ("and how fast is the express option?") often only makes sense with the turn before:
            # read the two together once; keep this turn's own reading if that does not help.
            joined = delexicalise(f"{previous} {masked}", state.slots)
            retry = self._intent(joined, embedder.embed_queries([joined])[0], kb, embedder, language)
            if not retry["out_of_scope"]:
                intent = retry
        if chit_chat:
            intent.update(name=chit_chat, confidence=1.0, out_of_scope=False, _entry=None)
        sentiment = self._sentiment(understood, vector)
        high_risk = self._high_risk(request.customer_id)
        reason = None
        if conversation["status"] == "handoff":
            reason = conversation.get("handoff_reason") or "customer_asked"
        else:
            reason = self.policy.decide(state, intent=intent["name"], out_of_scope=intent["out_of_scope"],
                                        angry=sentiment["angry"], text=masked, high_risk=high_risk)
        handoff = {"needed": reason is not None, "reason": reason}

        sources = intent.pop("_sources")
        recommendations: list[dict] = []
        recommended: dict | None = None
        facts: dict[str, str] = {}
        name = customer.get("name")
        grounded = False  # a filled knowledge-base answer (a model may phrase it); else the bot's own sentence
        if conversation["status"] == "handoff":
            answer = phrase("handoff.waiting", language)
        elif reason is not None:
            answer = phrase(f"handoff.{reason}", language)
            tier = str(customer.get("tier") or "").lower()
            if tier in PRIORITY_TIERS:  # the agent queue puts them first (ConversationStore.list)
                answer = f"{answer}{'' if language == 'zh' else ' '}{phrase('handoff.priority', language, tier=tier_text(tier, language))}"
        elif intent["out_of_scope"]:
            answer = phrase("out_of_scope", language)
        elif chit_chat:
            answer = phrase(chit_chat, language)
        else:
            entry = intent.pop("_entry")
            slots = {p.lower().replace(" ", "") for p in placeholders(entry.answer)}
            extra: dict[str, str] = {}
            if (entry.category or "").lower() in PRODUCT_CATEGORIES or "recommendations" in slots:
                recommended = self._recommendations(request.customer_id, request.context)
                recommendations = recommended["items"] if recommended else []
                names = [r["name"] or r["item_id"] for r in recommendations]
                if names:
                    extra = {f"Recommended {i + 1}": n for i, n in enumerate(names)}
                    extra["Recommendations"] = join_names(names, language)
            answer, facts, grounded = self._fill(entry.answer, state, orders, customer, language, extra)
            if extra and "recommendations" not in slots:
                answer = f"{answer} {phrase('recommendations', language, items=extra['Recommendations'])}"
        intent.pop("_entry", None)
        state.last_intent = None if intent["out_of_scope"] else intent["name"]
        state.remember("customer", masked)
        context = self._context(customer, orders, high_risk, language)
        reply_request = GroundedReply(
            language=language, message=masked, answer=answer, facts=required_facts(answer, facts),
            customer_name=name or None, context=context,
            history=tuple((r, t) for r, t in state.history[:-1]))
        conversation = {**conversation, "language": language,
                        "status": "handoff" if reason is not None else conversation["status"],
                        "handoff_reason": reason, "turns": int(conversation["turns"]) + 1}
        # Only a filled knowledge-base answer goes to a language model, and never for a high-risk customer: the
        # fact check cannot vouch for a sentence with no facts in it (a handoff, a question), and a small model
        # once turned a handoff into a refund promise.
        use_model = grounded and not high_risk
        shown = bool(recommendations)
        return PreparedTurn(conversation, state, language, masked, vector, intent, sentiment, handoff, sources,
                            recommendations, reply_request, use_model, recommendation=recommended if shown else None,
                            recommendation_id=uuid7_hex() if shown else None)

    def _intent(self, text: str, vector, kb, embedder, language: str) -> dict:
        hits = kb.search(text, embedder, k=SOURCES_K, language=language, query_vector=vector) if text else []
        sources = [{"entry_id": h.entry.entry_id, "intent": h.entry.intent, "question": h.entry.question,
                    "score": round(h.score, 4)} for h in hits]
        model = self._optional(INTENT_MODEL)
        top = hits[0] if hits else None
        if model is not None and vector is not None:
            pred = model.predict_embedded(vector[None, :], [text])[0]
            name, confidence, oos = pred.name, float(pred.confidence), bool(pred.out_of_scope)
            entry = kb.for_intent(name, language) if not oos else None
            if entry is None or (top is not None and top.entry.intent != name and confidence < INTENT_OVER_RETRIEVAL):
                entry = top.entry if top is not None else None
                if entry is not None and entry.intent and entry.intent != name:
                    # report (and store, and apply the handoff rules to) the topic actually answered
                    probabilities = dict(zip(model.classes, model.predict_proba_embedded(vector[None, :], [text])[0]))
                    name, confidence = entry.intent, float(probabilities.get(entry.intent, top.score))
            if entry is None:
                oos = True
        else:
            entry = top.entry if top is not None else None
            name = (entry.intent or entry.entry_id) if entry else "unknown"
            confidence = float(np.clip(top.score, 0.0, 1.0)) if top else 0.0
            oos = top is None or top.score < MIN_RETRIEVAL_SCORE
        return {"name": name, "confidence": round(confidence, 4), "out_of_scope": oos,
                "_entry": entry, "_sources": sources}

    def _sentiment(self, text: str, vector) -> dict:
        model = self._optional(SENTIMENT_MODEL)
        if model is None or vector is None:
            cues = anger_cues(text)
            angry = bool(cues["lexicon"])
            return {"label": "negative" if angry else "neutral", "score": -0.5 if angry else 0.0, "angry": angry}
        pred = model.predict_embedded(vector[None, :], [text])[0]
        return {"label": pred.label, "score": round(float(pred.score), 4), "angry": bool(pred.angry)}

    def _high_risk(self, customer_id: str) -> bool:
        scores = self.risk_audit.customer_scores(customer_id, limit=1)
        return bool(scores) and scores[0]["decision"] in HIGH_RISK_DECISIONS

    def _fill(self, answer: str, state: ConversationState, orders: list[Order], customer: Mapping,
              language: str, extra: Mapping[str, str]) -> tuple[str, dict[str, str], bool]:
        """The entry's answer with the customer's facts in its ``{{slots}}``; a clarifying question instead when
        the answer needs an order the customer has not named and has not got. Returns (text, the values used:
        the facts a rephrased reply must keep, whether the text is the filled answer rather than a question)."""
        needed = {p.lower().replace(" ", "").replace("_", "") for p in placeholders(answer)}
        values: dict[str, str] = dict(extra)
        if customer.get("name"):
            values["Customer Name"] = str(customer["name"])
        if state.slots.get("product"):
            values["Product Name"] = state.slots["product"]
        wants_order = any(n.startswith("order") or n.startswith("delivery") for n in needed)
        if wants_order:
            named = state.slots.get("order_number")
            order = next((o for o in orders if named and o.order_id.lower() == named.lower()), None)
            if named and order is None:
                if orders:
                    listed = join_names([f"{o.order_id} ({format_date(o.placed_at, language)})" for o in orders[:3]], language)
                    return phrase("ask.unknown_order", language, order=named, orders=listed), {"order": named}, False
                return phrase("ask.unknown_order_none", language, order=named), {"order": named}, False
            else:
                order = order or (orders[0] if orders else None)
            if order is not None:
                state.slots["order_number"] = order.order_id
                values.update({
                    "Order Number": order.order_id, "Order Status": status_text(order.status, language),
                    "Order Date": format_date(order.placed_at, language),
                    "Order Total": format_money(order.total, order.currency),
                    "Order Items": join_names(list(order.items[:3]), language),
                })
                if order.delivery_date is not None:
                    values["Delivery Date"] = format_date(order.delivery_date, language)
                if "Product Name" not in values and order.items:
                    values["Product Name"] = order.items[0]
        text, missing = fill(answer, values)
        if missing:
            if any(m.lower().startswith("order") for m in missing):
                return phrase("ask.order_number", language), {}, False
            if any(m.lower().startswith("recommend") for m in missing):
                return phrase("no_recommendations", language), {}, False
            text, _ = fill(text, {m: "" for m in missing})
        return text, values, True

    def _recommendations(self, customer_id: str, context: dict | None = None) -> dict | None:
        """The recommender's answer (items, model_version, strategy); None without a model. ``context``: the
        request's page and session items, which steer the list as they do on POST /v1/recommendations."""
        try:
            return self.recommend.recommend(customer_id, k=RECOMMENDATIONS_K, channel="chat", context=context)
        except (ModelNotFound, NotFound):
            return None

    def _log_recommendations(self, turn: PreparedTurn, request: ChatRequest) -> None:
        """Log the list the reply shows (channel chat), once per turn, after the turn is stored."""
        if self.recommend_log is None or turn.recommendation_id is None:
            return
        answer = {**turn.recommendation, "customer_id": request.customer_id, "items": turn.recommendations}
        self.recommend_log.record(turn.recommendation_id, answer, (request.context or {}).get("item_id"),
                                  request.request_id, channel="chat")

    @staticmethod
    def _context(customer: Mapping, orders: list[Order], high_risk: bool, language: str) -> tuple[str, ...]:
        lines = []
        if customer.get("tier"):
            lines.append(f"Customer tier: {customer['tier']}")
        for o in orders[:2]:
            lines.append(f"Order {o.order_id}: {status_text(o.status, language)}, {format_money(o.total, o.currency)}")
        if high_risk:
            lines.append("Do not promise refunds or compensation.")
        return tuple(lines)

    # ------------------------------------------------------------------------------------------- storing
    def _store(self, turn: PreparedTurn, request: ChatRequest, reply: str | None, *, customer_too: bool) -> None:
        conv_id = turn.conversation["conversation_id"]
        n = turn.conversation["turns"]
        now = utcnow()
        events: list[dict] = []
        chats: dict[str, dict] = {}
        if reply is not None:
            turn.state.remember("assistant", mask_pii(reply))
        if customer_too:
            eid = f"{conv_id}:{n}:c"
            events.append(self._event(eid, request.customer_id, now))
            embedder = self.embedder()
            chats[eid] = {"text": turn.masked, "conversation_id": conv_id, "direction": "customer",
                          "language": turn.language, "sentiment": turn.sentiment["score"],
                          "intent": "out_of_scope" if turn.intent["out_of_scope"] else turn.intent["name"],
                          "embedding": encode_vector(turn.vector) if turn.vector is not None else None,
                          "embedder": embedder.name if turn.vector is not None else None}
        if reply is not None:
            eid = f"{conv_id}:{n}:a"
            events.append(self._event(eid, request.customer_id, now))
            chats[eid] = {"text": mask_pii(reply), "conversation_id": conv_id, "direction": "agent",
                          "language": turn.language}
        self.conversations.save_turn({**turn.conversation, "state": turn.state.to_json()}, events, chats)
        if customer_too and self.after_store is not None:
            self.after_store({request.customer_id})

    @staticmethod
    def _event(event_id: str, customer_id: str, ts) -> dict:
        return {"event_id": event_id, "type": "chat_message", "customer_id": customer_id, "ts": ts,
                "item_id": None, "order_id": None, "quantity": None, "amount": None, "currency": None,
                "device_id": None, "ip": None, "country": None, "status": None, "is_fraud": None}

    def _answer(self, turn: PreparedTurn, result: GenerationResult | None) -> dict:
        generator = result.generator if result is not None else self.generator.name
        chat_reply(generator, bool(turn.handoff.get("needed")))
        return {
            "conversation_id": turn.conversation["conversation_id"],
            "reply": result.text if result is not None else None,
            "language": turn.language,
            "intent": dict(turn.intent),
            "sentiment": dict(turn.sentiment),
            "handoff": dict(turn.handoff),
            "sources": list(turn.sources),
            "recommendations": list(turn.recommendations),
            "recommendation_id": turn.recommendation_id,
            "slots": dict(turn.state.slots),
            "generator": generator,
            "fact_check": None if result is None else {
                "passed": not result.fell_back, "fallback_reason": result.fallback_reason,
                "missing": list(result.missing)},
        }
