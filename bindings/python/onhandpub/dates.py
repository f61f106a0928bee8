"""Dates and quantities through the library's own parsers and formatters."""

from __future__ import annotations

import ctypes
import datetime as _dt
from decimal import Decimal
from typing import Optional, Union

from . import _lib
from ._lib import lib
from .errors import InvalidArgument, check

UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = _dt.timedelta(seconds=1)

#: What the binding accepts wherever a date is asked for.
DateLike = Union[_dt.datetime, _dt.date, str, int, None]

#: The forms the library's date parser accepts (the header's OHP_DATE_FORMATS).
DATE_FORMATS = ("YYYY/MM/DD, YYYY/MM/DD HH:MM:SS, YYYY-MM-DD, YYYY-MM-DD HH:MM:SS (UTC), "
                "YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS+HH:MM")


def parse_date(text: str) -> _dt.datetime:
    """Parse a date with the library's parser into an aware UTC datetime.

    Accepted: ``YYYY/MM/DD``, ``YYYY/MM/DD HH:MM:SS``, ``YYYY-MM-DD``,
    ``YYYY-MM-DD HH:MM:SS`` (all UTC), ``YYYY-MM-DDTHH:MM:SSZ`` and
    ``YYYY-MM-DDTHH:MM:SS±HH:MM``.  Raises :class:`InvalidArgument` for
    anything else, with a message naming the accepted forms.
    """
    return from_epoch(_parse(text))


def _parse(text: str) -> int:
    out = ctypes.c_int64()
    if "\x00" in text:  # the C parser would stop at it: "2026/01/01\0junk"
        raise InvalidArgument(_lib.OHP_EPARSE,
                              f"{text!r} is not a valid date (accepted: {DATE_FORMATS})")
    rc = lib.ohp_date_parse(text.encode("utf-8", "surrogatepass"), ctypes.byref(out))
    if rc < 0:
        raise InvalidArgument(rc, f"'{text}' is not a valid date (accepted: {DATE_FORMATS})")
    return out.value


def format_date(when: DateLike, date_only: bool = False) -> str:
    """Format a date as ``YYYY/MM/DD HH:MM:SS`` (UTC) or ``YYYY/MM/DD``."""
    t = to_epoch(when)
    if t == _lib.OHP_TIME_NONE:
        raise InvalidArgument(_lib.OHP_EINVAL, "no date to format")
    buf = _lib.char_array(_lib.OHP_DATE_BUFSIZE)
    check(lib.ohp_date_format(t, 1 if date_only else 0, buf), "date outside years 1-9999")
    return buf.value.decode("ascii")


def canonical_quantity(value: Union[str, int, Decimal]) -> str:
    """The canonical text of an exact decimal quantity (``"007.50"`` ->
    ``"7.5"``).  Raises :class:`InvalidArgument` or
    :class:`onhandpub.LimitError`."""
    text = quantity_text(value, "quantity")
    if "\x00" in text:  # the C parser would stop at it: "1\0x"
        raise InvalidArgument(_lib.OHP_EPARSE, f"{text!r} is not an exact decimal -?digits[.digits]")
    raw = text.encode("ascii", "replace")
    buf = _lib.char_array(len(raw) + 2)
    rc = lib.ohp_quantity_canonical(raw, buf, len(buf))
    check(rc, f"'{text}' is not an exact decimal -?digits[.digits]")
    return buf.value.decode("ascii")


def quantity_text(value: Union[str, int, Decimal], name: str) -> str:
    """Text of a quantity given as str, int or Decimal (never float)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name} must be str, int or Decimal, not bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError(
            f"{name} must be str, int or Decimal, not float: binary floating point "
            "cannot hold exact quantities (use Decimal or a string)"
        )
    raise TypeError(f"{name} must be str, int or Decimal, not {type(value).__name__}")


def to_epoch(when: DateLike) -> int:
    """Seconds since the epoch (UTC) for a datetime, date, text or int;
    ``None`` gives ``OHP_TIME_NONE``.  A naive datetime is taken as UTC."""
    if when is None:
        return _lib.OHP_TIME_NONE
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - _EPOCH) // _SECOND
    if isinstance(when, _dt.date):
        return (_dt.datetime(when.year, when.month, when.day, tzinfo=UTC) - _EPOCH) // _SECOND
    if isinstance(when, str):
        return _parse(when)
    if isinstance(when, int) and not isinstance(when, bool):
        return when
    raise TypeError(f"a date must be datetime, date, str or int, not {type(when).__name__}")


def from_epoch(t: int) -> Optional[_dt.datetime]:
    """An aware UTC datetime for seconds since the epoch (None for absent)."""
    if t == _lib.OHP_TIME_NONE:
        return None
    return _EPOCH + _dt.timedelta(seconds=t)


def date_from_epoch(t: int) -> Optional[_dt.date]:
    """The UTC day of seconds since the epoch (None for absent)."""
    d = from_epoch(t)
    return None if d is None else d.date()


def text_date(when: Union[_dt.datetime, _dt.date]) -> str:
    """A datetime or date as text the library parses (UTC)."""
    if isinstance(when, _dt.datetime):
        if when.tzinfo is not None:
            when = when.astimezone(UTC)
        return (
            f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
            f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"
        )
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
