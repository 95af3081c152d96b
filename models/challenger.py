"""A challenger: a second version of a model that serves next to the active one (the champion) on live traffic.

Two modes, as risk and marketing teams run them before they trust a new version with everything:

- ``shadow``: the champion decides every case; the challenger also scores a share of them, and its scores are
  only stored, so the two can be compared on the same cases (and on their outcomes) at no risk.
- ``split``: a share of the traffic is decided by the challenger (an A/B test). The share is drawn by a hash of
  the customer, so a customer stays with one version for the whole test, and a new challenger draws anew.

The registry stores the challenger next to CURRENT (``models.registry.ModelRegistry.set_challenger``); serving
looks it up with ``models.serving.LoadedModels.challenger``; this module only holds the record and the draw.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Mapping

SHADOW, SPLIT = "shadow", "split"
MODES = (SHADOW, SPLIT)
#: Share of cases a challenger gets when none is given: every case in shadow (it decides nothing), a tenth in split.
DEFAULT_SHARE = {SHADOW: 1.0, SPLIT: 0.1}
_SCALE = float(2 ** 64)


@dataclass(frozen=True)
class Challenger:
    name: str
    version: str
    mode: str
    share: float
    since: str
    by: str | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def started(self) -> datetime:
        """When the challenge began, as naive UTC (how stored rows keep their times)."""
        return datetime.fromisoformat(self.since.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)

    def takes(self, key: str | None) -> bool:
        """Whether the challenger gets this case: the customer's hash (stable for this challenger version)
        below the share; a case without a customer is drawn at random."""
        if self.share >= 1.0:
            return True
        if key is None:
            return random.random() < self.share
        digest = hashlib.blake2b(f"{self.name}\0{self.version}\0{key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / _SCALE < self.share


def verdict(difference: Mapping[str, float] | None, without: str) -> str:
    """The verdict of a comparison from the 95 % interval of (challenger − champion): ``challenger_better`` or
    ``champion_better`` when it excludes 0, else ``no_clear_difference``; ``without`` when there is none."""
    if difference is None:
        return without
    if difference["low"] > 0:
        return "challenger_better"
    if difference["high"] < 0:
        return "champion_better"
    return "no_clear_difference"


def check(mode: str, share: float | None) -> float:
    """The share to store for ``mode`` (its default when None); ValueError for an unknown mode or a share
    outside (0, 1]."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    share = DEFAULT_SHARE[mode] if share is None else float(share)
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], not {share}")
    return share
