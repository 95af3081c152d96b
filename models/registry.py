"""Versioned model artifacts on disk: the storage side of the models (serving them is :mod:`models.serving`).

:class:`ModelRegistry` keeps every version of every model. Layout (``docs``: DESIGN.md, "Models on disk")::

    <root>/<name>/<version>/      artifact files + model.json       (immutable once published)
    <root>/<name>/CURRENT         the live version string            (replaced atomically)
    <root>/<name>/HISTORY         JSON lines, one per activation     (append-only; makes rollback possible)
    <root>/<name>/CHALLENGER      the challenger, JSON (optional)    (replaced atomically; models.challenger)
    <root>/<name>/.tmp-<hex>/     a save in progress                 (never listed; discarded on failure)
    <root>/<name>/.lock           serialises CURRENT+HISTORY writers (flock; other processes included)

A version is written into a hidden temp folder and renamed to its final name only when every file and
``model.json`` are on disk, so a reader either sees a whole version or none. CURRENT is replaced by
``os.replace`` of a fsynced temp file, so a reader never sees a partial version string.

The in-memory copies that serving reads (``LoadedModels``, which loads, checks and hot-swaps the CURRENT
version in every worker) are in :mod:`models.serving`; it uses this module's :class:`ModelVersion`, errors and
CURRENT/CHALLENGER reads.

Nothing here imports Flask: errors are domain errors (``features.errors``), mapped to HTTP in ``service/``.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from features.errors import Conflict, InvalidInput, KefuError, NotFound, NotReady
from models.challenger import Challenger, check as check_challenge

try:  # POSIX only; without it (Windows) writers in one process are still serialised by a thread lock
    import fcntl
except ImportError:  # pragma: no cover - not on the Linux targets
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Model names become folder names and URL segments: lower case, no path separators, no leading dot.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
#: Versions we read back: anything that cannot escape the model folder or hide as a temp folder.
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: Versions we create: UTC time to the second, then random hex against collisions (sortable as text).
NEW_VERSION_FORMAT = "%Y%m%dT%H%M%SZ"

META_FILE = "model.json"
CURRENT_FILE = "CURRENT"
HISTORY_FILE = "HISTORY"
CHALLENGER_FILE = "CHALLENGER"
#: HISTORY actions that start or end a challenger; they do not move CURRENT, so rollback skips them.
CHALLENGE_ACTIONS = frozenset({"challenge", "challenge_stop"})
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"
#: Bump when model.json changes shape, so old readers can refuse what they do not understand.
META_FORMAT = 1
#: Keys of model.json the registry owns; a trainer's ``extra`` may not overwrite them.
RESERVED_META_KEYS = frozenset(
    {"format", "name", "version", "kind", "created_at", "features", "data_hash", "metrics", "files"}
)


# -- errors ------------------------------------------------------------------------------------------------------
class ModelNotFound(NotFound, LookupError):
    """No such model, version, or active version. A LookupError too, so ``except LookupError`` code works."""


class ModelNotLoaded(ModelNotFound, NotReady):
    """Serving has no loadable version of this model (none active, or every attempt failed).

    A :class:`ModelNotFound` (the serving contract), and a :class:`NotReady` too, so ``service/`` can answer 503
    rather than 404 by listing ``NotReady`` before ``NotFound`` in its status table.
    """


class InvalidModelName(InvalidInput, ValueError):
    """A model name, kind or metadata that the registry cannot store safely. A ValueError too."""


class NoPreviousVersion(Conflict):
    """``rollback`` found no earlier active version (that still exists) to go back to."""


class CorruptModel(KefuError):
    """A version's files do not match the sizes and hashes recorded in its model.json."""


# -- values ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelVersion:
    """One published, immutable version: where it lies and what its model.json says.

    Equality and hashing use (name, version) only: two reads of the same version are the same version.
    """

    name: str
    version: str
    path: Path = field(compare=False)
    meta: dict = field(compare=False, repr=False)

    @property
    def kind(self) -> str:
        """Chooses the loader (e.g. ``"risk_lgbm"``); every model of one kind loads the same way."""
        return str(self.meta.get("kind", ""))

    @property
    def features(self) -> tuple[str, ...]:
        """The feature names in the column order the model was trained on."""
        return tuple(self.meta.get("features") or ())

    @property
    def created_at(self) -> str:
        return str(self.meta.get("created_at", ""))

    @property
    def metrics(self) -> dict:
        return dict(self.meta.get("metrics") or {})

    def file(self, relative: str) -> Path:
        """Path of one artifact file inside this version (loaders use this, so they never build paths)."""
        return self.path / relative


# -- small helpers -----------------------------------------------------------------------------------------------
def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(ts: datetime) -> str:
    """ISO 8601 UTC with microseconds and a 'Z': sorts as text, and orders two saves in the same second."""
    return ts.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """Plain JSON for model.json: numpy scalars/arrays, tuples, paths, dates; NaN/inf become null.

    Trainers hand over metrics straight from numpy and scikit-learn; NaN (e.g. AUC on one class) would make
    model.json invalid JSON for every tool but Python, so it is stored as null.
    """
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _jsonable(value.tolist())
    if hasattr(value, "item"):
        return _jsonable(value.item())
    raise InvalidModelName(f"model metadata value of type {type(value).__name__} cannot be stored as JSON")


def _fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (a power cut after os.replace must not undo it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _actor() -> str:
    """Who made an activation, for HISTORY: user@host:pid (containers may have no user name)."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def _check_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidModelName(
            f"invalid {what} {name!r}: use 1-64 characters a-z 0-9 _ . - starting with a letter or digit",
            errors={what.replace(" ", "_"): [f"must match {NAME_RE.pattern}"]},
        )
    return name


def _active_stack(entries: Sequence[Mapping]) -> list[str]:
    """Replay HISTORY into the stack of active versions, so that rollback is an undo.

    An activation pushes its version (unless it is already on top); a rollback to V pops back down to V. So
    after A, B, C and one rollback (to B), a second rollback goes to A rather than toggling back to C: an
    operator who rolls back twice after two bad deploys lands on the last good one.
    """
    stack: list[str] = []
    for entry in entries:
        version = entry.get("version")
        if not isinstance(version, str) or entry.get("action") in CHALLENGE_ACTIONS:
            continue
        if entry.get("action") == "rollback":
            while stack and stack[-1] != version:
                stack.pop()
            if not stack:
                stack.append(version)
        elif not stack or stack[-1] != version:
            stack.append(version)
    return stack


# -- storage -----------------------------------------------------------------------------------------------------
class ModelRegistry:
    """Publishes, lists and activates model versions under one root folder (``KEFU_MODEL_DIR``).

    Holds no state but the root: every answer is read from disk, so several registries (one per worker, a
    trainer's CLI) over the same folder always agree.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._thread_lock = threading.Lock()  # flock is per open file; this also covers platforms without it

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    # -- paths -----------------------------------------------------------------------------------------------
    def _model_dir(self, name: str) -> Path:
        return self.root / name

    def _read_name(self, name: str) -> str:
        """Names given to read methods: an unsafe one cannot exist, so it is 'not found', not a crash."""
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ModelNotFound(f"no model named {name!r}")
        return name

    # -- writing ---------------------------------------------------------------------------------------------
    def save(
        self,
        name: str,
        kind: str,
        write: Callable[[Path], None],
        *,
        features: Sequence[str] = (),
        data_hash: str | None = None,
        metrics: Mapping | None = None,
        extra: Mapping | None = None,
        activate: bool = True,
    ) -> ModelVersion:
        """Publish a new version: ``write(tmp_dir)`` writes the artifact files, then model.json is added.

        The folder becomes visible under its version only when complete (one rename), so a trainer that
        raises or dies mid-write leaves no version behind and CURRENT untouched. With ``activate`` (default)
        the new version becomes CURRENT at once; pass ``activate=False`` to stage it for a later
        ``activate`` after evaluation.
        """
        _check_name(name)
        _check_name(kind, "model kind")
        features = list(features)
        if not all(isinstance(f, str) and f for f in features):
            raise InvalidModelName("feature names must be non-empty strings", errors={"features": ["not strings"]})
        duplicated = sorted({f for f in features if features.count(f) > 1})
        if duplicated:
            raise InvalidModelName(f"duplicated feature names: {duplicated}", errors={"features": duplicated})
        extra = dict(extra or {})
        clash = sorted(RESERVED_META_KEYS & set(extra))
        if clash:
            raise InvalidModelName(f"extra metadata may not set registry keys {clash}", errors={"extra": clash})
        # Fail on unstorable metadata before the trainer spends time writing files.
        user_meta = {"metrics": _jsonable(dict(metrics or {})), **_jsonable(extra)}

        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        tmp_dir = model_dir / f"{TMP_PREFIX}{secrets.token_hex(8)}"
        tmp_dir.mkdir()
        try:
            write(tmp_dir)
            if (tmp_dir / META_FILE).exists():
                raise InvalidModelName(f"the trainer wrote {META_FILE} itself; the registry owns that file")
            files = self._describe_files(tmp_dir)
            now = _utcnow()
            version = self._new_version_id(model_dir, now)
            meta = {
                "format": META_FORMAT,
                "name": name,
                "version": version,
                "kind": kind,
                "created_at": _iso(now),
                "features": features,
                "data_hash": data_hash,
                **user_meta,
                "files": files,
            }
            meta_tmp = tmp_dir / META_FILE
            with open(meta_tmp, "w", encoding="utf-8") as fh:
                json.dump(meta, fh, indent=2, sort_keys=False, allow_nan=False)
                fh.write("\n")
            self._seal(tmp_dir)
            final = model_dir / version
            os.replace(tmp_dir, final)  # the publish: one rename; the target cannot exist (checked above)
            _fsync_dir(model_dir)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        saved = ModelVersion(name, version, final, meta)
        log.info("saved model %s version %s (kind %s, %d files)", name, version, kind, len(files))
        if activate:
            with self._locked(name):
                self._set_current(name, version, action="activate", reason="saved by trainer", by=None)
        return saved

    def clone(self, name: str, version: str) -> ModelVersion:
        """Publish a copy of ``version`` as a new, inactive version: the same model under another version id.
        Served as the challenger of the original it is an A/A test, which checks the set-up (the split, the
        logging, the report) before a real candidate is judged by it; benchmarks use it to cost a challenger."""
        source = self.get(self._read_name(name), version)
        self.verify(source)

        def write(folder: Path) -> None:
            for rel in source.meta.get("files") or {}:
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source.path / rel, folder / rel)

        return self.save(name, source.kind, write, features=list(source.features),
                         data_hash=source.meta.get("data_hash"), metrics=source.metrics, activate=False,
                         extra={k: v for k, v in source.meta.items() if k not in RESERVED_META_KEYS})

    @staticmethod
    def _new_version_id(model_dir: Path, now: datetime) -> str:
        for _ in range(100):
            version = f"{now.strftime(NEW_VERSION_FORMAT)}-{secrets.token_hex(3)}"
            if not (model_dir / version).exists():
                return version
        raise Conflict(f"could not find a free version id in {model_dir}")  # pragma: no cover

    @staticmethod
    def _describe_files(folder: Path) -> dict[str, dict]:
        """Size and sha256 of every artifact file, so a truncated or altered file is caught before loading."""
        described: dict[str, dict] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            described[rel] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
        return described

    @staticmethod
    def _seal(folder: Path) -> None:
        """fsync every file and folder, then drop write bits on files: versions are immutable.

        The fsyncs make sure the rename that publishes the version cannot reach the disk before the data
        does. Read-only files stop a careless ``open(..., "w")`` from editing a published version (root
        ignores the bits; the recorded hashes still catch it at load). Folders stay writable, so a loader
        may cache derived files (e.g. a compiled model) beside the artifact and old versions can be deleted.
        """
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
                path.chmod(path.stat().st_mode & ~0o222)
            elif path.is_dir():
                _fsync_dir(path)
        _fsync_dir(folder)

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """Serialise CURRENT+HISTORY writers across threads and processes (two trainers, a CLI)."""
        model_dir = self._model_dir(name)
        if not model_dir.is_dir():
            raise ModelNotFound(f"no model named {name!r}")
        with self._thread_lock:
            if fcntl is None:  # pragma: no cover
                yield
                return
            with open(model_dir / LOCK_FILE, "a") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _write_pointer(self, name: str, filename: str, text: str) -> None:
        """Replace CURRENT (or CHALLENGER) atomically: readers see the old or the new text, never a part of one."""
        model_dir = self._model_dir(name)
        tmp = model_dir / f"{TMP_PREFIX}{filename}-{secrets.token_hex(6)}"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, model_dir / filename)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(model_dir)

    def _append_history(self, name: str, entry: Mapping) -> None:
        """One JSON line per activation. If a crash tore the last line, start on a fresh line, or this entry
        would be glued to the torn one and lost with it."""
        line = (json.dumps(_jsonable(dict(entry)), sort_keys=True) + "\n").encode("utf-8")
        with open(self._model_dir(name) / HISTORY_FILE, "a+b") as fh:
            end = fh.seek(0, os.SEEK_END)
            if end:
                fh.seek(end - 1)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
            fh.write(line)  # append mode: lands at the end whatever the position
            fh.flush()
            os.fsync(fh.fileno())

    def _set_current(self, name: str, version: str, *, action: str, reason: str, by: str | None) -> None:
        """CURRENT first, HISTORY second: if a crash falls between, CURRENT (what serves) is right, and
        ``rollback`` copes with the missing line (it treats CURRENT as the top of the stack)."""
        previous = self._read_current(name)
        self._write_pointer(name, CURRENT_FILE, version)
        self._append_history(
            name,
            {"version": version, "previous": previous, "at": _iso(_utcnow()), "action": action,
             "reason": reason, "by": by or _actor()},
        )
        log.info("model %s: %s %s (was %s) %s", name, action, version, previous, reason)
        challenger = self.challenger(name)
        if challenger is not None and challenger.version == version:  # promoted: it is the champion now
            self._clear_challenger(name, challenger, f"{action}d: {version} is the active version", by)

    def activate(self, name: str, version: str, reason: str = "", *, by: str | None = None) -> ModelVersion:
        """Make ``version`` the live one; every LoadedModels over this root picks it up on its next check."""
        with self._locked(self._read_name(name)):
            mv = self.get(name, version)
            self._set_current(name, version, action="activate", reason=reason, by=by)
        return mv

    def rollback(self, name: str, reason: str = "", *, by: str | None = None) -> ModelVersion:
        """Go back to the version that was active before the current one, per HISTORY.

        Repeated rollbacks keep walking back (undo), they do not toggle; versions deleted since are skipped.
        Raises :class:`NoPreviousVersion` when there is nothing earlier.
        """
        with self._locked(self._read_name(name)):
            current = self._read_current(name)
            if current is None:
                raise NoPreviousVersion(f"model {name!r} has no active version to roll back from")
            stack = _active_stack(self.history(name))
            if not stack or stack[-1] != current:
                stack.append(current)  # CURRENT changed without its HISTORY line (crash between the two)
            for candidate in reversed(stack[:-1]):
                if candidate == current:
                    continue
                try:
                    mv = self.get(name, candidate)
                except ModelNotFound:
                    log.warning("model %s: skipping deleted version %s in rollback", name, candidate)
                    continue
                self._set_current(name, candidate, action="rollback", reason=reason or f"rollback from {current}",
                                  by=by)
                return mv
            raise NoPreviousVersion(f"model {name!r} has no earlier active version than {current}")

    # -- challenger ------------------------------------------------------------------------------------------
    def set_challenger(self, name: str, version: str, *, mode: str, share: float | None = None, reason: str = "",
                       by: str | None = None) -> Challenger:
        """Serve ``version`` as the challenger of the active one (models.challenger: shadow or split), replacing
        any challenger before it. Refused for the active version itself, or when no version is active."""
        with self._locked(self._read_name(name)):
            self.get(name, version)
            try:
                share = check_challenge(mode, share)
            except ValueError as exc:
                raise InvalidInput(str(exc), errors={"mode" if "mode" in str(exc) else "share": [str(exc)]}) from None
            current = self._read_current(name)
            if current is None:
                raise Conflict(f"model {name!r} has no active version for {version} to challenge")
            if current == version:
                raise Conflict(f"version {version} is the active version of {name!r}; challenge it with another")
            challenger = Challenger(name=name, version=version, mode=mode, share=share, since=_iso(_utcnow()),
                                    by=by or _actor(), reason=reason)
            self._write_pointer(name, CHALLENGER_FILE, json.dumps(challenger.as_dict(), sort_keys=True))
            self._append_history(name, {"action": "challenge", "version": version, "mode": mode, "share": share,
                                        "champion": current, "at": challenger.since, "reason": reason,
                                        "by": challenger.by})
            log.info("model %s: %s challenges %s (%s, share %.3g) %s", name, version, current, mode, share, reason)
        return challenger

    def stop_challenger(self, name: str, reason: str = "", *, by: str | None = None) -> Challenger | None:
        """End the challenger (its scores stay in the audit trail); returns it, or None when there was none."""
        with self._locked(self._read_name(name)):
            challenger = self.challenger(name)
            if challenger is not None:
                self._clear_challenger(name, challenger, reason, by)
        return challenger

    def _clear_challenger(self, name: str, challenger: Challenger, reason: str, by: str | None) -> None:
        (self._model_dir(name) / CHALLENGER_FILE).unlink(missing_ok=True)
        _fsync_dir(self._model_dir(name))
        self._append_history(name, {"action": "challenge_stop", "version": challenger.version,
                                    "mode": challenger.mode, "at": _iso(_utcnow()), "reason": reason,
                                    "by": by or _actor()})
        log.info("model %s: challenger %s stopped %s", name, challenger.version, reason)

    def challenger(self, name: str) -> Challenger | None:
        """The challenger of ``name``, or None. An unreadable CHALLENGER file is logged and read as none: it must
        never stop the champion from serving."""
        try:
            text = (self._model_dir(self._read_name(name)) / CHALLENGER_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Challenger(**json.loads(text))
        except (ValueError, TypeError) as exc:
            log.error("model %s: unreadable %s (%s); serving without a challenger", name, CHALLENGER_FILE, exc)
            return None

    def _challenger_stamp(self, name: str) -> tuple[int, int, int] | None:
        return self._stamp(name, CHALLENGER_FILE)

    def discard_temp(self, older_than_s: float = 3600.0) -> int:
        """Remove temp folders and files left by trainers that died mid-save; returns how many went.

        Only old ones: a younger one may belong to a save still running in another process.
        """
        removed = 0
        cutoff = time.time() - older_than_s
        for name in self.names(include_empty=True):
            for path in self._model_dir(name).glob(f"{TMP_PREFIX}*"):
                try:
                    if path.stat().st_mtime > cutoff:
                        continue
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def prune(self, name: str, keep: int, *, which: Callable[[ModelVersion], bool] = lambda mv: True) -> list[str]:
        """Delete the versions ``which`` selects, all but the newest ``keep`` of them, never the active version or
        the challenger; returns the deleted version ids, oldest first. For a scheduled refresh that publishes a
        version every few hours, so the folder does not grow without end. A deleted version disappears in one
        rename before its files go; rollback skips versions deleted since (see :meth:`rollback`), and a worker
        that loaded one keeps serving it from memory until it loads the next."""
        if keep < 1:
            raise ValueError("keep at least one version")
        removed: list[str] = []
        with self._locked(self._read_name(name)):
            chosen = [mv for mv in self.versions(name) if which(mv)]
            challenger = self.challenger(name)
            spared = {self._read_current(name), challenger.version if challenger is not None else None}
            for mv in chosen[:-keep]:
                if mv.version in spared:
                    continue
                doomed = self._model_dir(name) / f"{TMP_PREFIX}pruned-{mv.version}"
                os.replace(mv.path, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
                removed.append(mv.version)
            if removed:
                _fsync_dir(self._model_dir(name))
                log.info("model %s: pruned %d versions (%s)", name, len(removed), ", ".join(removed))
        return removed

    # -- reading ---------------------------------------------------------------------------------------------
    def names(self, *, include_empty: bool = False) -> list[str]:
        """Model names with at least one published version (or every model folder, with ``include_empty``)."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(self.root.iterdir()):
            if not entry.is_dir() or not NAME_RE.match(entry.name):
                continue
            if include_empty or self._version_dirs(entry.name):
                found.append(entry.name)
        return found

    def _version_dirs(self, name: str) -> list[Path]:
        model_dir = self._model_dir(name)
        if not model_dir.is_dir():
            return []
        return [p for p in model_dir.iterdir()
                if p.is_dir() and VERSION_RE.match(p.name) and (p / META_FILE).is_file()]

    def _load(self, name: str, folder: Path) -> ModelVersion:
        with open(folder / META_FILE, encoding="utf-8") as fh:
            meta = json.load(fh)
        if not isinstance(meta, dict):
            raise ValueError(f"{folder / META_FILE} is not a JSON object")
        return ModelVersion(name, folder.name, folder, meta)

    def versions(self, name: str) -> list[ModelVersion]:
        """Published versions, oldest first. Temp folders, folders without (or with unreadable) model.json
        are not versions and are left out."""
        self._read_name(name)
        found = []
        for folder in self._version_dirs(name):
            try:
                found.append(self._load(name, folder))
            except (OSError, ValueError) as exc:
                log.warning("model %s: ignoring %s: unreadable %s (%s)", name, folder.name, META_FILE, exc)
        return sorted(found, key=lambda mv: (mv.created_at, mv.version))

    def get(self, name: str, version: str) -> ModelVersion:
        """One version, read fresh from its model.json; :class:`ModelNotFound` when it does not exist."""
        self._read_name(name)
        if not isinstance(version, str) or not VERSION_RE.match(version):
            raise ModelNotFound(f"model {name!r} has no version {version!r}")
        folder = self._model_dir(name) / version
        try:
            return self._load(name, folder)
        except FileNotFoundError:
            raise ModelNotFound(f"model {name!r} has no version {version!r}") from None
        except (OSError, ValueError) as exc:
            raise CorruptModel(f"model {name!r} version {version!r}: unreadable {META_FILE}: {exc}") from exc

    def _read_current(self, name: str) -> str | None:
        """The CURRENT version string, or None when no version was ever activated."""
        try:
            with open(self._model_dir(name) / CURRENT_FILE, encoding="utf-8") as fh:
                text = fh.read(256).strip()
        except FileNotFoundError:
            return None
        return text or None

    def _current_stamp(self, name: str) -> tuple[int, int, int] | None:
        """(inode, mtime_ns, size) of CURRENT: the one os.stat the serving hot path allows itself.

        ``os.replace`` always brings a new inode, so an activation changes the stamp even within one
        mtime tick.
        """
        return self._stamp(name, CURRENT_FILE)

    def _stamp(self, name: str, filename: str) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._model_dir(name) / filename)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self, name: str) -> ModelVersion | None:
        """The live version, or None when none was activated. :class:`ModelNotFound` when CURRENT names a
        version that is gone (a broken state an operator must see, not silently 'no model')."""
        self._read_name(name)
        version = self._read_current(name)
        if version is None:
            return None
        return self.get(name, version)

    def history(self, name: str) -> list[dict]:
        """Activations and rollbacks, oldest first: version, previous, at, action, reason, by.

        A torn last line (a crash mid-append) is skipped, not fatal.
        """
        self._read_name(name)
        path = self._model_dir(name) / HISTORY_FILE
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                log.warning("model %s: skipping unreadable HISTORY line %d", name, number)
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def verify(self, mv: ModelVersion) -> None:
        """Check the files against the sizes and hashes in model.json; :class:`CorruptModel` if they differ.

        Loaders often accept a truncated file without complaint (a JSON tail, a partly copied text model),
        so serving verifies before loading. Extra files (a loader's cache) are allowed.
        """
        for rel, expected in (mv.meta.get("files") or {}).items():
            path = mv.path / rel
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise CorruptModel(f"{mv.name} {mv.version}: file {rel} is missing") from None
            if size != expected.get("bytes"):
                raise CorruptModel(f"{mv.name} {mv.version}: file {rel} has {size} bytes, "
                                   f"model.json says {expected.get('bytes')}")
            if expected.get("sha256") and _sha256(path) != expected["sha256"]:
                raise CorruptModel(f"{mv.name} {mv.version}: file {rel} does not match its recorded sha256")

