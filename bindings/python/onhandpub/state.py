"""State stores: the watermark of each (system, organization) and run ids.

A state store is any object with these methods (each optional):

* ``get(system_code, organization_code) -> datetime | None`` -- the
  snapshot date of the last successful run, or ``None``;
* ``next_run_id() -> int`` -- the next free run id (one more than the last
  recorded, starting at 1), without consuming it;
* ``commit(system_code, organization_code, snapshot_date, run_id)`` --
  record a successful run; called only after the sink has committed.

Two are provided: :class:`MemoryStateStore` and :class:`FileStateStore`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from typing import Any, Dict, Optional, Tuple, Union

from .dates import from_epoch, text_date, to_epoch

_FORMAT = "onhandpub-state"
_VERSION = 1


class MemoryStateStore:
    """A state store held in memory (for tests and one-process schedulers)."""

    def __init__(self) -> None:
        self.watermarks: Dict[Tuple[str, str], Tuple[_dt.datetime, int]] = {}
        self.last_run_id = 0

    def get(self, system_code: str, organization_code: str) -> Optional[_dt.datetime]:
        """The last successful snapshot date, or None."""
        entry = self.watermarks.get((system_code, organization_code))
        return entry[0] if entry else None

    def next_run_id(self) -> int:
        """One more than the last recorded run id."""
        return self.last_run_id + 1

    def commit(
        self, system_code: str, organization_code: str, snapshot_date: _dt.datetime, run_id: int
    ) -> None:
        """Record a successful run."""
        self.watermarks[(system_code, organization_code)] = (snapshot_date, run_id)
        self.last_run_id = max(self.last_run_id, run_id)


def _write_atomic(path: str, data: bytes) -> None:
    """Write data to path: temporary file in the same directory, fsync,
    rename, fsync of the directory."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
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
    commit.  A missing file is an empty state; a corrupt or unreadable file
    raises ``ValueError`` / ``OSError`` (never treated as empty).

    The file holds ``{"format": "onhandpub-state", "version": 1,
    "last_run_id": N, "runs": {"<system>|<organization>":
    {"snapshot_date": "YYYY-MM-DDTHH:MM:SSZ", "run_id": N}}}``.
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
                or state.get("version") != _VERSION
                or not isinstance(state.get("last_run_id"), int)
                or not isinstance(state.get("runs"), dict)
            ):
                raise ValueError("not an onhandpub state file")
            for entry in state["runs"].values():
                to_epoch(entry["snapshot_date"])
                int(entry["run_id"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"state file {self.path} is corrupt: {exc}") from exc
        return state

    @staticmethod
    def _key(system_code: str, organization_code: str) -> str:
        return f"{system_code}|{organization_code}"

    def get(self, system_code: str, organization_code: str) -> Optional[_dt.datetime]:
        """The last successful snapshot date, or None."""
        entry = self._load()["runs"].get(self._key(system_code, organization_code))
        return from_epoch(to_epoch(entry["snapshot_date"])) if entry else None

    def last_run(self, system_code: str, organization_code: str) -> Optional[int]:
        """The run id of the last successful run, or None."""
        entry = self._load()["runs"].get(self._key(system_code, organization_code))
        return int(entry["run_id"]) if entry else None

    def next_run_id(self) -> int:
        """One more than the last recorded run id."""
        return int(self._load()["last_run_id"]) + 1

    def commit(
        self, system_code: str, organization_code: str, snapshot_date: _dt.datetime, run_id: int
    ) -> None:
        """Record a successful run (atomic replace of the file)."""
        state = self._load()
        when = snapshot_date.astimezone(_dt.timezone.utc)
        state["runs"][self._key(system_code, organization_code)] = {
            "snapshot_date": text_date(when),
            "run_id": int(run_id),
        }
        state["last_run_id"] = max(int(state["last_run_id"]), int(run_id))
        data = json.dumps(state, indent=1, sort_keys=True).encode("utf-8") + b"\n"
        _write_atomic(self.path, data)
