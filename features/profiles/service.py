"""Keeps stored profiles in step with stored events: per batch of customers as events arrive, or all at once.

Both paths call the same ``build_profiles`` on the same columns, so a profile refreshed by one event and a
profile from a bulk rebuild cannot differ. Windows (7/30/90 days) count back from the store's data clock, the
newest event time stored: in live use that is "now"; for an imported history it is the end of that history.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

import pandas as pd

from features.profiles.builder import build_profiles, profile_to_record
from features.profiles.segments import Segmenter
from features.storage.store import utcnow

log = logging.getLogger(__name__)

SEGMENTER_NAME = "segments"
ITEMS_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class RebuildStats:
    customers: int
    seconds: float
    segments: dict[str, int]
    as_of: datetime | None


class ProfileService:
    def __init__(self, store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._segmenter: tuple[str, Segmenter] | None = None
        self._items: tuple[float, pd.DataFrame] | None = None

    # -- inputs ----------------------------------------------------------------------------------------------
    def catalogue(self, fresh: bool = False) -> pd.DataFrame:
        """The item catalogue, cached briefly: price bands need all items, and it changes rarely."""
        now = time.monotonic()
        with self._lock:
            cached = self._items
        if fresh or cached is None or now - cached[0] > ITEMS_CACHE_SECONDS:
            frame = self.store.load_items()
            with self._lock:
                self._items = (now, frame)
            return frame
        return cached[1]

    def segmenter(self) -> Segmenter | None:
        """The newest fitted segmenter in the store (re-read when a newer version appears)."""
        latest = self.store.latest_model_state(SEGMENTER_NAME)
        if latest is None:
            return None
        version, state = latest
        with self._lock:
            if self._segmenter is None or self._segmenter[0] != version:
                self._segmenter = (version, Segmenter.from_dict(state))
            return self._segmenter[1]

    def _build(
        self, customer_ids: list[str], as_of: datetime, items: pd.DataFrame, contiguous: bool = False
    ) -> pd.DataFrame:
        """Profiles of these customers. ``contiguous``: the ids are every customer between the first and the
        last (a batch of the sorted id list), so a range scan replaces a long IN list."""
        if contiguous:
            span = (customer_ids[0], customer_ids[-1])
            events = self.store.load_events(until=as_of, id_range=span)
            customers = self.store.load_customers(id_range=span)
            chats = self.store.load_chats(id_range=span)
        else:
            events = self.store.load_events(customer_ids, until=as_of)
            customers = self.store.load_customers(customer_ids)
            chats = self.store.load_chats(customer_ids)
        return build_profiles(events, customers, items, chats, as_of)

    def _save(self, frame: pd.DataFrame, as_of: datetime) -> int:
        records = []
        for customer_id, row in frame.iterrows():
            features = profile_to_record(row)
            records.append(
                {"customer_id": customer_id, "as_of": as_of, "segment": features.get("segment"), "features": features}
            )
        return self.store.save_profiles(records)

    def _assign_segments(self, frame: pd.DataFrame, segmenter: Segmenter | None) -> pd.DataFrame:
        if segmenter is None:
            frame = frame.copy()
            frame["segment_id"] = None
            frame["segment"] = None
            return frame
        return segmenter.assign(frame)

    # -- public ----------------------------------------------------------------------------------------------
    def refresh(self, customer_ids: Iterable[str]) -> int:
        """Rebuild the profiles of these customers now and clear their dirty marks."""
        ids = sorted(set(customer_ids))
        if not ids:
            return 0
        started = utcnow()
        as_of = self.store.data_clock() or started
        frame = self._build(ids, as_of, self.catalogue())
        frame = self._assign_segments(frame, self.segmenter())
        saved = self._save(frame, as_of)
        self.store.clear_dirty([(c, started) for c in ids])
        return saved

    def refresh_dirty(self, batch_size: int = 2000, progress: Callable[[int], None] | None = None) -> int:
        """Refresh every customer marked dirty (events stored, profile not yet rebuilt)."""
        total = 0
        while True:
            marks = self.store.dirty_customers(limit=batch_size)
            if not marks:
                return total
            total += self.refresh([c for c, _ in marks])
            if progress:
                progress(len(marks))

    def get(self, customer_id: str) -> dict | None:
        """The stored profile; built on the spot for a known customer who has none yet."""
        profile = self.store.get_profile(customer_id)
        if profile is not None:
            return profile
        if self.store.get_customer(customer_id) is None:
            return None
        self.refresh([customer_id])
        return self.store.get_profile(customer_id)

    def rebuild_all(
        self,
        batch_size: int = 5000,
        progress: Callable[[int], None] | None = None,
        refit_segments: bool = True,
        n_segments: int = 5,
    ) -> RebuildStats:
        """Rebuild every profile; refit the segmenter on the whole population first (unless told not to)."""
        started_wall = time.perf_counter()
        started = utcnow()
        as_of = self.store.data_clock() or started
        items = self.catalogue(fresh=True)
        frames = []
        for ids in self.store.iter_customer_ids(batch_size):
            frames.append(self._build(ids, as_of, items, contiguous=True))
            if progress:
                progress(len(ids))
        if not frames:
            return RebuildStats(0, time.perf_counter() - started_wall, {}, None)
        frame = pd.concat(frames)
        segmenter = self.segmenter()
        if refit_segments:
            segmenter = Segmenter(n_segments=n_segments).fit(frame)
            version = started.strftime("%Y%m%dT%H%M%S%f")
            self.store.record_model_version(
                SEGMENTER_NAME, version, "segmenter", state=segmenter.to_dict(),
                metrics={"customers": int(len(frame))},
            )
        frame = self._assign_segments(frame, segmenter)
        for start in range(0, len(frame), batch_size):
            self._save(frame.iloc[start : start + batch_size], as_of)
        self.store.clear_all_dirty(started)
        counts = frame["segment"].value_counts(dropna=False)
        segments = {str(k): int(v) for k, v in counts.items()}
        return RebuildStats(int(len(frame)), time.perf_counter() - started_wall, segments, as_of)
