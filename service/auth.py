"""API keys with scopes.

A key looks like ``kefu_<key_id>_<secret>``. Only its SHA-256 is stored: keys are 190-bit random strings, so a
fast hash is safe here (no dictionary to attack) and keeps the per-request check in microseconds. The
``key_id`` part is public and finds the row. ``admin`` grants every scope.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from functools import wraps
from typing import Callable, Sequence

from flask import current_app, g, request
from flask_smorest import Blueprint

from service.errors import error_response

SCOPES: tuple[str, ...] = ("events", "profiles", "recommendations", "risk", "chat", "metrics", "admin")
PREFIX = "kefu"


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str | None
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(store, scopes: Sequence[str], name: str | None = None) -> str:
    """Create and store a key; returns the full key, which is shown once and never stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown or missing scopes {unknown}; choose from {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    store.add_api_key(key_id, hash_key(key), scopes, name)
    return key


class KeyVerifier:
    """Checks bearer keys against the store, caching lookups for a few seconds per worker.

    The cache is keyed by the whole key's hash and holds refusals too; a revoked key is refused at most
    ``cache_seconds`` after revocation (KEFU_AUTH_CACHE_SECONDS, 30 s by default; 0 checks every request)."""

    def __init__(self, store, cache_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> Principal | None:
        parts = key.split("_")
        if len(parts) < 3 or parts[0] != PREFIX:
            return None
        key_id = parts[1]
        digest = hash_key(key)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and now - hit[0] < self.cache_seconds:
            return hit[1]
        row = self.store.find_api_key(key_id)
        principal = None
        if row and row["revoked_at"] is None and hmac.compare_digest(row["key_hash"], digest):
            principal = Principal(row["key_id"], row["name"], frozenset(row["scopes"].split()))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, principal)
        return principal


def bearer_key(header: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value; None when there is none."""
    scheme, _, key = header.partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def authorize(scope: str):
    """The check every protected view runs: None when the request's key is valid and has ``scope`` (it is then in
    ``g.principal``), else the 401/403 answer to send."""
    key = bearer_key(request.environ.get("HTTP_AUTHORIZATION", ""))  # request.headers' value, without building them
    if key is None:
        return error_response(401, headers={"WWW-Authenticate": 'Bearer realm="kefu"'})
    principal = current_app.extensions["kefu"].verifier.verify(key)
    if principal is None:
        return error_response(401, "Invalid or revoked API key.", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not principal.allows(scope):
        return error_response(403, f"This API key lacks the '{scope}' scope.")
    g.principal = principal
    return None


def require_scope(scope: str) -> Callable:
    """Decorate a view: 401 without a valid key, 403 when the key lacks ``scope``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            denied = authorize(scope)
            if denied is not None:
                return denied
            return view(*args, **kwargs)

        wrapper._kefu_scope = scope  # type: ignore[attr-defined]
        return Blueprint.doc(
            security=[{"bearerAuth": [scope]}],
            responses={"401": {"description": "missing or invalid API key"},
                       "403": {"description": f"the key lacks the '{scope}' scope"}},
        )(wrapper)

    return decorator
