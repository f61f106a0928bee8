"""Reading published snapshots back and reconciling them with the external
system's balances (docs/reconcile.md).

Example::

    import onhandpub
    for rec in onhandpub.read_snapshot("ONHAND_0_M1_7_20261127060000.zip"):
        print(rec.item_number, rec.serial_number, rec.primary_quantity)

    result = onhandpub.reconcile(["full.zip", "incr1.zip"], "wms.psv",
                                 ignore=["lot"], tolerance_absolute="0.001")
    for d in result.discrepancies:
        print(d.kind.name, d.item_number, d.erp_quantity, d.external_quantity)
    print(result.summary.matched, result.summary.uom_totals)
"""

from __future__ import annotations

import ctypes
import enum
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _lib
from ._lib import lib
from .errors import error_for
from .types import Items, Mode

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]

_ZIP_MAGIC = b"PK\x03\x04"


class DiscrepancyKind(enum.IntEnum):
    """``ohp_discrepancy_kind``."""

    QUANTITY = 1
    MISSING_EXTERNAL = 2
    MISSING_ERP = 3
    UOM = 4
    SERIAL_MISSING_EXTERNAL = 5
    SERIAL_MISSING_ERP = 6
    SERIAL_MOVED = 7
    SERIAL_DUPLICATE = 8


class Side(enum.IntEnum):
    """``ohp_side``."""

    ERP = 0
    EXTERNAL = 1


@dataclass(frozen=True)
class Manifest:
    """A snapshot's manifest (docs/psv-format.md, "The manifest"): what the
    run covered and what the entry holds.  Dates are epoch seconds (UTC)."""

    format_version: str
    layout: int
    external_system_code: str
    organization_code: str
    run_id: int
    mode: Mode
    items: Items
    window_start: Optional[int]
    snapshot_date: int
    data_lines: int
    serial_lines: int
    psv_bytes: int
    crc32: int
    totals: Dict[str, Decimal]
    library_version: str
    text: str


@dataclass(frozen=True)
class SnapshotRecord:
    """One data line of a snapshot (absent text fields are ``""``, absent
    dates ``None``; dates are seconds since the epoch, UTC)."""

    line: int
    external_system_code: str
    publish_run_id: int
    mode: int
    snapshot_date: int
    organization_id: str
    organization_code: str
    inventory_item_id: str
    item_number: str
    revision: str
    subinventory_code: str
    locator_id: str
    locator_name: str
    lot_number: str
    lot_expiration_date: Optional[int]
    serial_controlled: bool
    serial_number: str
    primary_quantity: str
    primary_uom_code: str
    secondary_quantity: str
    secondary_uom_code: str
    consigned: bool
    owning_party_id: str
    project_id: str
    task_id: str
    material_status_code: str
    last_update_date: int


@dataclass(frozen=True)
class Discrepancy:
    """One discrepancy; key parts the options ignore, or that the external
    PSV has no column for, are ``""``.  Quantities are exact ``Decimal``;
    one a class does not have (the ERP quantity of a key missing on the ERP
    side, the difference of a unit mismatch) is ``None``."""

    kind: DiscrepancyKind
    organization_code: str
    item_number: str
    revision: str
    subinventory_code: str
    locator: str
    lot_number: str
    owning_party_id: str
    erp_quantity: Optional[Decimal]
    erp_uom_code: str
    external_quantity: Optional[Decimal]
    external_uom_code: str
    difference: Optional[Decimal]
    serial_number: str
    side: Optional[Side]
    count: int
    external_revision: str
    external_subinventory_code: str
    external_locator: str
    external_lot_number: str
    external_owning_party_id: str


@dataclass
class ReconcileSummary:
    """What a reconciliation found (``ohp_reconcile_summary``)."""

    erp_lines: int = 0
    external_lines: int = 0
    erp_keys: int = 0
    external_keys: int = 0
    erp_serials: int = 0
    external_serials: int = 0
    keys_compared: int = 0
    matched: int = 0
    within_tolerance: int = 0
    quantity_mismatch: int = 0
    missing_external: int = 0
    missing_erp: int = 0
    uom_mismatch: int = 0
    serial_missing_external: int = 0
    serial_missing_erp: int = 0
    serial_moved: int = 0
    serial_duplicate: int = 0
    discrepancies: int = 0
    external_other_organization: int = 0
    #: Key parts the external side's PSV has no column for (``"revision"``,
    #: ``"locator"``, ``"lot"``, ``"owner"``): both sides were compared
    #: without them.
    compared_without: Tuple[str, ...] = ()
    #: UOM code -> (ERP total, external total), exact ``Decimal``.
    uom_totals: Dict[str, Tuple[Decimal, Decimal]] = field(default_factory=dict)


@dataclass
class ReconcileResult:
    """The discrepancies in key order and the summary."""

    discrepancies: List[Discrepancy]
    summary: ReconcileSummary


def _data(source: Source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    raise TypeError("expected bytes or a path")


class _Stream:
    """A read callback over a bytes object (kept alive with the callback)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

        def read(_ud: int, buf: int, cap: int, got) -> int:
            n = min(cap, len(self.data) - self.pos)
            if n > 0:
                ctypes.memmove(buf, self.data[self.pos:self.pos + n], n)
            self.pos += n
            got[0] = n
            return 0

        self.fn = _lib.READ_FN(read)


class _Reader:
    """An ohp_snapshot_reader over a ZIP or a bare PSV held in memory."""

    def __init__(self, source: Source) -> None:
        data = _data(source)
        self.buf = ctypes.create_string_buffer(data, len(data))
        self.stream: Optional[_Stream] = None
        handle = ctypes.c_void_p()
        if data[:4] == _ZIP_MAGIC:
            rc = lib.ohp_snapshot_reader_open_memory(ctypes.byref(handle), self.buf, len(data),
                                                     None)
        else:
            self.stream = _Stream(data)
            rc = lib.ohp_snapshot_reader_open_psv(ctypes.byref(handle), self.stream.fn, None,
                                                  None)
        if rc < 0:
            raise error_for(rc, "could not create the snapshot reader")
        self.handle = handle

    def close(self) -> None:
        if self.handle.value:
            lib.ohp_snapshot_reader_free(self.handle)
            self.handle = ctypes.c_void_p()

    def errmsg(self) -> str:
        return _lib.decode(lib.ohp_snapshot_reader_errmsg(self.handle))


def _date(v: int) -> Optional[int]:
    return None if v == _lib.OHP_TIME_NONE else int(v)


def _record(r: "_lib.ohp_snapshot_record") -> SnapshotRecord:
    d = _lib.decode
    return SnapshotRecord(
        line=int(r.line), external_system_code=d(r.external_system_code),
        publish_run_id=int(r.publish_run_id), mode=int(r.mode),
        snapshot_date=int(r.snapshot_date), organization_id=d(r.organization_id),
        organization_code=d(r.organization_code), inventory_item_id=d(r.inventory_item_id),
        item_number=d(r.item_number), revision=d(r.revision),
        subinventory_code=d(r.subinventory_code), locator_id=d(r.locator_id),
        locator_name=d(r.locator_name), lot_number=d(r.lot_number),
        lot_expiration_date=_date(r.lot_expiration_date),
        serial_controlled=bool(r.serial_controlled), serial_number=d(r.serial_number),
        primary_quantity=d(r.primary_quantity), primary_uom_code=d(r.primary_uom_code),
        secondary_quantity=d(r.secondary_quantity), secondary_uom_code=d(r.secondary_uom_code),
        consigned=bool(r.consigned), owning_party_id=d(r.owning_party_id),
        project_id=d(r.project_id), task_id=d(r.task_id),
        material_status_code=d(r.material_status_code),
        last_update_date=int(r.last_update_date))


def _manifest(reader: "_Reader") -> Optional[Manifest]:
    m = _lib.ohp_manifest()
    m.version = _lib.OHP_MANIFEST_STRUCT_VERSION
    rc = lib.ohp_snapshot_reader_manifest(reader.handle, ctypes.byref(m))
    if rc < 0:
        raise error_for(rc, reader.errmsg())
    if not m.present:
        return None
    d = _lib.decode
    totals: Dict[str, Decimal] = {}
    for i in range(m.uom_total_count):
        code, total = ctypes.c_char_p(), ctypes.c_char_p()
        lib.ohp_snapshot_reader_manifest_total(reader.handle, i, ctypes.byref(code),
                                               ctypes.byref(total))
        totals[d(code.value)] = Decimal(d(total.value))
    return Manifest(
        format_version=f"{m.format_major}.{m.format_minor}", layout=int(m.layout),
        external_system_code=d(m.external_system_code), organization_code=d(m.organization_code),
        run_id=int(m.run_id), mode=Mode(int(m.mode)), items=Items(int(m.items)),
        window_start=_date(m.window_start), snapshot_date=int(m.snapshot_date),
        data_lines=int(m.data_lines), serial_lines=int(m.serial_lines),
        psv_bytes=int(m.psv_bytes), crc32=int(m.crc32), totals=totals,
        library_version=d(m.library_version), text=d(m.text))


class Snapshot(Iterator[SnapshotRecord]):
    """The records of a published snapshot, read lazily (see
    :func:`read_snapshot`); ``manifest`` is the archive's :class:`Manifest`,
    or ``None`` when it has none."""

    def __init__(self, source: Source) -> None:
        self._reader = _Reader(source)
        try:
            self.manifest: Optional[Manifest] = _manifest(self._reader)
        except BaseException:
            self._reader.close()
            raise
        self._rec = ctypes.POINTER(_lib.ohp_snapshot_record)()

    def __iter__(self) -> "Snapshot":
        return self

    def __next__(self) -> SnapshotRecord:
        if not self._reader.handle.value:
            raise StopIteration
        rc = lib.ohp_snapshot_reader_next(self._reader.handle, ctypes.byref(self._rec))
        if rc < 0:
            msg = self._reader.errmsg()
            self._reader.close()
            raise error_for(rc, msg)
        if rc == 0:
            self._reader.close()
            raise StopIteration
        return _record(self._rec.contents)

    def close(self) -> None:
        self._reader.close()

    def __del__(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()


def read_snapshot(source: Source) -> Snapshot:
    """The records of a published snapshot: a ZIP or a bare layout v1 PSV,
    as ``bytes`` or a path, as an iterator whose ``manifest`` attribute is
    the archive's :class:`Manifest` (``None`` without one).  Every line is
    checked against the layout, the ZIP entry's CRC-32 and the manifest; a
    violation raises :class:`onhandpub.InvalidArgument` (or another
    :class:`onhandpub.OnhandpubError`) naming the line and the column, or
    both values of a manifest mismatch (since the CRC-32, the counts and the
    totals are checked at the end, records yielded before such an error must
    be discarded).  A malformed manifest, or one of another major version,
    raises when the snapshot is opened."""
    return Snapshot(source)


_IGNORE = {"revision": _lib.OHP_IGNORE_REVISION, "locator": _lib.OHP_IGNORE_LOCATOR,
           "lot": _lib.OHP_IGNORE_LOT, "owner": _lib.OHP_IGNORE_OWNER}


def _quantity(raw: Optional[bytes]) -> Optional[Decimal]:
    text = _lib.decode(raw)
    return Decimal(text) if text else None


def _discrepancy(p) -> Discrepancy:
    x = p.contents
    d = _lib.decode
    q = _quantity
    kind = DiscrepancyKind(x.kind)
    return Discrepancy(
        kind=kind, organization_code=d(x.organization_code), item_number=d(x.item_number),
        revision=d(x.revision), subinventory_code=d(x.subinventory_code), locator=d(x.locator),
        lot_number=d(x.lot_number), owning_party_id=d(x.owning_party_id),
        erp_quantity=q(x.erp_quantity), erp_uom_code=d(x.erp_uom_code),
        external_quantity=q(x.external_quantity), external_uom_code=d(x.external_uom_code),
        difference=q(x.difference), serial_number=d(x.serial_number),
        side=Side(x.side) if kind == DiscrepancyKind.SERIAL_DUPLICATE else None,
        count=int(x.count), external_revision=d(x.external_revision),
        external_subinventory_code=d(x.external_subinventory_code),
        external_locator=d(x.external_locator), external_lot_number=d(x.external_lot_number),
        external_owning_party_id=d(x.external_owning_party_id))


def reconcile(snapshots: Union[Source, Sequence[Source]], external: Source,
              ignore: Iterable[str] = (), tolerance_absolute: Optional[str] = None,
              tolerance_relative: Optional[str] = None) -> ReconcileResult:
    """Reconcile the ERP side -- one snapshot, or a chain (a FULL snapshot and
    INCREMENTAL ones, folded by snapshot date) -- with the external side: a
    snapshot ZIP, or a PSV with named columns (layout v1 or the balances
    layout).  Sources are ``bytes`` or paths.

    ``ignore`` names key parts to leave out (``"revision"``, ``"locator"``,
    ``"lot"``, ``"owner"``), as a sequence or a comma-separated string; key
    parts an external PSV has no column for are left out too, and listed in
    ``summary.compared_without``; ``tolerance_absolute`` is a decimal string and
    ``tolerance_relative`` a percentage of the ERP quantity (a decimal
    string, without ``%``).  Raises :class:`onhandpub.InvalidArgument` for
    bad options, a refused chain or malformed input (the message names the
    snapshot, line and column)."""
    if isinstance(snapshots, (bytes, bytearray, memoryview, str, os.PathLike)):
        snapshots = [snapshots]
    if isinstance(ignore, str):
        # "lot" or "revision,locator", as the connector's --ignore takes it
        ignore = [part.strip() for part in ignore.split(",")]
    flags = 0
    for name in ignore:
        if name not in _IGNORE:
            raise ValueError(f"ignore: expected revision, locator, lot or owner, not {name!r}")
        flags |= _IGNORE[name]
    opt = _lib.ohp_reconcile_options()
    lib.ohp_reconcile_options_init(ctypes.byref(opt), _lib.OHP_RECONCILE_OPTIONS_VERSION)
    opt.ignore = flags
    for name, tol in (("tolerance_absolute", tolerance_absolute),
                      ("tolerance_relative", tolerance_relative)):
        if tol and "\x00" in tol:
            raise ValueError(f"{name} contains a NUL character")
    opt.tolerance_absolute = tolerance_absolute.encode() if tolerance_absolute else None
    opt.tolerance_relative = tolerance_relative.encode() if tolerance_relative else None
    handle = ctypes.c_void_p()
    rc = lib.ohp_reconcile_new(ctypes.byref(handle), ctypes.byref(opt), None)
    if rc < 0:
        raise error_for(rc, "invalid reconciliation options (ignore or tolerance)")
    readers: List[_Reader] = []
    try:
        def fail(code: int) -> None:
            raise error_for(code, _lib.decode(lib.ohp_reconcile_errmsg(handle)))

        for source in snapshots:
            readers.append(_Reader(source))  # each one freed below, even if a later one fails
        if not readers:
            raise ValueError("at least one snapshot is required")
        arr = (ctypes.c_void_p * len(readers))(*[r.handle.value for r in readers])
        rc = lib.ohp_reconcile_load_erp(handle, arr, len(readers))
        if rc < 0:
            fail(rc)
        data = _data(external)
        if data[:4] == _ZIP_MAGIC:
            ext = _Reader(data)
            readers.append(ext)
            one = (ctypes.c_void_p * 1)(ext.handle.value)
            rc = lib.ohp_reconcile_load_external(handle, one, 1)
        else:
            stream = _Stream(data)
            rc = lib.ohp_reconcile_load_external_psv(handle, stream.fn, None)
        if rc < 0:
            fail(rc)
        found: List[Discrepancy] = []
        errors: List[BaseException] = []

        def report(_ud: int, p) -> int:
            try:
                found.append(_discrepancy(p))
                return 0
            except BaseException as e:  # noqa: BLE001 - re-raised below
                errors.append(e)
                return -1

        cb = _lib.DISCREPANCY_FN(report)
        rc = lib.ohp_reconcile_run(handle, cb, None)
        if errors:
            raise errors[0]
        if rc < 0:
            fail(rc)
        s = lib.ohp_reconcile_get_summary(handle).contents
        summary = ReconcileSummary(**{
            name: int(getattr(s, name)) for name, _ in _lib.ohp_reconcile_summary._fields_
            if name not in ("version", "uom_total_count", "external_missing_key_parts")})
        summary.compared_without = tuple(
            name for name, bit in _IGNORE.items() if s.external_missing_key_parts & bit)
        for i in range(s.uom_total_count):
            u, a, b = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p()
            if lib.ohp_reconcile_uom_total(handle, i, ctypes.byref(u), ctypes.byref(a),
                                           ctypes.byref(b)) == 0:
                summary.uom_totals[_lib.decode(u.value)] = (Decimal(_lib.decode(a.value)),
                                                            Decimal(_lib.decode(b.value)))
        return ReconcileResult(found, summary)
    finally:
        for r in readers:
            r.close()
        lib.ohp_reconcile_free(handle)
