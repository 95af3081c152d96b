"""Chat over HTTP: ``POST /v1/chat`` (JSON or server-sent events), the OpenAI-compatible
``POST /v1/chat/completions``, and the conversation views an agent desk needs (queue, transcript, take over)."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterable, Iterator

from flask import Response, current_app, g, stream_with_context

from features.errors import NotFound
from features.text.pii import mask_pii
from models.chat.generator import split_pieces
from service.api.blueprint import Blueprint
from service.auth import require_scope
from service.pipelines.chat import ChatRequest
from service.schemas.chat import (
    ChatRequestSchema,
    ChatResponseSchema,
    CompletionRequestSchema,
    ConversationDetailSchema,
    ConversationListSchema,
    ConversationQuerySchema,
    ConversationSchema,
    ConversationStatusSchema,
)

blp = Blueprint("chat", __name__, url_prefix="/v1", description="Support chat: grounded, personalised replies")

def _service():
    return current_app.extensions["kefu"].extras["chat"]


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _event_stream(first: tuple[str, Any], rest: Iterable[tuple[str, Any]]) -> Response:
    def body() -> Iterator[str]:
        yield _sse(*first)
        for kind, value in rest:
            yield _sse(kind, {"text": value} if isinstance(value, str) else value)

    return Response(stream_with_context(body()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/chat", methods=["POST"])
@require_scope("chat")
@blp.arguments(ChatRequestSchema)
@blp.response(200, ChatResponseSchema)
@blp.alt_response(404, description="the conversation belongs to another customer")
@blp.alt_response(503, description="no knowledge base imported yet")
def chat(body: dict):
    """Answer a customer's message

    The reply is grounded: the knowledge-base answer filled with the customer's own facts (name, orders and
    their status, recommendations for product questions), phrased by the configured generator
    (KEFU_LLM_BACKEND) and checked to keep every fact; otherwise the filled answer is sent (`fact_check`).
    Slots such as the order number carry over turns of one `conversation_id`. The conversation is handed to a
    person (`handoff`) when the customer asks for one, is angry twice, is out of scope twice, or is high-risk
    and asks for money back. With `"stream": true` the answer comes as server-sent events.
    """
    request = ChatRequest(body["customer_id"], body["message"], body.get("conversation_id"), g.request_id,
                          context=body.get("context"))
    if not body["stream"]:
        return _service().respond(request)
    events = _service().respond_stream(request)
    first = next(events)  # runs the whole preparation: its errors still answer with the JSON envelope
    return _event_stream(first, events)


# ------------------------------------------------------------------------------------------ OpenAI-compatible
def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _completion_chunk(cid: str, model: str, created: int, delta: dict, finish: str | None) -> str:
    chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


@blp.route("/chat/completions", methods=["POST"])
@require_scope("chat")
@blp.arguments(CompletionRequestSchema)
@blp.alt_response(200, description="an OpenAI `chat.completion` object (or `chat.completion.chunk` events)")
def completions(body: dict):
    """OpenAI-compatible chat completions

    For chat frontends and the official `openai` client: `user` (or `metadata.customer_id`) is the customer,
    the last `user` message is answered exactly as `POST /v1/chat` would, and the full kefu answer rides along
    under `kefu`. The conversation is `metadata.conversation_id` when given; otherwise the request's last
    assistant message finds it (the protocol resends the history), and a request without one starts a new
    conversation. With `stream` the reply is sent as `chat.completion.chunk` events after the fact check: the
    protocol cannot take back text already sent (kefu's own `/v1/chat` streams tokens with a `replace` event).
    """
    meta = body.get("metadata") or {}
    customer_id = body.get("user") or meta["customer_id"]
    messages = body["messages"]
    message = _text(next(m for m in reversed(messages) if m["role"] == "user").get("content"))
    conversation_id = meta.get("conversation_id")
    service = _service()
    if not conversation_id:
        last_reply = next((_text(m.get("content")) for m in reversed(messages) if m["role"] == "assistant"), None)
        found = service.conversations.find_by_last_reply(customer_id, mask_pii(last_reply)) if last_reply else None
        conversation_id = found["conversation_id"] if found else None
    answer = service.respond(ChatRequest(customer_id, message, conversation_id, g.request_id))
    cid, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body["model"]
    reply = answer["reply"] or ""
    if not body["stream"]:
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(message.split()), "completion_tokens": len(reply.split()),
                      "total_tokens": len(message.split()) + len(reply.split())},
            "kefu": ChatResponseSchema().dump(answer),
        }

    def body_stream() -> Iterator[str]:
        yield _completion_chunk(cid, model, created, {"role": "assistant", "content": ""}, None)
        for piece in split_pieces(reply):
            yield _completion_chunk(cid, model, created, {"content": piece}, None)
        yield _completion_chunk(cid, model, created, {}, "stop")
        yield "data: [DONE]\n\n"

    return Response(stream_with_context(body_stream()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                             "X-Kefu-Conversation-ID": answer["conversation_id"]})


# ------------------------------------------------------------------------------------------ conversations
@blp.route("/conversations", methods=["GET"])
@require_scope("chat")
@blp.arguments(ConversationQuerySchema, location="query")
@blp.response(200, ConversationListSchema)
def list_conversations(query: dict):
    """List conversations, newest first (`status=handoff` is the agent queue)"""
    return {"conversations": _service().conversations.list(
        status=query.get("status"), customer_id=query.get("customer_id"), limit=query["limit"])}


def _conversation(conversation_id: str) -> dict:
    found = _service().conversations.get(conversation_id)
    if found is None:
        raise NotFound(f"no conversation {conversation_id!r}")
    return found


@blp.route("/conversations/<string:conversation_id>", methods=["GET"])
@require_scope("chat")
@blp.response(200, ConversationDetailSchema)
@blp.alt_response(404, description="unknown conversation")
def get_conversation(conversation_id: str):
    """A conversation with its transcript (PII masked) and remembered slots"""
    found = _conversation(conversation_id)
    return {**found, "slots": (found["state"] or {}).get("slots") or {},
            "messages": _service().conversations.messages(conversation_id)}


@blp.route("/conversations/<string:conversation_id>/status", methods=["POST"])
@require_scope("chat")
@blp.arguments(ConversationStatusSchema)
@blp.response(200, ConversationSchema)
@blp.alt_response(404, description="unknown conversation")
def set_conversation_status(body: dict, conversation_id: str):
    """Take a conversation over (`handoff`) or give it back to the bot (`bot`)"""
    _conversation(conversation_id)
    reason = body.get("reason") or ("agent" if body["status"] == "handoff" else None)
    _service().conversations.set_status(conversation_id, body["status"], reason)
    return _conversation(conversation_id)
