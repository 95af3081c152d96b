"""Activating a model version, or setting a challenger, safely: a version that does not load is never left as the
active one or the challenger."""
from __future__ import annotations

import logging

from features.errors import Conflict, InvalidInput

log = logging.getLogger(__name__)


def activate_version(registry, loaded, name: str, version: str, reason: str = "", by: str | None = None) -> dict:
    """Point CURRENT at ``version`` and load it here; if it does not load, point CURRENT back and raise.

    Without the undo, the workers already running would keep the old model, but every worker started later
    would find a broken CURRENT and serve nothing.
    """
    registry.activate(name, version, reason, by=by)
    status = loaded.reload(name)
    if status.get("version") == version:
        loaded.reload_challenger(name)  # activating the challenger's version ended the challenge
        return status
    error = status.get("error")
    previous = registry.rollback(name, f"automatic: {version} failed to load", by=by)
    loaded.reload(name)
    log.warning("refused activation of %s %s (%s); %s is active again", name, version, error, previous.version)
    raise Conflict(f"Version {version} could not be loaded ({error}); {previous.version} stays active.")


#: The kinds whose serving path consults a challenger, and the modes each supports. A recommendation list
#: nobody sees gets no feedback, so recommendations are tested by split only.
CHALLENGE_MODES = {"risk_table": ("shadow", "split"), "risk_transactions": ("shadow", "split"),
                   "recommender": ("split",)}


def challenge_with(registry, loaded, name: str, version: str, mode: str, share: float | None = None,
                   reason: str = "", by: str | None = None) -> dict:
    """Serve ``version`` as the challenger of the active version of ``name``; it is loaded here before the
    answer, and one that does not load (or cannot serve here) is stopped again and refused."""
    current = registry.current(name)
    candidate = registry.get(name, version)
    modes = CHALLENGE_MODES.get(candidate.kind, ())
    if mode not in modes:
        allowed = f"only {' or '.join(modes)}" if modes else "no challenger"
        raise InvalidInput(f"A {candidate.kind} model takes {allowed}, not {mode}.", errors={"mode": [allowed]})
    if current is not None and current.kind != candidate.kind:
        raise InvalidInput(f"Version {version} is a {candidate.kind} model; the active one is {current.kind}.")
    challenger = registry.set_challenger(name, version, mode=mode, share=share, reason=reason, by=by)
    status = loaded.reload_challenger(name)
    if status.get("version") == version and status.get("state") == "ready" and not status.get("error"):
        return challenger.as_dict()
    registry.stop_challenger(name, f"automatic: {version} failed to load", by=by)
    loaded.reload_challenger(name)
    raise Conflict(f"Version {version} could not be loaded ({status.get('error')}); no challenger is set.")


def challenge_versions(registry, name: str, version: str | None = None):
    """What a champion/challenger comparison reads: (the active version or None, the challenger's version or None,
    the running challenge's record when it is that version, else None). The challenger is ``version`` (a past
    one) or else the running challenger; :class:`ModelNotFound` for an unknown ``version``."""
    running = registry.challenger(name)
    chosen = version or (running.version if running is not None else None)
    if chosen is not None:
        registry.get(name, chosen)
    return registry.current(name), chosen, running if running is not None and running.version == chosen else None
