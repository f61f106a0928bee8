"""Record conversion: a Python record (a dict, a :class:`Record`, an object
with the fields as attributes) to the library's ``ohp_record`` and back.
The source's hot path; nothing here calls the library."""

from __future__ import annotations

import collections.abc
import datetime as _dt
from decimal import Decimal
from operator import attrgetter
from typing import Any, Dict, Iterable, List, Optional

from . import _lib
from .dates import text_date
from .types import Record


# --------------------------------------------------------------------------
# Record conversion (the source's hot path)
# --------------------------------------------------------------------------

# Positions in the ohp_record constructor's argument list (after version).
_TEXT_COLUMNS = [
    ("organization_id", 0),
    ("organization_code", 1),
    ("inventory_item_id", 2),
    ("item_number", 3),
    ("revision", 4),
    ("subinventory_code", 5),
    ("locator_id", 6),
    ("locator_name", 7),
    ("lot_number", 8),
    ("lot_expiration_date", 9),
    ("primary_quantity", 14),
    ("primary_uom_code", 15),
    ("secondary_quantity", 16),
    ("secondary_uom_code", 17),
    ("owning_party_id", 19),
    ("project_id", 20),
    ("task_id", 21),
    ("material_status_code", 22),
    ("last_update_date", 23),
]
_P_SERIAL_CONTROLLED = 10
_P_SERIALS = 11
_P_SERIAL_COUNT = 12
_P_SERIAL_LIST = 13
_P_CONSIGNED = 18
_P_SOURCE_ERROR = 24
_NSLOTS = 25
_QUANTITIES = {14, 16}
_TEXT_POS = frozenset(pos for _, pos in _TEXT_COLUMNS)

# key -> position; lower- and upper-case column names.
_SLOTS: Dict[str, int] = {}
for _name, _pos in _TEXT_COLUMNS + [
    ("serial_controlled", _P_SERIAL_CONTROLLED),
    ("serial_numbers", _P_SERIALS),
    ("consigned_flag", _P_CONSIGNED),
    ("consigned", _P_CONSIGNED),
]:
    _SLOTS[_name] = _pos
    _SLOTS[_name.upper()] = _pos
_POS_NAME = {pos: name.upper() for name, pos in _TEXT_COLUMNS}
_POS_NAME.update({_P_SERIAL_CONTROLLED: "SERIAL_CONTROLLED", _P_SERIALS: "SERIAL_NUMBERS",
                  _P_CONSIGNED: "CONSIGNED_FLAG"})

_RECORD_FIELDS = [name for name, _ in _TEXT_COLUMNS] + [
    "serial_controlled", "serial_numbers", "consigned"]
_RECORD_POS = [pos for _, pos in _TEXT_COLUMNS] + [
    _P_SERIAL_CONTROLLED, _P_SERIALS, _P_CONSIGNED]
_record_getter = attrgetter(*_RECORD_FIELDS)

_ohp_record = _lib.ohp_record
_ohp_serial = _lib.ohp_serial


class _BadValue(Exception):
    """A data problem in one record: it becomes the record's source_error."""


def _text(value: Any, pos: int) -> Optional[bytes]:
    """A record field's value as bytes for C (None: absent)."""
    t = type(value)
    if t is str:
        if "\x00" in value:
            raise _BadValue(f"{_POS_NAME[pos]} contains a NUL character")
        return value.encode("utf-8", "surrogatepass")
    if value is None:
        return None
    if t is bytes:
        if b"\x00" in value:
            raise _BadValue(f"{_POS_NAME[pos]} contains a NUL character")
        return value
    if isinstance(value, bool):
        raise TypeError(f"{_POS_NAME[pos]}: bool is not a valid value")
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, Decimal):
        return format(value, "f").encode("ascii")
    if isinstance(value, float):
        raise TypeError(
            f"{_POS_NAME[pos]} is a float: binary floating point cannot hold exact "
            "quantities; give str, int or Decimal"
        )
    if isinstance(value, (_dt.datetime, _dt.date)):
        return text_date(value).encode("ascii")
    if isinstance(value, str):
        return _text(str(value), pos)
    raise TypeError(f"{_POS_NAME[pos]}: unsupported type {type(value).__name__}")


def _flag(value: Any, pos: int) -> int:
    if value is True or value is False:
        return 1 if value else 0
    if value is None or value == "" or value == b"":
        return 0
    if value in ("Y", b"Y"):
        return 1
    if value in ("N", b"N"):
        return 0
    if isinstance(value, int) and value in (0, 1):
        return value
    raise _BadValue(f"{_POS_NAME[pos]} must be Y or N, found '{str(value)[:40]}'")


def _serials(value: Any, args: List[Any]) -> None:
    if value is None:
        return
    if isinstance(value, (str, bytes)):
        if value:
            args[_P_SERIAL_LIST] = _text(value, _P_SERIALS)
        return
    if isinstance(value, float) or not isinstance(value, collections.abc.Iterable):
        raise TypeError(
            f"SERIAL_NUMBERS must be a str or a list of str and (from, to) tuples, "
            f"not {type(value).__name__}"
        )
    pairs = []
    for item in value:
        if isinstance(item, (str, bytes)):
            pairs.append((_text(item, _P_SERIALS), None))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((_text(item[0], _P_SERIALS), _text(item[1], _P_SERIALS)))
        else:
            raise TypeError(
                "each serial number must be a str or a (from, to) tuple, "
                f"not {type(item).__name__}"
            )
    if pairs:
        args[_P_SERIALS] = pairs
        args[_P_SERIAL_COUNT] = len(pairs)


def _set(args: List[Any], pos: int, value: Any) -> None:
    if pos == _P_SERIAL_CONTROLLED or pos == _P_CONSIGNED:
        args[pos] = _flag(value, pos)
    elif pos == _P_SERIALS:
        _serials(value, args)
    elif pos in _QUANTITIES and isinstance(value, float):
        raise TypeError(
            f"{_POS_NAME[pos]} is a float ({value!r}): binary floating point cannot hold "
            "exact quantities; give str, int or Decimal"
        )
    else:
        args[pos] = _text(value, pos)


def record_args(item: Any) -> List[Any]:
    """The ohp_record constructor arguments (after version) for one source
    item: a :class:`Record`, or a mapping keyed by column names.  A value the
    library cannot take (a NUL character, a flag other than Y/N) sets the
    record's source_error, so the job's bad-record policy applies; a value
    of the wrong type (a float quantity) raises TypeError."""
    return record_args_from_values(_record_values(item))


def record_args_from_values(args: List[Any]) -> List[Any]:
    """:func:`_record_values`' result with the serial pairs as the
    ohp_serial array of the constructor."""
    pairs = args[_P_SERIALS]
    if pairs:
        args = list(args)
        args[_P_SERIALS] = (_ohp_serial * len(pairs))(*pairs)
    return args


def _record_values(item: Any) -> List[Any]:
    """:func:`record_args` with the serials as a list of (from, to) byte
    pairs (to is None for a single serial)."""
    args: List[Any] = [None] * _NSLOTS
    args[_P_SERIAL_CONTROLLED] = 0
    args[_P_SERIAL_COUNT] = 0
    args[_P_CONSIGNED] = 0
    if isinstance(item, collections.abc.Mapping):
        pairs: Iterable[Any] = zip(map(_SLOTS.get, item.keys()), item.values())
    elif isinstance(item, Record):
        pairs = zip(_RECORD_POS, _record_getter(item))
    else:
        raise TypeError(
            "a source item must be a mapping or an onhandpub.Record, "
            f"not {type(item).__name__}"
        )
    text_pos = _TEXT_POS
    for pos, value in pairs:
        if pos is not None and value is not None:
            # Fast path: plain text in a text column.
            if type(value) is str and pos in text_pos and "\x00" not in value:
                args[pos] = value.encode("utf-8", "surrogatepass")
                continue
            try:
                _set(args, pos, value)
            except _BadValue as bad:
                if args[_P_SOURCE_ERROR] is None:
                    args[_P_SOURCE_ERROR] = str(bad).encode("utf-8", "replace")
    return args


def _record_dict(rec: _lib.ohp_record) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, _ in _TEXT_COLUMNS:
        v = getattr(rec, name)
        if v:
            out[name] = _lib.decode(v)
    out["serial_controlled"] = bool(rec.serial_controlled)
    out["consigned"] = bool(rec.consigned)
    if rec.serial_list:
        out["serial_numbers"] = _lib.decode(rec.serial_list)
    elif rec.serials and rec.serial_count:
        serials: List[Any] = []
        for i in range(rec.serial_count):
            s = rec.serials[i]
            if s.to is None:
                serials.append(_lib.decode(s.from_))
            else:
                serials.append((_lib.decode(s.from_), _lib.decode(s.to)))
        out["serial_numbers"] = serials
    if rec.source_error:
        out["source_error"] = _lib.decode(rec.source_error)
    return out


_KEY_FIELDS = ("organization_code", "item_number", "revision", "subinventory_code",
               "locator_id", "locator_name", "lot_number")
