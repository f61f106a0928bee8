"""One run of a job: the C callbacks (source, sink, state store, authorizer,
rejections, progress) as trampolines into Python, what they keep alive for
the run, and the first exception a Python callback raised."""

from __future__ import annotations

import collections.abc
import ctypes
import io
import os
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union

from . import _lib
from ._lib import lib
from ._record import _KEY_FIELDS, _record_dict
from ._sinks import PathLike, _FileSink, _PathSink
from ._stream import Stream
from .dates import from_epoch, to_epoch
from .errors import error_for
from .types import Items, Rejection, Rule

if TYPE_CHECKING:  # for annotations only: the job imports this module
    from .job import Job

Source = Union[Iterable[Any], PathLike, bytes, io.RawIOBase, io.BufferedIOBase]
Sink = Union[PathLike, io.RawIOBase, io.BufferedIOBase, None]


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
        self.filestate: Any = None  # a FileStateStore open for the run (its _held)
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
            self.sink.attach(self.handle)
            return
        if hasattr(sink, "write"):
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
        from .state import FileStateStore

        if isinstance(state, FileStateStore):
            # The library's own store: opened (and locked) for the run.
            if state._held is not None:
                raise RuntimeError("a FileStateStore serves one run at a time")
            state._held = state._open()
            self.filestate = state
            rc = lib.ohp_job_set_filestate(self.handle, state._held.h)
            if rc < 0:
                raise error_for(rc, "could not set the state store")
            return
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
        if self.filestate is not None:
            held, self.filestate._held = self.filestate._held, None
            held.close()  # releases the lock
            self.filestate = None
        if self.sink is not None:
            try:
                self.sink.discard()  # no-op after a commit
            except BaseException as exc:
                errors.append(exc)
        if errors and self.exc is None:
            self.exc = errors[0]
