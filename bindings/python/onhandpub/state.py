"""State stores: the watermarks of each (system, organization) and run ids.

A state store is an object with one of two sets of methods.

Per item class (the bundled stores; since 1.1).  Serial-controlled and
other items each have a watermark, so that a run of one class never moves
the other's, and run ids are reserved before the archive is written:

* ``get_classes(system_code, organization_code) -> dict`` -- ``{"serial":
  ClassState, "nonserial": ClassState}``; a missing class was never
  published;
* ``reserve_run_id(requested) -> int`` -- ``requested == 0``: take the next
  free run id and return it; else record ``requested`` as taken and return
  it.  The reservation must be durable: an id handed out is never handed
  out again, whatever happens to the run;
* ``commit_classes(system_code, organization_code, items, states, run_id)``
  -- record a successful run: ``states`` maps each class the run covered
  (``items``: "both", "serial" or "nonserial") to its new ``ClassState``;
  called only after the sink committed.

One watermark (1.0's protocol, each method optional): ``get(system_code,
organization_code) -> datetime | None``, ``next_run_id() -> int`` (not
consumed) and ``commit(system_code, organization_code, snapshot_date,
run_id)``.  A run of one item class then moves the watermark of both.

Two are provided: :class:`MemoryStateStore` and :class:`FileStateStore`.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
from typing import Any, Dict, NamedTuple, Optional, Tuple, Union

from . import _files
from .dates import from_epoch, text_date, to_epoch

_FORMAT = "onhandpub-state"
_VERSION = 2
CLASSES = ("serial", "nonserial")


class ClassState(NamedTuple):
    """The state of one item class: where its next incremental window
    starts (``watermark``, held back to the oldest change of a record the
    last run rejected) and the date of its last snapshot."""

    watermark: Optional[_dt.datetime]
    last_snapshot: Optional[_dt.datetime]


def _older(states: Dict[str, ClassState]) -> Optional[_dt.datetime]:
    """The window start of a run of both classes: the older watermark, or
    None when a class was never published."""
    marks = [states[c].watermark if c in states else None for c in CLASSES]
    if any(m is None for m in marks):
        return None
    return min(marks)  # type: ignore[type-var]


class MemoryStateStore:
    """A state store held in memory (for tests and one-process schedulers),
    with a watermark per item class and reserved run ids."""

    def __init__(self) -> None:
        self.classes: Dict[Tuple[str, str], Dict[str, ClassState]] = {}
        self.last_runs: Dict[Tuple[str, str], int] = {}
        self.last_run_id = 0

    def get_classes(self, system_code: str, organization_code: str) -> Dict[str, ClassState]:
        """The state of each item class published so far."""
        return dict(self.classes.get((system_code, organization_code), {}))

    def reserve_run_id(self, requested: int) -> int:
        """Take the next free run id (requested == 0) or record the one given."""
        if requested:
            self.last_run_id = max(self.last_run_id, requested)
            return requested
        self.last_run_id += 1
        return self.last_run_id

    def commit_classes(self, system_code: str, organization_code: str, items: str,
                       states: Dict[str, ClassState], run_id: int) -> None:
        """Record a successful run."""
        key = (system_code, organization_code)
        self.classes.setdefault(key, {}).update(states)
        self.last_runs[key] = run_id

    # -- queries ------------------------------------------------------------

    def get(self, system_code: str, organization_code: str) -> Optional[_dt.datetime]:
        """Where an incremental run of both classes would start, or None."""
        return _older(self.get_classes(system_code, organization_code))

    def next_run_id(self) -> int:
        """The run id the next run will take."""
        return self.last_run_id + 1

    def last_run(self, system_code: str, organization_code: str) -> Optional[int]:
        """The run id of the last successful run, or None."""
        return self.last_runs.get((system_code, organization_code))

    def seed(self, system_code: str, organization_code: str, watermark: _dt.datetime,
             run_id: int) -> None:
        """Record a past success of both classes (e.g. moved from another store)."""
        self.commit_classes(system_code, organization_code, "both",
                            {c: ClassState(watermark, watermark) for c in CLASSES}, run_id)
        self.last_run_id = max(self.last_run_id, run_id)


def _write_atomic(path: str, data: bytes) -> None:
    """Write data to path: an unnamed file (O_TMPFILE) in the same directory,
    fsync, linked to a temporary name and renamed over path at once, fsync of
    the directory; a killed process leaves nothing.  Where O_TMPFILE is not
    available, a named temporary held under flock, which a later write
    removes once its process is gone (the onhandpub command's rules)."""
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    _files.clean_temporaries(directory, name)
    fd = _files.unnamed_file(directory)
    tmp: Optional[str] = None
    if fd is None:
        fd, tmp = _files.create_named(directory, name)
    else:
        _files.lock(fd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if tmp is None:
                # linkat cannot replace: a name for the moment of the rename
                for _ in range(32):
                    candidate = os.path.join(directory, _files.temp_name(name))
                    try:
                        _files.link_fd(f.fileno(), candidate)
                    except FileExistsError:
                        continue
                    tmp = candidate
                    break
                else:
                    raise FileExistsError(errno.EEXIST, "no free temporary name", directory)
            os.replace(tmp, path)
            tmp = None
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


class FileStateStore:
    """A state store kept in a JSON file, replaced atomically on every
    change, with a watermark per item class and reserved run ids.  A
    missing file is an empty state; a corrupt or unreadable file raises
    ``ValueError`` / ``OSError`` (never treated as empty).

    The file holds ``{"format": "onhandpub-state", "version": 2,
    "last_run_id": N, "runs": {"<system>|<organization>": {"run_id": N,
    "classes": {"serial": {"watermark": DATE, "last_snapshot": DATE},
    "nonserial": {...}}}}}`` with dates as ``YYYY-MM-DDTHH:MM:SSZ``.  A
    version 1 file (one ``snapshot_date`` per entry) is read as that date
    for both classes, and written back as version 2 at the next change.
    It is re-read on every call, so several processes may take turns; it
    takes no lock, so do not run two publishes on one file at the same time.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path = os.fspath(path)

    def _load(self) -> Dict[str, Any]:
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return {"format": _FORMAT, "version": _VERSION, "last_run_id": 0, "runs": {}}
        try:
            state = json.loads(raw.decode("utf-8"))
            if (
                not isinstance(state, dict)
                or state.get("format") != _FORMAT
                or state.get("version") not in (1, 2)
                or not isinstance(state.get("last_run_id"), int)
                or not isinstance(state.get("runs"), dict)
            ):
                raise ValueError("not an onhandpub state file of version 1 or 2")
            runs = {}
            for key, entry in state["runs"].items():
                if state["version"] == 1:
                    date = text_date(from_epoch(to_epoch(entry["snapshot_date"])))
                    classes = {c: {"watermark": date, "last_snapshot": date} for c in CLASSES}
                else:
                    classes = {}
                    for c, cs in entry["classes"].items():
                        if c not in CLASSES:
                            raise ValueError(f"unknown item class {c!r}")
                        for field in ("watermark", "last_snapshot"):
                            if cs[field] is not None:
                                to_epoch(cs[field])
                        classes[c] = {"watermark": cs["watermark"],
                                      "last_snapshot": cs["last_snapshot"]}
                runs[key] = {"run_id": int(entry["run_id"]), "classes": classes}
            state = {"format": _FORMAT, "version": _VERSION,
                     "last_run_id": int(state["last_run_id"]), "runs": runs}
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ValueError(f"state file {self.path} is corrupt: {exc}") from exc
        return state

    def _save(self, state: Dict[str, Any]) -> None:
        data = json.dumps(state, indent=1, sort_keys=True).encode("utf-8") + b"\n"
        _write_atomic(self.path, data)

    @staticmethod
    def _key(system_code: str, organization_code: str) -> str:
        return f"{system_code}|{organization_code}"

    @staticmethod
    def _date(text: Optional[str]) -> Optional[_dt.datetime]:
        return None if text is None else from_epoch(to_epoch(text))

    def get_classes(self, system_code: str, organization_code: str) -> Dict[str, ClassState]:
        """The state of each item class published so far."""
        entry = self._load()["runs"].get(self._key(system_code, organization_code))
        if not entry:
            return {}
        return {c: ClassState(self._date(cs["watermark"]), self._date(cs["last_snapshot"]))
                for c, cs in entry["classes"].items()}

    def reserve_run_id(self, requested: int) -> int:
        """Take the next free run id (requested == 0) or record the one
        given; the file is replaced before this returns."""
        state = self._load()
        last = int(state["last_run_id"])
        run_id = requested if requested else last + 1
        state["last_run_id"] = max(last, run_id)
        self._save(state)
        return run_id

    def commit_classes(self, system_code: str, organization_code: str, items: str,
                       states: Dict[str, ClassState], run_id: int) -> None:
        """Record a successful run (atomic replace of the file)."""
        state = self._load()
        key = self._key(system_code, organization_code)
        entry = state["runs"].setdefault(key, {"run_id": 0, "classes": {}})
        for c, cs in states.items():
            entry["classes"][c] = {
                "watermark": None if cs.watermark is None else text_date(cs.watermark),
                "last_snapshot": None if cs.last_snapshot is None else text_date(cs.last_snapshot),
            }
        entry["run_id"] = int(run_id)
        state["last_run_id"] = max(int(state["last_run_id"]), int(run_id))
        self._save(state)

    # -- queries ------------------------------------------------------------

    def get(self, system_code: str, organization_code: str) -> Optional[_dt.datetime]:
        """Where an incremental run of both classes would start, or None."""
        return _older(self.get_classes(system_code, organization_code))

    def last_run(self, system_code: str, organization_code: str) -> Optional[int]:
        """The run id of the last successful run, or None."""
        entry = self._load()["runs"].get(self._key(system_code, organization_code))
        return int(entry["run_id"]) if entry else None

    def next_run_id(self) -> int:
        """The run id the next run will take."""
        return int(self._load()["last_run_id"]) + 1
