"""The in-memory copies of registry models that serving reads (the storage side is :mod:`models.registry`).

:class:`LoadedModels` is the serving side (after MLServer's model registry): it loads the CURRENT version of
each model with a loader chosen by the model's *kind*, checks it, and swaps it in only when both succeed;
unlike MLServer, a version that fails to load leaves the last good one serving. Each gunicorn worker holds
its own ``LoadedModels`` and notices an activation by a cheap, rate-limited look at CURRENT, so an
activation reaches every worker without a restart or any message between them.

Nothing here imports Flask: errors are domain errors (``features.errors``), mapped to HTTP in ``service/``.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Mapping, Sequence, TypedDict

from features.errors import KefuError
from models.challenger import Challenger
from models.registry import NAME_RE, ModelNotFound, ModelNotLoaded, ModelRegistry, ModelVersion, _iso, _utcnow

log = logging.getLogger(__name__)


#: Builds the in-memory model from a version's files; raises on a corrupt or unreadable artifact.
Loader = Callable[[ModelVersion], Any]
#: Optional: raises when a loaded model cannot serve here (e.g. features the service cannot compute).
Checker = Callable[[ModelVersion, Any], None]


class SlotStatus(TypedDict):
    """What /readyz and GET /v1/models show for one model.

    state: "ready" (a version is serving; ``error`` may still report a newer version that failed),
    "missing" (no version active), "failed" (the active version failed and nothing older is serving).
    """

    name: str
    state: str
    version: str | None
    kind: str | None
    loaded_at: str | None
    error: str | None
    last_attempted_version: str | None


_UNSEEN = object()


class ModelSlot:
    """One model name's serving state in one process.

    ``entry`` (model, version) is replaced by a single assignment, so readers take it without a lock and
    always get a whole pair, the old one or the new one, never None once something has loaded. ``lock`` only
    serialises reloads.
    """

    def __init__(self, name: str, *, challenger: bool = False) -> None:
        self.name = name
        self.challenger = challenger  # follows CHALLENGER instead of CURRENT
        self.config: Challenger | None = None  # a challenger slot's record as last read
        self.lock = threading.Lock()
        self.entry: tuple[Any, ModelVersion] | None = None
        self.loaded_at: str | None = None
        self.error: str | None = None
        self.last_attempted_version: str | None = None
        self.checked_at = -math.inf  # monotonic time of the last look at CURRENT
        self.seen_stamp: Any = _UNSEEN  # CURRENT's stamp when last read
        self.seen_version: Any = _UNSEEN  # CURRENT's content when last read

    @property
    def state(self) -> str:
        if self.entry is not None:
            return "ready"
        return "failed" if self.error else "missing"

    def status(self) -> SlotStatus:
        entry = self.entry
        return {
            "name": self.name,
            "state": self.state if entry is None else "ready",
            "version": entry[1].version if entry else None,
            "kind": entry[1].kind if entry else None,
            "loaded_at": self.loaded_at if entry else None,
            "error": self.error,
            "last_attempted_version": self.last_attempted_version,
        }


def _role(slot: ModelSlot) -> str:
    return "challenger" if slot.challenger else "version"


class LoadedModels:
    """The models this process serves, each kept at its CURRENT version without restarts.

    ``loaders`` are keyed by model kind (model.json "kind"). ``checkers`` may be keyed by kind and/or by
    model name; every one that matches runs (kind first), and any that raises refuses the version.
    A version is refused, and the previous one keeps serving, when its files fail their recorded hashes,
    no loader handles its kind, the loader raises or returns None, or a checker raises.

    A failed version is not retried on every request: it is retried when CURRENT changes or on an explicit
    :meth:`reload`. A challenger (models.challenger) is kept the same way in a second slot per name that follows
    CHALLENGER instead of CURRENT (:meth:`challenger`); its failures never touch the champion's slot. ``check_interval_s`` bounds how often :meth:`get` looks at CURRENT (0: every call);
    ``clock`` (a monotonic clock) is there so tests can step time instead of sleeping. ``on_load`` (optional)
    hears every outcome: ``on_load(name, role, version, previous, ok)``, role "version" or "challenger",
    ``previous`` the version it replaced (None), ``ok`` False for a refused version (previous keeps serving) and
    for a challenge that ended (version None).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        loaders: Mapping[str, Loader],
        checkers: Mapping[str, Checker] | None = None,
        check_interval_s: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_load: Callable[[str, str, str | None, str | None, bool], None] | None = None,
    ) -> None:
        self.registry = registry
        self._on_load = on_load
        self._clock = clock  # injectable so tests can step time instead of sleeping
        self.loaders = dict(loaders)
        self.checkers = dict(checkers or {})
        self.check_interval_s = float(check_interval_s)
        self._slots: dict[str, ModelSlot] = {}
        self._challengers: dict[str, ModelSlot] = {}
        self._slots_lock = threading.Lock()

    def _slot(self, name: str, *, challenger: bool = False) -> ModelSlot:
        slots = self._challengers if challenger else self._slots
        slot = slots.get(name)
        if slot is None:
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise ModelNotLoaded(f"no model named {name!r}")
            with self._slots_lock:
                slot = slots.setdefault(name, ModelSlot(name, challenger=challenger))
        return slot

    def _stamp(self, slot: ModelSlot) -> Any:
        registry = self.registry
        return registry._challenger_stamp(slot.name) if slot.challenger else registry._current_stamp(slot.name)

    def _target(self, slot: ModelSlot) -> str | None:
        """The version the slot should serve: CURRENT's, or the challenger's (whose record is kept as well)."""
        if not slot.challenger:
            return self.registry._read_current(slot.name)
        slot.config = self.registry.challenger(slot.name)
        return slot.config.version if slot.config else None

    # -- hot path --------------------------------------------------------------------------------------------
    def get(self, name: str) -> tuple[Any, ModelVersion]:
        """The serving (model, version) for ``name``; :class:`ModelNotLoaded` (a ModelNotFound) when no
        version of it was ever loadable.

        Cheap: a clock read, and at most every ``check_interval_s`` an os.stat of CURRENT (plus a small read
        when the stat changed); a reload happens here only when CURRENT names a version not tried yet. While
        one thread reloads, the others keep answering with the old model instead of waiting.
        """
        slot = self._slot(name)
        self._maybe_refresh(slot)
        entry = slot.entry
        if entry is None:
            detail = f": {slot.error}" if slot.error else " (no active version)"
            raise ModelNotLoaded(f"model {name!r} is not loaded{detail}")
        return entry

    def challenger(self, name: str) -> tuple[Any, ModelVersion, Challenger] | None:
        """The challenger of ``name`` as (model, version, record) once it is loaded, else None: none set, it
        failed to load (the champion serves alone, and :meth:`challenger_status` says why), or it is no rival to
        the champion this process serves (the same version, in the seconds after a promotion before this worker
        has seen the challenge end; or another kind of model). As cheap as :meth:`get`: a clock read, and at most
        every ``check_interval_s`` an os.stat of CHALLENGER."""
        slot = self._slot(name, challenger=True)
        self._maybe_refresh(slot)
        entry, config = slot.entry, slot.config
        if entry is None or config is None or entry[1].version != config.version:
            return None
        champion = self._slots.get(name)
        serving = champion.entry if champion is not None else None
        if serving is not None and (serving[1].version == entry[1].version or serving[1].kind != entry[1].kind):
            return None
        return entry[0], entry[1], config

    def reload_challenger(self, name: str) -> SlotStatus:
        """Load the challenger now (as :meth:`reload` does the active version)."""
        slot = self._slot(name, challenger=True)
        slot.checked_at = self._clock()
        self._reload(slot, force=True, wait=True)
        return slot.status()

    def challenger_status(self, name: str) -> SlotStatus | None:
        """This process's state of the challenger of ``name`` (looked up now), or None when it has none."""
        self.challenger(name)
        slot = self._slot(name, challenger=True)
        if slot.config is None and slot.entry is None and slot.error is None:
            return None
        return slot.status()

    def _maybe_refresh(self, slot: ModelSlot) -> None:
        now = self._clock()
        if now - slot.checked_at < self.check_interval_s:
            return
        slot.checked_at = now
        stamp = self._stamp(slot)
        if stamp == slot.seen_stamp:
            return
        version = self._target(slot)
        if version == slot.seen_version:
            slot.seen_stamp = stamp  # rewritten with the same content (re-activation): nothing to load
            return
        # Wait for the lock only when nothing is serving yet; otherwise serve the old model meanwhile.
        self._reload(slot, force=False, wait=slot.entry is None)

    # -- loading ---------------------------------------------------------------------------------------------
    def reload(self, name: str) -> SlotStatus:
        """Load the CURRENT version now (even one that failed before): load → verify/check → swap.

        Never raises for a bad version: the old model keeps serving and the status says what failed.
        """
        slot = self._slot(name)
        slot.checked_at = self._clock()
        self._reload(slot, force=True, wait=True)
        return slot.status()

    def _reload(self, slot: ModelSlot, *, force: bool, wait: bool) -> None:
        if not slot.lock.acquire(blocking=wait):
            return  # another thread is reloading this model; it will record the outcome
        try:
            name = slot.name
            stamp = self._stamp(slot)
            version = self._target(slot)
            if not force and version == slot.seen_version:
                slot.seen_stamp = stamp  # another thread handled this version while we waited
                return
            slot.seen_stamp, slot.seen_version = stamp, version
            if version is None and slot.challenger:
                ended = slot.entry[1].version if slot.entry else None
                slot.entry, slot.error, slot.last_attempted_version = None, None, None  # the challenge ended
                if ended is not None:
                    self._heard(name, slot, None, ended, False)
                return
            if version is None:
                if slot.entry is not None:
                    slot.error = "CURRENT is missing; still serving the version loaded before"
                else:
                    slot.error = None
                    slot.last_attempted_version = None
                return
            slot.last_attempted_version = version
            started = time.perf_counter()
            try:
                mv = self.registry.get(name, version)
                self.registry.verify(mv)
                loader = self.loaders.get(mv.kind)
                if loader is None:
                    raise LookupError(f"no loader for kind {mv.kind!r} (known: {sorted(self.loaders)})")
                model = loader(mv)
                if model is None:
                    raise ValueError(f"the loader for kind {mv.kind!r} returned None")
                for checker in self._checkers_for(mv):
                    checker(mv, model)
            except Exception as exc:  # noqa: BLE001 - any failure refuses the version, never the process
                slot.error = f"version {version}: {type(exc).__name__}: {exc}"
                serving = slot.entry[1].version if slot.entry else None
                log.error("model %s: %s %s refused (%s); serving %s", name, _role(slot), version, slot.error,
                          serving or "nothing", exc_info=not isinstance(exc, (KefuError, LookupError)))
                self._heard(name, slot, version, serving, False)
                return
            old, slot.entry = slot.entry, (model, mv)  # the swap: one assignment, readers never see None
            slot.loaded_at = _iso(_utcnow())
            slot.error = None
            log.info("model %s: serving %s %s (was %s) after %.0f ms", name, _role(slot), version,
                     old[1].version if old else None, (time.perf_counter() - started) * 1000)
            self._heard(name, slot, version, old[1].version if old else None, True)
            # The old model is dropped, not closed: requests that took it before the swap may still use it;
            # it is freed when the last of them lets go.
            del old
        finally:
            slot.lock.release()

    def _heard(self, name: str, slot: ModelSlot, version: str | None, previous: str | None, ok: bool) -> None:
        if self._on_load is None:
            return
        try:
            self._on_load(name, _role(slot), version, previous, ok)
        except Exception:  # noqa: BLE001 - a listener's failure must never stop serving
            log.exception("model %s: the load listener failed", name)

    def _checkers_for(self, mv: ModelVersion) -> list[Checker]:
        found: list[Checker] = []
        for key in (mv.kind, mv.name):
            checker = self.checkers.get(key)
            if checker is not None and checker not in found:
                found.append(checker)
        return found

    def load_all(self) -> dict[str, SlotStatus]:
        """Load every model in the registry, and every challenger, at start-up (before the worker reports ready,
        so no request waits for a load)."""
        loaded = {name: self.reload(name) for name in self.registry.names()}
        for name in loaded:
            if self.registry.challenger(name) is not None:
                self.reload_challenger(name)
        return loaded

    # -- reporting -------------------------------------------------------------------------------------------
    def status(self) -> dict[str, SlotStatus]:
        """Every model this process has loaded or tried to, by name (no disk access)."""
        with self._slots_lock:
            slots = list(self._slots.values())
        return {slot.name: slot.status() for slot in sorted(slots, key=lambda s: s.name)}

    def ready(self, required: Sequence[str] = ()) -> bool:
        """True when every required model is serving a version (each is looked up, so /readyz also
        triggers the first load and notices activations). With no ``required``: no model this process
        knows is in state "failed"."""
        if not required:
            return all(s["state"] != "failed" for s in self.status().values())
        for name in required:
            try:
                self.get(name)
            except ModelNotFound:
                return False
        return True
