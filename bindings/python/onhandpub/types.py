"""Enumerations and plain data classes of the binding."""

from __future__ import annotations

import datetime as _dt
import enum
import pathlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _lib


class Items(enum.IntEnum):
    """Items to Publish (``ohp_items``)."""

    BOTH = 0
    SERIAL = 1
    NONSERIAL = 2


class Mode(enum.IntEnum):
    """Publish mode as written in PUBLISH_MODE (``ohp_mode``)."""

    FULL = 0
    INCREMENTAL = 1


class OnError(enum.IntEnum):
    """What a record error does to the run (``ohp_on_error``)."""

    FAIL = 0
    REJECT = 1


class Engine(enum.IntEnum):
    """The deflate engine (``ohp_engine``).  ``ZLIB``: the same archive on
    every machine.  ``ISAL``: Intel ISA-L, several times faster; its bytes
    can differ between processors (never the entry it inflates to).
    ``BEST``: ISA-L when the library has it, zlib otherwise."""

    ZLIB = 0
    ISAL = 1
    BEST = 2


class Status(enum.IntEnum):
    """Outcome of a run, for a scheduler (``ohp_status``)."""

    NOT_RUN = 0
    SUCCEEDED = 1
    WARNINGS = 2
    REFUSED = 3
    FAILED = 4


class Rule(enum.IntEnum):
    """Record rules (``ohp_rule``)."""

    NONE = 0
    REQUIRED = 1
    QUANTITY = 2
    DATE = 3
    ID = 4
    UTF8 = 5
    SERIAL_COUNT = 6
    SERIAL_QUANTITY = 7
    SERIAL_DUPLICATE = 8
    SERIAL_NOT_ALLOWED = 9
    SERIAL_RANGE = 10
    UOM = 11
    LIMIT = 12
    SOURCE = 13


#: The privilege a user needs to publish.
PRIVILEGE = _lib.OHP_PRIVILEGE
#: The seeded registry code, Oracle WMS.
ORACLE_WMS = _lib.OHP_SYSTEM_ORACLE_WMS

SerialSpec = Union[str, Sequence[Union[str, Tuple[str, str]]], None]


@dataclass
class Record:
    """A balance record, one of the source's items.

    Field names are the balances PSV columns in lower case.  Text fields take
    ``str`` (or ``bytes``, ``int``, ``Decimal``; dates also ``datetime`` /
    ``date``); ``None`` or ``""`` means absent.  Quantities must not be
    ``float``.  ``serial_numbers`` is a list of serials and ``(from, to)``
    range tuples, or a text ``"A,B,C001..C010"``.
    """

    organization_code: Optional[str] = None
    item_number: Optional[str] = None
    subinventory_code: Optional[str] = None
    primary_quantity: Union[str, int, Decimal, None] = None
    primary_uom_code: Optional[str] = None
    last_update_date: Union[str, _dt.datetime, _dt.date, None] = None
    serial_controlled: bool = False
    serial_numbers: SerialSpec = None
    organization_id: Union[str, int, None] = None
    inventory_item_id: Union[str, int, None] = None
    revision: Optional[str] = None
    locator_id: Union[str, int, None] = None
    locator_name: Optional[str] = None
    lot_number: Optional[str] = None
    lot_expiration_date: Union[str, _dt.date, None] = None
    secondary_quantity: Union[str, int, Decimal, None] = None
    secondary_uom_code: Optional[str] = None
    consigned: bool = False
    owning_party_id: Union[str, int, None] = None
    project_id: Union[str, int, None] = None
    task_id: Union[str, int, None] = None
    material_status_code: Optional[str] = None


@dataclass(frozen=True)
class ExternalSystem:
    """One value of the external-system registry (lookup
    ORA_INV_BALANCES_INV_EXTERNAL)."""

    code: str
    meaning: str
    description: Optional[str] = None
    enabled: bool = True
    start_date: Optional[_dt.date] = None
    end_date: Optional[_dt.date] = None
    display_sequence: Optional[int] = None
    tag: Optional[str] = None


@dataclass(frozen=True)
class Rejection:
    """A record rejected under policy ``reject``.

    Attributes:
        ordinal: 1-based position of the record in the source.
        rule: the rule broken.
        message: the library's message, naming the record and the rule.
        key: the record's key fields (organization_code, item_number,
            revision, subinventory_code, locator_id, locator_name,
            lot_number), absent ones as ``None``.
        record: every field the record carried, as text, keyed by the
            lower-case column name (serial numbers as ``serial_numbers``).
        item: the Python object the source yielded for this record, or
            ``None`` for a file source.
        line: for a file source (a path, bytes, a binary file), the line of
            the input where the record's row starts; ``None`` otherwise.
        column: for a file source, the name of the column the rule
            concerns, when it concerns one; ``None`` otherwise.
    """

    ordinal: int
    rule: Rule
    message: str
    key: Dict[str, Optional[str]]
    record: Dict[str, Any]
    item: Any = None
    line: Optional[int] = None
    column: Optional[str] = None

    @property
    def rule_name(self) -> str:
        """The rule's name, e.g. ``"SERIAL_COUNT"``."""
        return self.rule.name


@dataclass
class Summary:
    """What a run did; returned by :func:`onhandpub.publish` and carried by
    the exception of a failed run (``exc.summary``).

    ``skipped`` counts by reason: ``organization`` (other organizations),
    ``item_type`` (excluded by Items to Publish), ``window`` (incremental:
    records of keys none of whose records changed in the window), ``zero``
    (full mode: zero quantity).  ``changed_keys`` (incremental) is the
    number of balance keys published whole because a record of theirs
    changed.
    ``control_totals`` maps each primary UOM to the exact sum of
    PRIMARY_QUANTITY over the published lines, in first-seen order.
    ``data`` holds the ZIP when the sink was ``None``; ``path`` the final
    file when the sink was a path.
    """

    status: Status
    error: int
    message: str
    mode: Mode
    items: Items
    window_start: Optional[_dt.datetime]
    snapshot_date: Optional[_dt.datetime]
    run_id: int
    system_code: str
    organization_code: str
    file_name: str
    entry_name: str
    records_read: int
    records_published: int
    skipped: Dict[str, int]
    records_rejected: int
    serial_lines: int
    lines_written: int
    psv_bytes: int
    compressed_bytes: int
    zip_bytes: int
    crc32: int
    warnings: List[str] = field(default_factory=list)
    error_ordinal: Optional[int] = None
    error_rule: Optional["Rule"] = None
    control_totals: Dict[str, Decimal] = field(default_factory=dict)
    data: Optional[bytes] = field(default=None, repr=False)
    path: Optional[pathlib.Path] = None
    changed_keys: int = 0
    #: The deflate engine that ran (never ``Engine.BEST``).
    engine: Engine = Engine.ZLIB
    #: For a file source: the line (and column name) of the record that
    #: failed the run.
    error_line: Optional[int] = None
    error_column: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when the run succeeded (with or without warnings)."""
        return self.status in (Status.SUCCEEDED, Status.WARNINGS)

    @property
    def records_skipped(self) -> int:
        """Skipped records, all reasons together."""
        return sum(self.skipped.values())
