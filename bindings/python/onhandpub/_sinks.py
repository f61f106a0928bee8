"""The sinks the binding provides: a ZIP written to a path (a directory or a
file name, through the library's file sink: committed by a rename or a link
and never half-written) or to an open binary file."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any, Optional, Union

from . import _lib
from .errors import SinkError

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------


class _PathSink:
    """Writes the ZIP to a path through the library's file sink
    (``ohp_filesink``; docs/files.md).

    A directory path receives the proposed file name and never replaces an
    existing file (like the onhandpub command's --outdir); a path ending in a
    separator is a directory, created (with its parents) if missing.  A file
    path is replaced atomically if it is a regular file (or a symbolic link,
    which is replaced, not followed); a device or FIFO there is written
    straight into.  The target is checked before the run starts, so a bad
    path costs no work.  The library writes an unnamed temporary (O_TMPFILE)
    in the folder and links it into place at commit, so that a killed
    process leaves nothing; where O_TMPFILE is not available a named
    temporary ".<name>.tmp.<pid>.<random>" is used, held under flock, and
    removed by a later run once its process is gone.  On abort nothing is
    left.  The bytes never pass through Python."""

    def __init__(self, path: PathLike) -> None:
        self.target = os.fsdecode(os.fspath(path))
        self.handle: Optional[int] = None

    def prepare(self) -> None:
        """Checks (and for a folder path, creates) the target and makes the
        library's file sink; raises SinkError naming the path given."""
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
        elif not os.path.isdir(target):
            directory = os.path.dirname(os.path.abspath(target))
            if not os.path.isdir(directory):
                if os.path.lexists(directory):
                    what = "is not a folder"
                else:
                    what = "does not exist (end the path with '/' to have a folder created)"
                raise SinkError(_lib.OHP_ESINK,
                                f"sink {target!r}: folder {os.path.dirname(target) or directory!r} "
                                f"{what}")
        flags = 0 if os.path.isdir(target) else _lib.OHP_FILESINK_FILE
        handle = _lib.ohp_filesink_p()
        msg = ctypes.create_string_buffer(_lib.OHP_FILESINK_MSGSIZE)
        rc = _lib.lib.ohp_filesink_new(ctypes.byref(handle), os.fsencode(target), flags, None, msg)
        if rc < 0:
            raise SinkError(rc, f"sink {target!r}: {_lib.decode(msg.value)}")
        self.handle = handle.value

    def attach(self, job_handle: int) -> None:
        """Make the file sink the job's sink."""
        rc = _lib.lib.ohp_job_set_filesink(job_handle, self.handle)
        if rc < 0:
            raise SinkError(rc, "could not set the file sink")

    @property
    def path(self) -> Optional[str]:
        """The path of the file the last run put in place, or None."""
        if self.handle is None:
            return None
        p = _lib.lib.ohp_filesink_path(self.handle)
        return None if p is None else os.fsdecode(p)

    def failure(self) -> Optional[BaseException]:
        """After a failed run: FileExistsError when the name was taken."""
        if self.handle is None or _lib.lib.ohp_filesink_error(self.handle) != _lib.OHP_EEXISTS:
            return None
        return FileExistsError(errno.EEXIST, _lib.decode(_lib.lib.ohp_filesink_errmsg(self.handle)))

    def discard(self) -> None:
        """Free the file sink (a file still open is discarded)."""
        if self.handle is not None:
            _lib.lib.ohp_filesink_free(self.handle)
            self.handle = None


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
