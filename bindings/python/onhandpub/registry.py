"""The external-system registry (lookup ORA_INV_BALANCES_INV_EXTERNAL)."""

from __future__ import annotations

import ctypes
import datetime as _dt
import os
from typing import Any, Callable, Iterator, List, Optional, Union

from . import _lib
from ._lib import lib
from .dates import DateLike, date_from_epoch, to_epoch
from .errors import InvalidArgument, error_for
from .types import ExternalSystem

_UNSET: Any = object()


def _text(value: Optional[str], name: str) -> Optional[bytes]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if "\x00" in value:
        # C strings end at a NUL: the value would be cut short
        raise InvalidArgument(_lib.OHP_EINVAL, f"{name} contains a NUL character")
    return value.encode("utf-8", "surrogatepass")


def _from_c(v: _lib.ohp_lookup_value) -> ExternalSystem:
    def opt(b: Optional[bytes]) -> Optional[str]:
        return None if b is None or b == b"" else _lib.decode(b)

    return ExternalSystem(
        code=_lib.decode(v.code),
        meaning=_lib.decode(v.meaning),
        description=opt(v.description),
        enabled=bool(v.enabled),
        start_date=date_from_epoch(v.start_date),
        end_date=date_from_epoch(v.end_date),
        display_sequence=v.display_sequence if v.has_display_sequence else None,
        tag=opt(v.tag),
    )


class Registry:
    """A registry of external systems.

    A new registry holds only the seeded value: code ``"0"``, meaning
    ``"Oracle WMS"``.  Code ``"0"`` cannot be removed, disabled or
    end-dated; every other code is a positive decimal integer of at most 18
    digits without sign, spaces or leading zeros.  Refusals raise
    :class:`onhandpub.InvalidArgument`, :class:`onhandpub.AlreadyExists`
    or :class:`onhandpub.NotFound` with the library's message.

    Use it as a context manager, or call :meth:`close` (idempotent).  A
    registry may be given to several publish runs.
    """

    def __init__(self) -> None:
        handle = ctypes.c_void_p()
        rc = lib.ohp_registry_new(ctypes.byref(handle), None)
        if rc < 0:
            raise error_for(rc)
        self._handle: Optional[int] = handle.value
        self._borrowed = 0

    # -- construction helpers --------------------------------------------

    @classmethod
    def from_psv(cls, text: Union[str, bytes]) -> "Registry":
        """A registry loaded from lookup values in PSV: header
        ``LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|
        END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG``.  All or nothing."""
        reg = cls()
        try:
            reg.load_psv(text)
        except BaseException:
            reg.close()
            raise
        return reg

    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"]) -> "Registry":
        """A registry loaded from a lookup values PSV file."""
        with open(path, "rb") as f:
            data = f.read()
        return cls.from_psv(data)

    def load_psv(self, text: Union[str, bytes]) -> None:
        """Load lookup values from PSV into this registry (all or nothing)."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        rc = lib.ohp_registry_load_psv(self._h, data, len(data))
        self._check(rc)

    # -- lifetime --------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._handle is None

    def close(self) -> None:
        """Free the registry.  Idempotent."""
        if self._handle is None:
            return
        if self._borrowed:
            raise RuntimeError("the registry is in use by a running publish")
        handle, self._handle = self._handle, None
        lib.ohp_registry_free(handle)

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._handle is not None and not self._borrowed:
                self.close()
        except Exception:
            pass

    @property
    def _h(self) -> int:
        if self._handle is None:
            raise ValueError("the registry is closed")
        return self._handle

    def _check(self, rc: int) -> int:
        if rc < 0:
            raise error_for(rc, _lib.decode(lib.ohp_registry_errmsg(self._h)))
        return rc

    # -- values ----------------------------------------------------------

    def _value(
        self,
        code: str,
        meaning: Optional[str],
        description: Optional[str],
        enabled: bool,
        start_date: DateLike,
        end_date: DateLike,
        display_sequence: Optional[int],
        tag: Optional[str],
    ) -> _lib.ohp_lookup_value:
        v = _lib.ohp_lookup_value()
        rc = lib.ohp_lookup_value_init(ctypes.byref(v), _lib.OHP_LOOKUP_VALUE_VERSION)
        if rc < 0:
            raise error_for(rc)
        if not isinstance(code, str):
            raise TypeError(f"code must be str, not {type(code).__name__}")
        v.code = _text(code, "code")
        v.meaning = _text(meaning, "meaning")
        v.description = _text(description, "description")
        v.enabled = 1 if enabled else 0
        v.start_date = to_epoch(start_date)
        v.end_date = to_epoch(end_date)
        if display_sequence is not None:
            if isinstance(display_sequence, bool) or not isinstance(display_sequence, int):
                raise TypeError("display_sequence must be int or None")
            v.has_display_sequence = 1
            v.display_sequence = display_sequence
        v.tag = _text(tag, "tag")
        return v

    def add(
        self,
        code: str,
        meaning: str,
        description: Optional[str] = None,
        enabled: bool = True,
        start_date: DateLike = None,
        end_date: DateLike = None,
        display_sequence: Optional[int] = None,
        tag: Optional[str] = None,
    ) -> ExternalSystem:
        """Add a value and return it as stored.

        Raises :class:`onhandpub.InvalidArgument` when a rule is broken and
        :class:`onhandpub.AlreadyExists` for a present code (``"0"`` always
        is).  Dates are days (datetime, date, text or epoch seconds).
        """
        v = self._value(
            code, meaning, description, enabled, start_date, end_date, display_sequence, tag
        )
        self._check(lib.ohp_registry_add(self._h, ctypes.byref(v)))
        return self._find(code)  # type: ignore[return-value]

    def update(
        self,
        code: str,
        meaning: str = _UNSET,
        description: Optional[str] = _UNSET,
        enabled: bool = _UNSET,
        start_date: DateLike = _UNSET,
        end_date: DateLike = _UNSET,
        display_sequence: Optional[int] = _UNSET,
        tag: Optional[str] = _UNSET,
    ) -> ExternalSystem:
        """Change the given attributes of the value with this code (the
        others keep their values; pass ``None`` to clear an optional one).

        For code ``"0"`` only meaning, description, display sequence and tag
        may change.  Raises :class:`onhandpub.NotFound` for an absent code.
        """
        cur = self._find(code)
        if cur is None:
            # Let the library say it, with its message.
            v = self._value(code, meaning if meaning is not _UNSET else "-", None, True,
                            None, None, None, None)
            self._check(lib.ohp_registry_update(self._h, ctypes.byref(v)))
            raise error_for(_lib.OHP_ENOTFOUND, f"lookup code {code} not found")

        def pick(new: Any, old: Any) -> Any:
            return old if new is _UNSET else new

        v = self._value(
            code,
            pick(meaning, cur.meaning),
            pick(description, cur.description),
            pick(enabled, cur.enabled),
            pick(start_date, cur.start_date),
            pick(end_date, cur.end_date),
            pick(display_sequence, cur.display_sequence),
            pick(tag, cur.tag),
        )
        self._check(lib.ohp_registry_update(self._h, ctypes.byref(v)))
        return self._find(code)  # type: ignore[return-value]

    def remove(self, code: str) -> None:
        """Remove a value.  Code ``"0"`` cannot be removed
        (:class:`onhandpub.InvalidArgument`); an absent code raises
        :class:`onhandpub.NotFound`."""
        self._check(lib.ohp_registry_remove(self._h, _text(code, "code")))

    def _find(self, code: str) -> Optional[ExternalSystem]:
        v = _lib.ohp_lookup_value()
        lib.ohp_lookup_value_init(ctypes.byref(v), _lib.OHP_LOOKUP_VALUE_VERSION)
        rc = lib.ohp_registry_find(self._h, _text(code, "code"), ctypes.byref(v))
        if rc == _lib.OHP_ENOTFOUND:
            return None
        self._check(rc)
        return _from_c(v)

    def find(self, code: str) -> Optional[ExternalSystem]:
        """The value with this code, or ``None``."""
        return self._find(code)

    def __getitem__(self, code: str) -> ExternalSystem:
        v = self._find(code)
        if v is None:
            raise KeyError(code)
        return v

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self._find(code) is not None

    def check(self, code: str, on: DateLike = None) -> ExternalSystem:
        """Return the value if ``code`` is usable on the date ``on``
        (default: now); raise :class:`onhandpub.NotFound` or
        :class:`onhandpub.Inactive` otherwise."""
        t = to_epoch(on) if on is not None else to_epoch(_dt.datetime.now(_dt.timezone.utc))
        self._check(lib.ohp_registry_check(self._h, _text(code, "code"), t))
        return self._find(code)  # type: ignore[return-value]

    def _visit(self, call: Callable[..., int], *args: Any) -> List[ExternalSystem]:
        out: List[ExternalSystem] = []
        errors: List[BaseException] = []

        def visit(_ud: Any, value: Any) -> int:
            try:
                out.append(_from_c(value.contents))
                return 0
            except BaseException as exc:  # re-raised below
                errors.append(exc)
                return 1

        fn = _lib.LOOKUP_VISIT_FN(visit)
        rc = call(self._h, *args, fn, None)
        if errors:
            raise errors[0]
        self._check(rc)
        return out

    def all(self) -> List[ExternalSystem]:
        """Every value, ordered by display sequence (values without one
        last), then code numerically."""
        return self._visit(lib.ohp_registry_foreach)

    def systems(self, on: DateLike = None) -> List[ExternalSystem]:
        """The values usable on the date ``on`` (default: now): enabled and
        inside their window, in the same order as :meth:`all`.  This is the
        External System parameter's list of values."""
        t = to_epoch(on) if on is not None else to_epoch(_dt.datetime.now(_dt.timezone.utc))
        if t == _lib.OHP_TIME_NONE:
            raise InvalidArgument(_lib.OHP_EINVAL, "no date")
        return self._visit(lib.ohp_registry_foreach_usable, t)

    def __iter__(self) -> Iterator[ExternalSystem]:
        return iter(self.all())

    def __len__(self) -> int:
        return int(lib.ohp_registry_count(self._h))

    def __repr__(self) -> str:
        if self._handle is None:
            return "<Registry closed>"
        return f"<Registry {len(self)} values>"
