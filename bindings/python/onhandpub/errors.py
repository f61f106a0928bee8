"""Exceptions: one class per distinct case of the library's error codes.

Every exception derives from :class:`OnhandpubError`, which carries the
library's negative ``code`` and its ``message``.  Two intermediate bases
split the cases the way a scheduler does:

* :class:`Refused` -- the request itself was not acceptable (bad parameters,
  unknown or inactive system, duplicate code, not authorized); nothing was
  read or written.
* :class:`Failure` -- the run was attempted and failed (a record, the
  source, the sink, the state store, a callback, a resource).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

from . import _lib


class OnhandpubError(Exception):
    """Base class: a negative code returned by libonhandpub.

    Attributes:
        code: the library's error code (a negative ``int``, see ``ohp_error``).
        message: the library's message (``ohp_job_errmsg`` or the
            registry's message), or the static text of the code.
        summary: for errors raised by a publish run, the run's
            :class:`onhandpub.Summary`; otherwise ``None``.
    """

    def __init__(self, code: int, message: str = "", summary: Any = None) -> None:
        self.code = code
        self.message = message or _lib.strerror(code)
        self.summary = summary
        super().__init__(code, self.message)

    @property
    def code_name(self) -> str:
        """The code's symbolic name, e.g. ``"OHP_EINVAL"``."""
        return _CODE_NAMES.get(self.code, str(self.code))

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code_name}, {self.message!r})"


class Refused(OnhandpubError):
    """The request was refused before anything was read or written."""


class Failure(OnhandpubError):
    """The run (or an operation) was attempted and failed."""


class InvalidArgument(Refused, ValueError):
    """OHP_EINVAL, OHP_EVERSION or OHP_EPARSE: a bad argument or malformed text."""


class NotFound(Refused, LookupError):
    """OHP_ENOTFOUND: unknown external system (or other key)."""


class Inactive(Refused):
    """OHP_EINACTIVE: external system disabled or outside its dates."""


class AlreadyExists(Refused):
    """OHP_EEXISTS: duplicate lookup code."""


class NotAuthorized(Refused):
    """OHP_EDENIED: the user lacks the privilege, or no authorizer is configured."""


class EmptySnapshot(Refused):
    """OHP_EEMPTY: a full snapshot would hold no line while the source gave
    records (pass ``allow_empty=True`` when the organization is empty);
    nothing was published."""


class Unsupported(Refused):
    """OHP_EUNSUPPORTED: the run asked for a feature this build of the
    library lacks (``engine="isal"`` without ISA-L); nothing was published."""


class StateBusy(Failure):
    """OHP_EBUSY: the state file is locked by another run (a store opened
    with ``wait=False``)."""


class FileFailure(Failure):
    """OHP_EFILE: a file of a ready-made file end (the ZIP written to a
    path, the state file) could not be made, written, read or put in
    place."""


class InvalidState(OnhandpubError):
    """OHP_ESTATE: a call not allowed in the handle's state (e.g. from a callback)."""


class RecordError(Failure):
    """OHP_ERECORD: a balance record broke a rule (policy ``fail``).

    Attributes:
        rule: the :class:`onhandpub.Rule` broken, or ``None`` when it
            cannot be told from the message.
        ordinal: 1-based position of the record in the source, or ``None``.
        line: for a file source, the line of the input where the record's
            row starts (the message ends with it), else ``None``.
        column: for a file source, the name of the column the rule
            concerns, when it concerns one, else ``None``.
    """

    def __init__(
        self,
        code: int,
        message: str = "",
        summary: Any = None,
        rule: Any = None,
        ordinal: Optional[int] = None,
    ) -> None:
        super().__init__(code, message, summary)
        self.rule = rule
        self.ordinal = ordinal
        self.line: Optional[int] = getattr(summary, "error_line", None)
        self.column: Optional[str] = getattr(summary, "error_column", None)


class SourceError(Failure):
    """OHP_ESOURCE or OHP_EIO: the data source (or a reader's input) failed."""


class SinkError(Failure):
    """OHP_ESINK: the sink failed to open, write or commit."""


class StateStoreError(Failure):
    """OHP_ESTORE: the state store failed."""


class Cancelled(Failure):
    """OHP_ECANCELED: the progress callback cancelled the run."""


class RejectCallbackError(Failure):
    """OHP_EREJECT: the rejection callback failed."""


class AuthorizerError(Failure):
    """OHP_EAUTH: the authorizer itself failed (the run was not attempted)."""


class LimitError(Failure):
    """OHP_ELIMIT: a documented limit was exceeded."""


class OutOfMemory(Failure, MemoryError):
    """OHP_ENOMEM: an allocation failed."""


class ArchiveError(Failure):
    """OHP_EZIP: the archive writer failed."""


_CODE_NAMES: Dict[int, str] = {
    value: name
    for name, value in vars(_lib).items()
    if name.startswith("OHP_E") and isinstance(value, int)
}

#: code -> exception class.
ERROR_CLASSES: Dict[int, Type[OnhandpubError]] = {
    _lib.OHP_EINVAL: InvalidArgument,
    _lib.OHP_EVERSION: InvalidArgument,
    _lib.OHP_EPARSE: InvalidArgument,
    _lib.OHP_ENOTFOUND: NotFound,
    _lib.OHP_EINACTIVE: Inactive,
    _lib.OHP_EEXISTS: AlreadyExists,
    _lib.OHP_EDENIED: NotAuthorized,
    _lib.OHP_EEMPTY: EmptySnapshot,
    _lib.OHP_EUNSUPPORTED: Unsupported,
    _lib.OHP_ESTATE: InvalidState,
    _lib.OHP_ERECORD: RecordError,
    _lib.OHP_ESOURCE: SourceError,
    _lib.OHP_EIO: SourceError,
    _lib.OHP_ESINK: SinkError,
    _lib.OHP_ESTORE: StateStoreError,
    _lib.OHP_ECANCELED: Cancelled,
    _lib.OHP_EREJECT: RejectCallbackError,
    _lib.OHP_EAUTH: AuthorizerError,
    _lib.OHP_ELIMIT: LimitError,
    _lib.OHP_ENOMEM: OutOfMemory,
    _lib.OHP_EZIP: ArchiveError,
    _lib.OHP_EBUSY: StateBusy,
    _lib.OHP_EFILE: FileFailure,
}


def error_for(code: int, message: str = "", summary: Any = None) -> OnhandpubError:
    """The exception object for a negative library code."""
    cls = ERROR_CLASSES.get(code, Failure if code < 0 else OnhandpubError)
    if cls is RecordError:
        rule = getattr(summary, "error_rule", None)
        ordinal = getattr(summary, "error_ordinal", None)
        return RecordError(code, message, summary, rule=rule, ordinal=ordinal)
    return cls(code, message, summary)


def c_text(value: Optional[str], name: str) -> Optional[bytes]:
    """A str argument as the bytes of a C string (None stays None);
    InvalidArgument when it holds a NUL, which would cut it short."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if "\x00" in value:
        # C strings end at a NUL: "M1\0X" would be taken as "M1"
        raise InvalidArgument(_lib.OHP_EINVAL, f"{name} contains a NUL character")
    return value.encode("utf-8", "surrogatepass")


def check(code: int, message: str = "") -> int:
    """Raise the matching exception for a negative code; return it otherwise."""
    if code < 0:
        raise error_for(code, message)
    return code


