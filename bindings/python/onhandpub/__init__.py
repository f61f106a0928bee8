"""Python binding of libonhandpub: publish on-hand inventory balances as a
pipe-separated snapshot file (layout v1) inside a ZIP.

The package loads the shared library with ``ctypes`` (no compiled
extension): first the file named by the environment variable
``OHP_LIBRARY``, then the installed soname ``libonhandpub.so.1``, then
whatever ``ctypes.util.find_library("onhandpub")`` finds.

Example::

    import onhandpub
    rows = [{"organization_code": "M1", "item_number": "AS54888",
             "subinventory_code": "STORES", "serial_controlled": "N",
             "primary_quantity": "12.5", "primary_uom_code": "EA",
             "last_update_date": "2026-01-05T10:00:00Z"}]
    summary = onhandpub.publish(rows, "out/", organization="M1",
                                full=True, caller_authorized=True)
    print(summary.path, summary.lines_written, summary.control_totals)
"""

from __future__ import annotations

from . import _lib
from .dates import canonical_quantity, format_date, parse_date
from .errors import (
    AlreadyExists,
    ArchiveError,
    AuthorizerError,
    Cancelled,
    Failure,
    Inactive,
    InvalidArgument,
    InvalidState,
    LimitError,
    NotAuthorized,
    EmptySnapshot,
    NotFound,
    OnhandpubError,
    OutOfMemory,
    RecordError,
    Refused,
    RejectCallbackError,
    SinkError,
    SourceError,
    StateStoreError,
    Unsupported,
    StateBusy,
    FileFailure,
)
from .job import Job, engine_available, publish
from .psv import read_psv
from .reconcile import (
    Discrepancy,
    DiscrepancyKind,
    ReconcileResult,
    ReconcileSummary,
    Side,
    Manifest,
    Snapshot,
    SnapshotRecord,
    read_snapshot,
    reconcile,
)
from .registry import Registry
from .state import ClassState, FileStateStore, MemoryStateStore
from .types import (
    ORACLE_WMS,
    PRIVILEGE,
    Engine,
    ExternalSystem,
    Items,
    Mode,
    OnError,
    Record,
    Rejection,
    Rule,
    Status,
    Summary,
)

#: Version of this binding.
__version__ = "1.1.0"

#: Path or name the library was loaded from.
library_path: str = _lib.library_path


def library_version() -> str:
    """The loaded library's version string, e.g. ``"1.0.0"``."""
    return _lib.decode(_lib.lib.ohp_version())


def library_version_number() -> int:
    """The loaded library's version number (major * 10000 + minor * 100 +
    patch)."""
    return int(_lib.lib.ohp_version_number())


def strerror(code: int) -> str:
    """The library's static text for an error code."""
    return _lib.strerror(code)


__all__ = [
    "Discrepancy",
    "DiscrepancyKind",
    "ReconcileResult",
    "ReconcileSummary",
    "Side",
    "Manifest",
    "Snapshot",
    "SnapshotRecord",
    "read_snapshot",
    "reconcile",
    "AlreadyExists",
    "ArchiveError",
    "AuthorizerError",
    "Cancelled",
    "Engine",
    "ExternalSystem",
    "Failure",
    "FileStateStore",
    "Inactive",
    "InvalidArgument",
    "InvalidState",
    "Items",
    "Job",
    "LimitError",
    "MemoryStateStore",
    "ClassState",
    "Mode",
    "NotAuthorized",
    "EmptySnapshot",
    "NotFound",
    "ORACLE_WMS",
    "OnError",
    "OnhandpubError",
    "OutOfMemory",
    "PRIVILEGE",
    "Record",
    "RecordError",
    "Refused",
    "Registry",
    "RejectCallbackError",
    "Rejection",
    "Rule",
    "SinkError",
    "SourceError",
    "StateStoreError",
    "Status",
    "Summary",
    "Unsupported",
    "StateBusy",
    "FileFailure",
    "canonical_quantity",
    "engine_available",
    "format_date",
    "library_path",
    "library_version",
    "library_version_number",
    "parse_date",
    "publish",
    "read_psv",
    "strerror",
]
