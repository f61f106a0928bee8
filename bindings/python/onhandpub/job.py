"""Publishing: the :class:`Job` handle and the :func:`publish` shortcut."""

from __future__ import annotations

import ctypes
import getpass
import pathlib
from decimal import Decimal
from typing import Any, Callable, Dict, Optional, Union

from . import _lib
from ._lib import lib
from ._record import record_args
from ._run import Sink, Source, _Run
from ._sinks import _PathSink
from .dates import DateLike, from_epoch, to_epoch
from .errors import InvalidArgument, OnhandpubError, c_text, error_for
from .registry import Registry
from .types import Engine, Items, Mode, OnError, Rejection, Rule, Status, Summary


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


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _make_params(*, organization: Optional[str], system: str, items: Any, full: bool,
                 publish_from: DateLike, snapshot_date: DateLike, run_id: Optional[int],
                 level: Optional[int], on_error: Any, user: Optional[str],
                 caller_authorized: bool, allow_empty: bool, manifest: bool,
                 engine: Any, limits: Any) -> "_lib.ohp_params":
    """The run's ohp_params from Job.run's arguments, checked."""
    params = _lib.ohp_params()
    rc = lib.ohp_params_init(ctypes.byref(params), _lib.OHP_PARAMS_VERSION)
    if rc < 0:
        raise error_for(rc, "ohp_params_init failed")
    if organization is None:
        raise InvalidArgument(_lib.OHP_EINVAL, "organization is required")
    params.system_code = c_text(system, "system")
    params.organization_code = c_text(organization, "organization")
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
    params.user = c_text(user if user is not None else _default_user(), "user")
    params.caller_authorized = 1 if caller_authorized else 0
    params.allow_empty = 1 if allow_empty else 0
    params.omit_manifest = 0 if manifest else 1
    params.engine = _enum(engine, Engine, "engine")
    for name, value in limits:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgument(_lib.OHP_EINVAL, f"{name} must be an int >= 0")
            setattr(params, name, value)
    return params


def _locate_error(run: _Run, summary: Summary, handle: Any) -> None:
    """A bad record's message says where it is: the item of an iterable
    source, or the line and column of a file source."""
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
        manifest: bool = True,
        engine: Union[Engine, str, int] = Engine.ZLIB,
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
            manifest: write the manifest into the ZIP's archive comment
                (default); ``False`` leaves it out.
            engine: the deflate engine: ``"zlib"`` (default: the same
                archive on every machine), ``"isal"`` (ISA-L, several times
                faster; the bytes can differ between processors, the entry
                never does; raises Unsupported when the library lacks it)
                or ``"best"``; ``Summary.engine`` says which ran, and
                ``onhandpub.engine_available()`` what this library has.

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
        params = _make_params(
            organization=organization, system=system, items=items, full=full,
            publish_from=publish_from, snapshot_date=snapshot_date, run_id=run_id, level=level,
            on_error=on_error, user=user, caller_authorized=caller_authorized,
            allow_empty=allow_empty, manifest=manifest, engine=engine,
            limits=(("progress_interval", progress_interval),
                    ("max_field_length", max_field_length),
                    ("max_serials_per_record", max_serials_per_record),
                    ("threads", threads),
                    ("max_changed_keys", max_changed_keys),
                    ("max_rejects", max_rejects),
                    ("max_reject_percent", max_reject_percent)))

        run = _Run(self)
        taken: Optional[BaseException] = None
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
            if rc < 0 and isinstance(run.sink, _PathSink):
                taken = run.sink.failure()  # before cleanup frees the sink
            _locate_error(run, summary, handle)
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
            lib_error = error_for(rc, summary.message, summary)
            if taken is not None:
                raise taken from lib_error
            raise lib_error
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

        path = run.sink.path if isinstance(run.sink, _PathSink) else None
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
            path=pathlib.Path(path) if path is not None else None,
            changed_keys=s.changed_keys,
            engine=enum_or_int(Engine, s.engine),
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
    manifest: bool = True,
    engine: Union[Engine, str, int] = Engine.ZLIB,
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
            manifest=manifest,
            engine=engine,
        )


def engine_available(engine: Union[Engine, str, int]) -> bool:
    """True if this build of the library can run ``engine`` (``"zlib"``
    and ``"best"``: always; ``"isal"``: when it was built with ISA-L)."""
    return bool(lib.ohp_engine_available(_enum(engine, Engine, "engine")))


__all__ = ["Job", "publish", "engine_available", "record_args", "OnhandpubError"]
