"""The sinks the binding provides: a ZIP written to a path (a directory or a
file name, committed by a rename or a link and never half-written) or to an
open binary file."""

from __future__ import annotations

import ctypes
import errno
import io
import os
import stat
from typing import Any, Optional, Union

from . import _lib
from ._files import clean_temporaries as _clean_temporaries
from ._files import create_named as _create_named
from ._files import link_fd as _link_fd
from ._files import lock as _lock
from ._files import temp_name as _temp_name
from ._files import unnamed_file as _unnamed_file
from .errors import SinkError
from .state import _fsync_dir

PathLike = Union[str, "os.PathLike[str]"]


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
