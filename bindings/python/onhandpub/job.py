"""Publishing: the :class:`Job` handle and the :func:`publish` shortcut."""

from __future__ import annotations

import collections.abc
import ctypes
import datetime as _dt
import errno
import getpass
import io
import os
import stat
import tempfile
from decimal import Decimal
from operator import attrgetter
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from . import _lib
from ._files import clean_temporaries as _clean_temporaries
from ._files import create_named as _create_named
from ._files import link_fd as _link_fd
from ._files import lock as _lock
from ._files import temp_name as _temp_name
from ._files import unnamed_file as _unnamed_file
from ._lib import lib
from .dates import DateLike, from_epoch, text_date, to_epoch
from .errors import InvalidArgument, OnhandpubError, SinkError, error_for
from .registry import Registry
from .state import _fsync_dir
from .types import Items, Mode, OnError, Record, Rejection, Rule, Status, Summary

PathLike = Union[str, "os.PathLike[str]"]
Source = Union[Iterable[Any], PathLike, bytes, io.RawIOBase, io.BufferedIOBase]
Sink = Union[PathLike, io.RawIOBase, io.BufferedIOBase, None]

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

# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


def _enum(value: Any, enum_type: Any, name: str) -> int:
    if isinstance(value, enum_type):
        return int(value)
    if isinstance(value, str):
        try:
            return int(enum_type[value.strip().upper()])
        except KeyError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    choices = ", ".join(m.name.lower() for m in enum_type)
    raise InvalidArgument(_lib.OHP_EINVAL, f"{name} must be one of {choices}, not {value!r}")


def _c_text(value: Optional[str], name: str) -> Optional[bytes]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if "\x00" in value:
        # C strings end at a NUL: "M1\0X" would be taken as "M1"
        raise InvalidArgument(_lib.OHP_EINVAL, f"{name} contains a NUL character")
    return value.encode("utf-8", "surrogatepass")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


# --------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------


class _PathSink:
    """Writes the ZIP to a path.

    A directory path receives the proposed file name and never replaces an
    existing file (like the onhandpub command's --outdir); a path ending in a
    separator is a directory, created (with its parents) if missing.  A file
    path is replaced atomically if it is a regular file (or a symbolic link,
    which is replaced, not followed); a device or FIFO there is written
    straight into.  The target is checked before the run starts, so a bad
    path costs no work.  The file is made unnamed (O_TMPFILE) in its
    directory and linked into place at commit, so that a killed process
    leaves nothing; where O_TMPFILE is not available a named temporary
    ".<name>.tmp.<pid>.<random>" is used, held under flock, and removed by a
    later run once its process is gone.  On abort nothing is left."""

    def __init__(self, path: PathLike) -> None:
        self.target = os.fsdecode(os.fspath(path))
        self.final: Optional[str] = None
        self.tmp: Optional[str] = None  # the named temporary, if any
        self.f: Optional[io.BufferedWriter] = None
        self.no_replace = False
        self.direct = False
        self.committed = False

    def prepare(self) -> None:
        """Checks (and for a folder path, creates) the target; raises
        SinkError naming the path given."""
        target = self.target
        seps = (os.sep, os.altsep) if os.altsep else (os.sep,)
        if target.endswith(seps):
            bare = target.rstrip("".join(seps)) or target
            if os.path.lexists(bare) and not os.path.isdir(bare):
                raise SinkError(_lib.OHP_ESINK, f"sink folder {target!r} is not a folder")
            try:
                os.makedirs(target, exist_ok=True)
            except OSError as exc:
                raise SinkError(_lib.OHP_ESINK,
                                f"sink folder {target!r} cannot be created: "
                                f"{exc.strerror or exc}") from exc
            return
        if os.path.isdir(target):
            return
        directory = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(directory):
            if os.path.lexists(directory):
                what = "is not a folder"
            else:
                what = "does not exist (end the path with '/' to have a folder created)"
            raise SinkError(_lib.OHP_ESINK,
                            f"sink {target!r}: folder {os.path.dirname(target) or directory!r} "
                            f"{what}")

    def open(self, file_name: str) -> None:
        self.committed = False
        if os.path.isdir(self.target):
            final = os.path.join(self.target, file_name)
            self.no_replace = True
        else:
            final = self.target
            self.no_replace = False
            try:
                st = os.lstat(final)
            except FileNotFoundError:
                st = None
            if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                # a device or FIFO: written straight into, never replaced
                fd = os.open(final, os.O_WRONLY | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC)
                self.f = os.fdopen(fd, "wb")
                self.final = final
                self.direct = True
                return
        if self.no_replace and os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "already exists; it is never replaced", final)
        directory = os.path.dirname(os.path.abspath(final))
        _clean_temporaries(directory, None if self.no_replace else os.path.basename(final))
        fd = _unnamed_file(directory)
        if fd is None:
            fd, self.tmp = _create_named(directory, os.path.basename(final))
        else:
            _lock(fd)  # held while this process lives (the linked name of a replace)
        try:
            self.f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.discard()
            raise
        self.final = final

    def write(self, buf: int, size: int) -> None:
        assert self.f is not None
        self.f.write((ctypes.c_char * size).from_address(buf))

    def _link(self, name: str) -> None:
        assert self.f is not None
        _link_fd(self.f.fileno(), name)

    def close(self, commit: bool) -> None:
        if not commit:
            self.discard()
            return
        try:
            assert self.f is not None and self.final is not None
            self.f.flush()
            if self.direct:
                self.f.close()
                self.f = None
                self.committed = True
                return
            os.fsync(self.f.fileno())
            final = self.final
            if self.no_replace:
                # never replaces: the link fails with FileExistsError
                if self.tmp is None:
                    self._link(final)
                else:
                    os.link(self.tmp, final, follow_symlinks=False)
                    os.unlink(self.tmp)
                    self.tmp = None
            else:
                if self.tmp is None:
                    # linkat cannot replace: a name for the moment of the rename
                    tmp = os.path.join(os.path.dirname(os.path.abspath(final)),
                                       _temp_name(os.path.basename(final)))
                    self._link(tmp)
                    self.tmp = tmp
                os.replace(self.tmp, final)
                self.tmp = None
            self.f.close()
            self.f = None
            self.committed = True
            _fsync_dir(os.path.dirname(os.path.abspath(final)))
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass
            self.f = None
        if self.tmp is not None:
            tmp, self.tmp = self.tmp, None
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if not self.committed:
            self.final = None


class _FileSink:
    """Writes the ZIP to a binary file object (flushed on commit; on abort
    the bytes already written stay there: the caller discards them)."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.final: Optional[str] = None

    def open(self, file_name: str) -> None:
        pass

    def write(self, buf: int, size: int) -> None:
        data = ctypes.string_at(buf, size)
        written = self.f.write(data)
        if written is not None and written != size:
            # raw streams may write short
            view = memoryview(data)[written:]
            while view:
                n = self.f.write(view)
                if not n:
                    raise OSError("short write to the sink file object")
                view = view[n:]

    def close(self, commit: bool) -> None:
        if commit:
            flush = getattr(self.f, "flush", None)
            if flush is not None:
                flush()

    def discard(self) -> None:
        pass


# --------------------------------------------------------------------------
# One run: trampolines and what they keep alive
# --------------------------------------------------------------------------


class _Run:
    """Everything a single ohp_job_run needs alive, and the first exception
    raised by a Python callback."""

    def __init__(self, job: "Job") -> None:
        self.job = job
        self.handle = job._h
        self.exc: Optional[BaseException] = None
        self.keep: List[Any] = []  # CFUNCTYPE objects, buffers
        self.iterator: Any = None
        self.opened_file: Any = None
        self.reader: Optional[int] = None
        self.sink: Any = None
        self.stream: Any = None  # an iterable source's _stream.Stream
        # An incremental run reads the source twice (whole keys): how the
        # second pass gets the same bytes again.
        self.may_rewind = False
        self.rewind: Optional[Callable[[], None]] = None
        self.spool: Any = None  # a copy of a non-seekable file source
        self.source_name = "input"  # a file source, for messages

    def locate(self, ordinal: int) -> Tuple[Optional[int], Optional[str], str]:
        """Where record `ordinal` of a file source is: (line, column name,
        text for messages); (None, None, "") for other sources or records."""
        if self.stream is not None or self.reader is None or not ordinal:
            return None, None, ""
        line = ctypes.c_uint64()
        column = ctypes.c_size_t()
        name = ctypes.c_char_p()
        rc = lib.ohp_balance_reader_locate(self.reader, ordinal, ctypes.byref(line),
                                           ctypes.byref(column), ctypes.byref(name))
        if rc < 0:
            return None, None, ""
        col = _lib.decode(name.value) if name.value is not None else None
        where = f"{self.source_name}, line {line.value}"
        if col is not None:
            where += f", column {column.value} ({col})"
        return line.value, col, where

    def fail(self, exc: BaseException) -> None:
        if self.exc is None:
            self.exc = exc
        text = f"{type(exc).__name__}: {exc}"
        if len(text) > 400:
            text = text[:397] + "..."
        lib.ohp_job_set_callback_error(self.handle, text.encode("utf-8", "replace"))

    def cfunc(self, ftype: Any, fn: Any) -> Any:
        f = ftype(fn)
        self.keep.append(f)
        return f

    # -- source -----------------------------------------------------------

    def setup_source(self, source: Source, organization: str = "",
                     may_rewind: bool = False) -> None:
        self.may_rewind = may_rewind
        if isinstance(source, (str, os.PathLike)):
            self.source_name = f"input '{os.fspath(source)}'"
            self.opened_file = open(source, "rb", buffering=0)
            self._setup_reader(self.opened_file)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self.opened_file = io.BytesIO(bytes(source))
            self._setup_reader(self.opened_file)
        elif isinstance(source, io.TextIOBase):
            raise TypeError("a file source must be opened in binary mode ('rb')")
        elif hasattr(source, "readinto") or (hasattr(source, "read") and
                                             not isinstance(source, collections.abc.Iterable)):
            self._setup_reader(source)
        elif isinstance(source, io.IOBase):
            self._setup_reader(source)
        elif isinstance(source, collections.abc.Iterable) and not isinstance(
                source, collections.abc.Mapping):
            self._setup_iterable(source, organization)
        else:
            raise TypeError(
                "source must be an iterable of mappings or Records, a path, bytes or a "
                f"binary file object, not {type(source).__name__}"
            )

    def _setup_iterable(self, source: Iterable[Any], organization: str) -> None:
        # The items reach the library as balances PSV lines, in chunks,
        # through a balance reader (see _stream.py).
        from ._stream import Stream

        self.iterator = iter(source)
        # A re-iterable source (a list...) is iterated again for the second
        # pass; a one-shot iterator is kept on disk as it is first read.
        again = None
        if self.iterator is not source:
            def again() -> Iterator[Any]:
                self.iterator = iter(source)
                return self.iterator
        self.stream = Stream(self.iterator, organization, self.fail,
                             spool=self.may_rewind and again is None, again=again)
        self.rewind = self.stream.rewind
        self._new_reader(self.cfunc(_lib.READ_FN, self.stream.read))

    def _setup_reader(self, f: Any) -> None:
        start = None
        if self.may_rewind:
            try:
                if f.seekable():
                    start = f.tell()
            except (AttributeError, OSError, ValueError):
                start = None
        if self.may_rewind and start is None:
            # Not seekable (a pipe): copied to a temporary file as it is
            # read, and the second pass reads the copy.
            self._setup_spooled_reader(f)
            return
        if start is not None:
            def rewind() -> None:
                f.seek(start)
            self.rewind = rewind
        self._setup_plain_reader(f)

    def _setup_spooled_reader(self, f: Any) -> None:
        self.spool = tempfile.TemporaryFile()
        spool = self.spool
        state = {"replay": False}
        read_first = getattr(f, "read", None)
        if read_first is None:
            raise TypeError("a file source needs a readinto() or read() method")

        class _Tee:
            def read(self, n: int) -> bytes:
                if state["replay"]:
                    return spool.read(n)
                data = read_first(n)
                if isinstance(data, (bytes, bytearray, memoryview)):
                    spool.write(data)
                return data

        def rewind() -> None:
            spool.flush()
            spool.seek(0)
            state["replay"] = True
        self.rewind = rewind
        self._setup_plain_reader(_Tee())

    def _setup_plain_reader(self, f: Any) -> None:
        readinto = getattr(f, "readinto", None)
        read = getattr(f, "read", None)

        if readinto is not None:
            def read_cb(_ud: Any, buf: int, cap: int, got: Any) -> int:
                try:
                    n = readinto((ctypes.c_char * cap).from_address(buf))
                    got[0] = n or 0
                    return 0
                except BaseException as exc:
                    self.fail(exc)
                    return -1
        elif read is not None:
            def read_cb(_ud: Any, buf: int, cap: int, got: Any) -> int:
                try:
                    data = read(cap)
                    if isinstance(data, str):
                        raise TypeError("a file source must be opened in binary mode ('rb')")
                    n = len(data)
                    if n > cap:
                        raise ValueError("read() returned more bytes than asked for")
                    ctypes.memmove(buf, data, n)
                    got[0] = n
                    return 0
                except BaseException as exc:
                    self.fail(exc)
                    return -1
        else:
            raise TypeError("a file source needs a readinto() or read() method")

        self._new_reader(self.cfunc(_lib.READ_FN, read_cb))

    def _new_reader(self, fn: Any) -> None:
        handle = ctypes.c_void_p()
        rc = lib.ohp_balance_reader_new(ctypes.byref(handle), fn, None, None)
        if rc < 0:
            raise error_for(rc, "could not create the balance reader")
        self.reader = handle.value
        if self.rewind is not None:
            rewind = self.rewind

            def rewind_cb(_ud: Any) -> int:
                try:
                    rewind()
                    return 0
                except BaseException as exc:
                    self.fail(exc)
                    return -1

            rc = lib.ohp_balance_reader_set_rewind(self.reader,
                                                   self.cfunc(_lib.REWIND_FN, rewind_cb))
            if rc < 0:
                raise error_for(rc, "could not set the balance reader's rewind")
        rc = lib.ohp_job_set_balance_reader(self.handle, self.reader)
        if rc < 0:
            raise error_for(rc, "could not set the balance reader")

    # -- sink -------------------------------------------------------------

    def setup_sink(self, sink: Sink) -> None:
        if sink is None:
            rc = lib.ohp_job_set_memsink(self.handle, self.job._memsink())
            if rc < 0:
                raise error_for(rc, "could not set the memory sink")
            return
        if isinstance(sink, (str, os.PathLike)):
            self.sink = _PathSink(sink)
            self.sink.prepare()
        elif hasattr(sink, "write"):
            if isinstance(sink, io.TextIOBase):
                raise TypeError("a file sink must be opened in binary mode ('wb')")
            self.sink = _FileSink(sink)
        else:
            raise TypeError(
                f"sink must be a path, a binary file object or None, not {type(sink).__name__}"
            )
        rc = lib.ohp_job_set_sink(
            self.handle,
            self.cfunc(_lib.SINK_OPEN_FN, self._sink_open),
            self.cfunc(_lib.SINK_WRITE_FN, self._sink_write),
            self.cfunc(_lib.SINK_CLOSE_FN, self._sink_close),
            None,
        )
        if rc < 0:
            raise error_for(rc, "could not set the sink")

    def _sink_open(self, _ud: Any, name: bytes) -> int:
        try:
            self.sink.open(_lib.decode(name))
            return 0
        except BaseException as exc:
            self.fail(exc)
            return -1

    def _sink_write(self, _ud: Any, buf: int, size: int) -> int:
        try:
            self.sink.write(buf, size)
            return 0
        except BaseException as exc:
            self.fail(exc)
            return -1

    def _sink_close(self, _ud: Any, commit: int) -> int:
        try:
            self.sink.close(bool(commit))
            return 0
        except BaseException as exc:
            if commit:
                self.fail(exc)
            elif self.exc is None:
                self.exc = exc
            return -1

    # -- state store, authorizer, rejection, progress ---------------------

    def setup_state(self, state: Any) -> None:
        if state is not None and hasattr(state, "get_classes"):
            self._setup_class_state(state)
            return
        get = getattr(state, "get", None) if state is not None else None
        nxt = getattr(state, "next_run_id", None) if state is not None else None
        commit = getattr(state, "commit", None) if state is not None else None

        def get_cb(_ud: Any, system: bytes, org: bytes, out: Any) -> int:
            try:
                out[0] = to_epoch(get(_lib.decode(system), _lib.decode(org)))
                return 0
            except BaseException as exc:
                self.fail(exc)
                return -1

        def next_cb(_ud: Any, out: Any) -> int:
            try:
                n = nxt()
                if isinstance(n, bool) or not isinstance(n, int):
                    raise TypeError(f"next_run_id() must return int, not {type(n).__name__}")
                if n < 0 or n >= 2**64:
                    raise ValueError(f"next_run_id() returned {n}; run ids are 1 .. 2**64-1")
                out[0] = n
                return 0
            except BaseException as exc:
                self.fail(exc)
                return -1

        def commit_cb(_ud: Any, system: bytes, org: bytes, snapshot: int, run_id: int) -> int:
            try:
                commit(_lib.decode(system), _lib.decode(org), from_epoch(snapshot), run_id)
                return 0
            except BaseException as exc:
                self.fail(exc)
                return -1

        rc = lib.ohp_job_set_state_store(
            self.handle,
            self.cfunc(_lib.STATE_GET_FN, get_cb) if get else _lib.STATE_GET_FN(),
            self.cfunc(_lib.STATE_NEXT_RUN_ID_FN, next_cb) if nxt else _lib.STATE_NEXT_RUN_ID_FN(),
            self.cfunc(_lib.STATE_COMMIT_FN, commit_cb) if commit else _lib.STATE_COMMIT_FN(),
            None,
        )
        if rc < 0:
            raise error_for(rc, "could not set the state store")

    def _setup_class_state(self, state: Any) -> None:
        """A store with a watermark per item class (ohp_state_store)."""
        from .state import CLASSES, ClassState

        reserve = getattr(state, "reserve_run_id", None)

        def get_cb(_ud: Any, system: bytes, org: bytes, out: Any) -> int:
            try:
                got = state.get_classes(_lib.decode(system), _lib.decode(org)) or {}
                for i, name in enumerate(CLASSES):
                    cs = got.get(name)
                    out[i].watermark = to_epoch(cs.watermark if cs else None)
                    out[i].last_snapshot = to_epoch(cs.last_snapshot if cs else None)
                return 0
            except BaseException as exc:
                self.fail(exc)
                return -1

        def reserve_cb(_ud: Any, requested: int, out: Any) -> int:
            try:
                n = reserve(int(requested))
                if isinstance(n, bool) or not isinstance(n, int):
                    raise TypeError(f"reserve_run_id() must return int, not {type(n).__name__}")
                if n < 0 or n >= 2**64:
                    raise ValueError(f"reserve_run_id() returned {n}; run ids are 1 .. 2**64-1")
                out[0] = n
                return 0
            except BaseException as exc:
                self.fail(exc)
                return -1

        def commit_cb(_ud: Any, system: bytes, org: bytes, items: int, states: Any,
                      run_id: int) -> int:
            try:
                covered = {Items.BOTH: CLASSES, Items.SERIAL: ("serial",),
                           Items.NONSERIAL: ("nonserial",)}[Items(items)]
                new = {name: ClassState(from_epoch(states[i].watermark),
                                        from_epoch(states[i].last_snapshot))
                       for i, name in enumerate(CLASSES) if name in covered}
                state.commit_classes(_lib.decode(system), _lib.decode(org),
                                     Items(items).name.lower(), new, run_id)
                return 0
            except BaseException as exc:
                self.fail(exc)
                return -1

        store = _lib.ohp_state_store(
            _lib.OHP_STATE_STORE_VERSION,
            self.cfunc(_lib.STATE2_GET_FN, get_cb),
            self.cfunc(_lib.STATE2_RESERVE_FN, reserve_cb) if reserve else _lib.STATE2_RESERVE_FN(),
            self.cfunc(_lib.STATE2_COMMIT_FN, commit_cb),
        )
        self.keep.append(store)
        rc = lib.ohp_job_set_state_store2(self.handle, ctypes.byref(store), None)
        if rc < 0:
            raise error_for(rc, "could not set the state store")

    def setup_authorizer(self, authorizer: Any) -> None:
        if authorizer is None:
            fn = _lib.AUTHORIZE_FN()
        else:
            check = getattr(authorizer, "authorize", None)
            if check is None:
                if not callable(authorizer):
                    raise TypeError("authorizer must be callable or have an authorize() method")
                check = authorizer

            def authorize_cb(_ud: Any, user: bytes, privilege: bytes, granted: Any) -> int:
                try:
                    granted[0] = 1 if check(_lib.decode(user), _lib.decode(privilege)) else 0
                    return 0
                except BaseException as exc:
                    self.fail(exc)
                    return -1

            fn = self.cfunc(_lib.AUTHORIZE_FN, authorize_cb)
        rc = lib.ohp_job_set_authorizer(self.handle, fn, None)
        if rc < 0:
            raise error_for(rc, "could not set the authorizer")

    def setup_reject(self, on_reject: Optional[Callable[[Rejection], Any]]) -> None:
        fn = _lib.REJECT_FN()
        if on_reject is not None:
            def reject_cb(_ud: Any, rj: Any) -> int:
                try:
                    r = rj.contents
                    record = _record_dict(r.record.contents) if r.record else {}
                    try:
                        rule: Any = Rule(r.rule)
                    except ValueError:
                        rule = r.rule
                    item = None
                    message = _lib.decode(r.message)
                    if self.stream is not None:
                        item, message, record = self.stream.rejection(
                            int(r.ordinal), r.message or b"", record)
                    line, column, where = self.locate(int(r.ordinal))
                    if where:
                        message += "; " + where
                    on_reject(Rejection(
                        ordinal=int(r.ordinal),
                        rule=rule,
                        message=message,
                        key={k: record.get(k) for k in _KEY_FIELDS},
                        record=record,
                        item=item,
                        line=line,
                        column=column,
                    ))
                    return 0
                except BaseException as exc:
                    self.fail(exc)
                    return -1

            fn = self.cfunc(_lib.REJECT_FN, reject_cb)
        rc = lib.ohp_job_set_reject_callback(self.handle, fn, None)
        if rc < 0:
            raise error_for(rc, "could not set the rejection callback")

    def setup_progress(self, on_progress: Optional[Callable[[int], Any]]) -> None:
        fn = _lib.PROGRESS_FN()
        if on_progress is not None:
            def progress_cb(_ud: Any, records_read: int) -> int:
                try:
                    return 1 if on_progress(int(records_read)) is False else 0
                except BaseException as exc:
                    self.fail(exc)
                    return -1

            fn = self.cfunc(_lib.PROGRESS_FN, progress_cb)
        rc = lib.ohp_job_set_progress_callback(self.handle, fn, None)
        if rc < 0:
            raise error_for(rc, "could not set the progress callback")

    # -- after the run ------------------------------------------------------

    def cleanup(self) -> None:
        """Release what the run opened.  Never raises over a pending error."""
        errors: List[BaseException] = []
        close_stream = getattr(self.stream, "close", None)
        if close_stream is not None:
            close_stream()
        self.stream = None
        if self.iterator is not None:
            close = getattr(self.iterator, "close", None)
            self.iterator = None
            if close is not None:
                try:
                    close()
                except BaseException as exc:
                    errors.append(exc)
        if self.reader is not None:
            lib.ohp_balance_reader_free(self.reader)
            self.reader = None
        if self.opened_file is not None:
            try:
                self.opened_file.close()
            except BaseException as exc:
                errors.append(exc)
            self.opened_file = None
        if self.spool is not None:
            self.spool.close()
            self.spool = None
        if self.sink is not None:
            try:
                self.sink.discard()  # no-op after a commit
            except BaseException as exc:
                errors.append(exc)
        if errors and self.exc is None:
            self.exc = errors[0]


# --------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------


class Job:
    """A publish job handle: configure once, run many times.

    Args:
        registry: the external systems (:class:`Registry`); ``None`` knows
            only code ``"0"``.
        state: a state store (see :mod:`onhandpub.state`) or ``None``.
        authorizer: ``callable(user, privilege) -> bool`` or an object with
            such an ``authorize`` method.  Without one every run is refused
            unless ``caller_authorized=True`` is passed to :meth:`run`.
        on_reject: ``callable(Rejection)``, called for each bad record under
            ``on_error="reject"``.
        on_progress: ``callable(records_read) -> bool | None``; returning
            ``False`` cancels the run.

    The attributes of the same names may be changed between runs.  A job is
    used by one thread at a time.  Use it as a context manager or call
    :meth:`close` (idempotent).
    """

    def __init__(
        self,
        registry: Optional[Registry] = None,
        state: Any = None,
        authorizer: Any = None,
        on_reject: Optional[Callable[[Rejection], Any]] = None,
        on_progress: Optional[Callable[[int], Any]] = None,
    ) -> None:
        handle = ctypes.c_void_p()
        rc = lib.ohp_job_new(ctypes.byref(handle), None)
        if rc < 0:
            raise error_for(rc, "could not create a job")
        self._handle: Optional[int] = handle.value
        self._ms: Optional[int] = None
        self._last_run: Optional[_Run] = None
        self._running = False
        self.registry = registry
        self.state = state
        self.authorizer = authorizer
        self.on_reject = on_reject
        self.on_progress = on_progress
        self.summary: Optional[Summary] = None

    # -- lifetime ----------------------------------------------------------

    @property
    def _h(self) -> int:
        if self._handle is None:
            raise ValueError("the job is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._handle is None

    def close(self) -> None:
        """Free the job (and its memory sink).  Idempotent."""
        if self._handle is None:
            return
        if self._running:
            raise RuntimeError("a job cannot be closed from inside one of its callbacks")
        handle, self._handle = self._handle, None
        lib.ohp_job_free(handle)
        if self._ms is not None:
            lib.ohp_memsink_free(self._ms)
            self._ms = None
        self._last_run = None

    def __enter__(self) -> "Job":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._running:
                self.close()
        except Exception:
            pass

    def _memsink(self) -> int:
        if self._ms is None:
            handle = ctypes.c_void_p()
            rc = lib.ohp_memsink_new(ctypes.byref(handle), None)
            if rc < 0:
                raise error_for(rc, "could not create the memory sink")
            self._ms = handle.value
        return self._ms  # type: ignore[return-value]

    # -- running -----------------------------------------------------------

    def run(
        self,
        source: Source,
        sink: Sink = None,
        *,
        organization: str,
        system: str = "0",
        items: Union[Items, str, int] = Items.BOTH,
        full: bool = False,
        publish_from: DateLike = None,
        snapshot_date: DateLike = None,
        run_id: Optional[int] = None,
        level: Optional[int] = None,
        on_error: Union[OnError, str, int] = OnError.FAIL,
        user: Optional[str] = None,
        caller_authorized: bool = False,
        progress_interval: Optional[int] = None,
        max_field_length: Optional[int] = None,
        max_serials_per_record: Optional[int] = None,
        threads: Optional[int] = None,
        max_changed_keys: Optional[int] = None,
        allow_empty: bool = False,
        max_rejects: Optional[int] = None,
        max_reject_percent: Optional[int] = None,
    ) -> Summary:
        """Publish one snapshot and return its :class:`Summary`.

        Args:
            source: an iterable of mappings (keys are the balances PSV column
                names, lower or upper case) or :class:`Record` objects; a
                path to a balances PSV file; PSV ``bytes``; or a binary file
                object.
            sink: a path (a file, or a directory that receives the proposed
                file name; a path ending in ``/`` is a directory, created if
                missing), written atomically and checked before the run; a
                binary file object; or ``None`` to get the ZIP in
                ``Summary.data``.
            organization: the Organization code (required).
            system: the External System code (default ``"0"``).
            items: ``"both"``, ``"serial"``, ``"nonserial"`` or :class:`Items`.
            full: Full Publish.
            publish_from: Publish from Date.
            snapshot_date: the snapshot time (default: the clock at start).
            run_id: the run id (default: from the state store, else 1).
            level: deflate level 0-9 (default 6).
            on_error: ``"fail"`` (default) or ``"reject"``.
            user: the submitting user (default: the login name).
            caller_authorized: the caller has authorized the request; the
                authorizer is not consulted.
            progress_interval: records between progress calls (default 10000).
            max_field_length: longest field in bytes (default 4000).
            max_serials_per_record: default 1000000.
            threads: compression threads (default 1: the calling thread);
                the output is identical whatever the number.
            max_changed_keys: incremental runs: the most balance keys that
                may have changed in the window (default 4194304); more fail
                the run with LimitError.  An incremental run publishes
                whole keys and reads the source twice: a list or another
                re-iterable is iterated again, a one-shot iterator's items
                and a non-seekable file's bytes are kept in a temporary file
                in between; a seekable file is read again from where it was.
            allow_empty: a full run may publish no line (the organization is
                empty); without it such a run raises EmptySnapshot, nothing
                published.
            max_rejects: on_error="reject": the most records that may be
                rejected (default: no count limit); more raise LimitError.
            max_reject_percent: on_error="reject": the highest share of
                rejected records, in percent of the records checked
                (1-100, default 50); more raise LimitError.

        Raises:
            OnhandpubError: a subclass for the library's error code, with the
                run's summary in ``exc.summary``.
            BaseException: whatever a Python callback (the source's
                iteration, the sink, state store, authorizer, rejection or
                progress callback) raised, unchanged, with the library's
                error as ``__cause__``.
        """
        handle = self._h
        if self._running:
            raise RuntimeError("a job cannot be run from inside one of its callbacks")
        params = _lib.ohp_params()
        rc = lib.ohp_params_init(ctypes.byref(params), _lib.OHP_PARAMS_VERSION)
        if rc < 0:
            raise error_for(rc, "ohp_params_init failed")
        if organization is None:
            raise InvalidArgument(_lib.OHP_EINVAL, "organization is required")
        params.system_code = _c_text(system, "system")
        params.organization_code = _c_text(organization, "organization")
        params.items = _enum(items, Items, "items")
        params.full_publish = 1 if full else 0
        params.publish_from = to_epoch(publish_from)
        params.snapshot_date = to_epoch(snapshot_date)
        if run_id is not None:
            if isinstance(run_id, bool) or not isinstance(run_id, int) or not 0 < run_id < 2**64:
                raise InvalidArgument(_lib.OHP_EINVAL, f"run_id must be a positive int, not {run_id!r}")
            params.run_id = run_id
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, int):
                raise TypeError("level must be an int 0-9")
            params.compression_level = level
        params.on_error = _enum(on_error, OnError, "on_error")
        params.user = _c_text(user if user is not None else _default_user(), "user")
        params.caller_authorized = 1 if caller_authorized else 0
        params.allow_empty = 1 if allow_empty else 0
        for name, value in (("progress_interval", progress_interval),
                            ("max_field_length", max_field_length),
                            ("max_serials_per_record", max_serials_per_record),
                            ("threads", threads),
                            ("max_changed_keys", max_changed_keys),
                            ("max_rejects", max_rejects),
                            ("max_reject_percent", max_reject_percent)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InvalidArgument(_lib.OHP_EINVAL, f"{name} must be an int >= 0")
                setattr(params, name, value)

        run = _Run(self)
        self._last_run = run  # its callbacks stay alive until the next run
        registry = self.registry
        summary: Optional[Summary] = None
        try:
            if registry is not None:
                if not isinstance(registry, Registry):
                    raise TypeError("registry must be an onhandpub.Registry")
                rc = lib.ohp_job_set_registry(handle, registry._h)
                if rc < 0:
                    raise error_for(rc, "could not set the registry")
                registry._borrowed += 1
            run.setup_source(source, organization, may_rewind=not full)
            run.setup_sink(sink)
            run.setup_state(self.state)
            run.setup_authorizer(self.authorizer)
            run.setup_reject(self.on_reject)
            run.setup_progress(self.on_progress)
            self._running = True
            try:
                rc = lib.ohp_job_run(handle, ctypes.byref(params))
            finally:
                self._running = False
            summary = self._read_summary(run, sink is None)
            if run.stream is not None and summary.error_ordinal:
                fixed = run.stream.error_message(summary.error_ordinal,
                                                 lib.ohp_job_errmsg(handle) or b"")
                if fixed is not None:
                    summary.message = fixed
            elif summary.error_ordinal:
                line, column, where = run.locate(summary.error_ordinal)
                if where:
                    summary.message += "; " + where
                    summary.error_line, summary.error_column = line, column
            self.summary = summary
        finally:
            run.cleanup()
            if registry is not None and registry._borrowed:
                lib.ohp_job_set_registry(handle, None)
                registry._borrowed -= 1
        if run.exc is not None:
            lib_error = error_for(rc, summary.message, summary) if rc < 0 else None
            raise run.exc from lib_error
        if rc < 0:
            raise error_for(rc, summary.message, summary)
        return summary

    def _read_summary(self, run: _Run, memsink: bool) -> Summary:
        h = self._h
        s = lib.ohp_job_summary(h).contents
        totals: Dict[str, Decimal] = {}
        uom = ctypes.c_char_p()
        total = ctypes.c_char_p()
        for i in range(s.uom_total_count):
            if lib.ohp_job_uom_total(h, i, ctypes.byref(uom), ctypes.byref(total)) == 0:
                totals[_lib.decode(uom.value)] = Decimal(_lib.decode(total.value))
        warnings = [_lib.decode(lib.ohp_job_warning(h, i)) for i in range(s.warning_count)]
        data = None
        if memsink and self._ms is not None and lib.ohp_memsink_committed(self._ms):
            n = ctypes.c_size_t()
            ptr = lib.ohp_memsink_data(self._ms, ctypes.byref(n))
            data = ctypes.string_at(ptr, n.value) if ptr else b""

        def enum_or_int(enum_type: Any, v: int) -> Any:
            try:
                return enum_type(v)
            except ValueError:
                return v

        path = None
        if run.sink is not None and isinstance(run.sink, _PathSink) and run.sink.committed:
            path = run.sink.final
        return Summary(
            status=enum_or_int(Status, s.status),
            error=s.error,
            message=_lib.decode(lib.ohp_job_errmsg(h)),
            mode=enum_or_int(Mode, s.mode),
            items=enum_or_int(Items, s.items),
            window_start=from_epoch(s.window_start),
            snapshot_date=from_epoch(s.snapshot_date),
            run_id=s.run_id,
            system_code=_lib.decode(s.system_code),
            organization_code=_lib.decode(s.organization_code),
            file_name=_lib.decode(s.file_name),
            entry_name=_lib.decode(s.entry_name),
            records_read=s.records_read,
            records_published=s.records_published,
            skipped={
                "organization": s.skipped_organization,
                "item_type": s.skipped_item_type,
                "window": s.skipped_window,
                "zero": s.skipped_zero,
            },
            records_rejected=s.records_rejected,
            serial_lines=s.serial_lines,
            lines_written=s.lines_written,
            psv_bytes=s.psv_bytes,
            compressed_bytes=s.compressed_bytes,
            zip_bytes=s.zip_bytes,
            crc32=s.crc32,
            warnings=warnings,
            error_ordinal=s.error_ordinal or None,
            error_rule=enum_or_int(Rule, s.error_rule) if s.error_rule else None,
            control_totals=totals,
            data=data,
            path=path,
            changed_keys=s.changed_keys,
        )


def publish(
    source: Source,
    sink: Sink = None,
    *,
    organization: str,
    system: str = "0",
    items: Union[Items, str, int] = Items.BOTH,
    full: bool = False,
    publish_from: DateLike = None,
    snapshot_date: DateLike = None,
    run_id: Optional[int] = None,
    level: Optional[int] = None,
    on_error: Union[OnError, str, int] = OnError.FAIL,
    user: Optional[str] = None,
    caller_authorized: bool = False,
    registry: Optional[Registry] = None,
    state: Any = None,
    authorizer: Any = None,
    on_reject: Optional[Callable[[Rejection], Any]] = None,
    on_progress: Optional[Callable[[int], Any]] = None,
    progress_interval: Optional[int] = None,
    max_field_length: Optional[int] = None,
    max_serials_per_record: Optional[int] = None,
    threads: Optional[int] = None,
    max_changed_keys: Optional[int] = None,
    allow_empty: bool = False,
    max_rejects: Optional[int] = None,
    max_reject_percent: Optional[int] = None,
) -> Summary:
    """Publish one snapshot with a one-off :class:`Job`; see :meth:`Job.run`
    for the arguments and what is raised."""
    with Job(registry=registry, state=state, authorizer=authorizer, on_reject=on_reject,
             on_progress=on_progress) as job:
        return job.run(
            source,
            sink,
            organization=organization,
            system=system,
            items=items,
            full=full,
            publish_from=publish_from,
            snapshot_date=snapshot_date,
            run_id=run_id,
            level=level,
            on_error=on_error,
            user=user,
            caller_authorized=caller_authorized,
            progress_interval=progress_interval,
            max_field_length=max_field_length,
            max_serials_per_record=max_serials_per_record,
            threads=threads,
            max_changed_keys=max_changed_keys,
            allow_empty=allow_empty,
            max_rejects=max_rejects,
            max_reject_percent=max_reject_percent,
        )


__all__ = ["Job", "publish", "record_args", "OnhandpubError"]
