"""Wire contract of chat: kefu's own ``POST /v1/chat`` and the OpenAI-compatible ``/v1/chat/completions``."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from service.schemas.events import ID, StrictSchema
from service.schemas.recommend import ContextSchema, RecommendedItemSchema

MAX_MESSAGE_CHARS = 4000


class ChatRequestSchema(StrictSchema):
    customer_id = fields.String(required=True, validate=ID)
    conversation_id = fields.String(validate=ID, metadata={
        "description": "Continue this conversation; omit to start one (its id comes back in the answer)."})
    message = fields.String(required=True, validate=validate.Length(min=1, max=MAX_MESSAGE_CHARS))
    context = fields.Nested(ContextSchema, metadata={
        "description": "What the customer is looking at in the shop while chatting: the page's item and the "
                       "session's items. Products the reply recommends go with them, and are never these."})
    stream = fields.Boolean(load_default=False, metadata={
        "description": "Answer as server-sent events: `meta`, then `delta` pieces, maybe `replace` (the fact "
                       "check or the time budget replaced the generated text), then `done` with the full answer."})

    @validates_schema
    def _not_blank(self, data: dict, **_kwargs) -> None:
        if not data.get("message", "").strip():
            raise ValidationError("The message is blank.", "message")


class IntentSchema(Schema):
    name = fields.String()
    confidence = fields.Float()
    out_of_scope = fields.Boolean()


class SentimentSchema(Schema):
    label = fields.String(metadata={"description": "negative, neutral or positive"})
    score = fields.Float(metadata={"description": "P(positive) - P(negative), in [-1, 1]"})
    angry = fields.Boolean()


class HandoffSchema(Schema):
    needed = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={
        "description": "customer_asked, angry_twice, out_of_scope_twice or high_risk_refund"})


class SourceSchema(Schema):
    entry_id = fields.String()
    intent = fields.String(allow_none=True)
    question = fields.String()
    score = fields.Float()


class FactCheckSchema(Schema):
    passed = fields.Boolean(metadata={"description": "The generated text kept every required fact in time."})
    fallback_reason = fields.String(allow_none=True, metadata={
        "description": "Why the checked knowledge-base answer was sent instead: missing_facts, invented_facts, timeout, error, empty."})
    missing = fields.List(fields.String())


class ChatResponseSchema(Schema):
    conversation_id = fields.String()
    reply = fields.String(allow_none=True)
    language = fields.String()
    intent = fields.Nested(IntentSchema)
    sentiment = fields.Nested(SentimentSchema)
    handoff = fields.Nested(HandoffSchema)
    sources = fields.List(fields.Nested(SourceSchema))
    recommendations = fields.List(fields.Nested(RecommendedItemSchema))
    recommendation_id = fields.String(allow_none=True, metadata={
        "description": "The id of the recommendation list the reply shows (null when it shows none); the list is "
                       "logged with channel chat for GET /v1/recommendations/performance."})
    slots = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "What the conversation remembers (order_number, product); carried across turns."})
    generator = fields.String(metadata={"description": "Which backend produced the reply text."})
    fact_check = fields.Nested(FactCheckSchema, allow_none=True)


class ConversationQuerySchema(StrictSchema):
    status = fields.String(validate=validate.OneOf(["bot", "handoff"]), metadata={
        "description": "`handoff`: the agent queue, gold and platinum customers first, then longest waiting."})
    customer_id = fields.String(validate=ID)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ConversationSchema(Schema):
    conversation_id = fields.String()
    customer_id = fields.String()
    tier = fields.String(allow_none=True, metadata={"description": "The customer's tier (gold and platinum first in the queue)."})
    language = fields.String(allow_none=True)
    status = fields.String()
    handoff_reason = fields.String(allow_none=True)
    turns = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ConversationListSchema(Schema):
    conversations = fields.List(fields.Nested(ConversationSchema))


class MessageSchema(Schema):
    event_id = fields.String()
    ts = fields.DateTime()
    direction = fields.String()
    language = fields.String(allow_none=True)
    text = fields.String()
    intent = fields.String(allow_none=True)
    sentiment = fields.Float(allow_none=True)


class ConversationDetailSchema(ConversationSchema):
    slots = fields.Dict(keys=fields.String(), values=fields.String())
    messages = fields.List(fields.Nested(MessageSchema))


class ConversationStatusSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(["bot", "handoff"]), metadata={
        "description": "`bot` gives a handed-over conversation back to the bot; `handoff` takes one over."})
    reason = fields.String(validate=validate.Length(max=64))


# ------------------------------------------------------------------------------------------ OpenAI-compatible
class OpenAIMessageSchema(Schema):
    """OpenAI's message: content may be a string or a list of parts ({type: text, text}); other fields pass."""

    class Meta:
        unknown = "exclude"

    role = fields.String(required=True, validate=validate.OneOf(["system", "developer", "user", "assistant", "tool"]))
    content = fields.Raw(allow_none=True)

    @validates_schema
    def _content(self, data: dict, **_kwargs) -> None:
        content = data.get("content")
        if content is None or isinstance(content, str):
            return
        if isinstance(content, list) and all(isinstance(p, dict) and isinstance(p.get("text", ""), str) for p in content):
            return
        raise ValidationError("content must be a string or a list of text parts.", "content")


class CompletionRequestSchema(Schema):
    """``POST /v1/chat/completions`` as the OpenAI API defines it. Sampling fields (temperature, top_p, ...)
    are accepted and ignored: kefu's replies are grounded, not sampled. ``user`` is the customer id."""

    class Meta:
        unknown = "exclude"

    model = fields.String(load_default="kefu", validate=validate.Length(max=128))
    messages = fields.List(fields.Nested(OpenAIMessageSchema), required=True, validate=validate.Length(min=1, max=200))
    user = fields.String(validate=ID, metadata={"description": "The customer id (required unless metadata.customer_id)."})
    stream = fields.Boolean(load_default=False)
    metadata = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Optional customer_id and conversation_id."})

    @validates_schema
    def _customer_and_user_turn(self, data: dict, **_kwargs) -> None:
        meta = data.get("metadata") or {}
        if not (data.get("user") or meta.get("customer_id")):
            raise ValidationError("Set `user` (or metadata.customer_id) to the customer id.", "user")
        if not any(m["role"] == "user" for m in data.get("messages", [])):
            raise ValidationError("At least one message must have the role `user`.", "messages")
