"""Output files of the binding: the onhandpub command's rules (docs/cli.md,
"Files the command writes").  A file is written unnamed (O_TMPFILE) in its
directory and linked into place at commit, so that a killed process leaves
nothing; where O_TMPFILE is not available (or ONHANDPUB_NO_TMPFILE is set) a
named temporary ".<name>.tmp.<pid>.<16 hex>" is used, held under flock, and
removed by a later run once its process is gone."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import secrets
import stat
from typing import Any, Optional


def unnamed_file(directory: str) -> Optional[int]:
    """An unnamed O_TMPFILE file in directory (reachable through /proc/self/fd for
    linkat), or None where the file system or the platform says no."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or os.environ.get("ONHANDPUB_NO_TMPFILE"):
        return None
    try:
        fd = os.open(directory, flag | os.O_RDWR | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None
        raise
    try:
        same = os.path.samestat(os.fstat(fd), os.stat("/proc/self/fd/%d" % fd))
    except OSError:
        same = False
    if not same:
        os.close(fd)
        return None
    return fd


_AT_FDCWD = -100
_AT_SYMLINK_FOLLOW = 0x400
_libc: Any = None


def link_fd(fd: int, name: str) -> None:
    """Give the unnamed file fd the name `name` (linkat of /proc/self/fd/N with
    AT_SYMLINK_FOLLOW, which os.link does not do everywhere); FileExistsError if
    the name exists: nothing is ever replaced."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int]
        _libc.linkat.restype = ctypes.c_int
    src = ("/proc/self/fd/%d" % fd).encode()
    if _libc.linkat(_AT_FDCWD, src, _AT_FDCWD, os.fsencode(name), _AT_SYMLINK_FOLLOW) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), name)


_TEMP_NAME = re.compile(r"^\.(.+)\.tmp\.([0-9]{1,9})\.[0-9a-f]{16}$")


def clean_temporaries(directory: str, name: Optional[str]) -> None:
    """Remove the named temporaries ".<name>.tmp.<pid>.<16 hex>" (any name when name is
    None) that processes which no longer exist left in directory: the pid is not
    running and nobody holds the file's lock (the onhandpub command's rule)."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        m = _TEMP_NAME.match(entry)
        if m is None or (name is not None and m.group(1) != name):
            continue
        pid = int(m.group(2))
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except OSError:
            continue
        path = os.path.join(directory, entry)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            if os.path.samestat(st, os.lstat(path)):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)


def temp_name(name: str) -> str:
    """A fresh temporary name for name: ".<name>.tmp.<pid>.<16 hex>"."""
    return ".%s.tmp.%d.%s" % (name, os.getpid(), secrets.token_hex(8))


def create_named(directory: str, name: str) -> "tuple[int, str]":
    """A named temporary for name in directory (O_CREAT|O_EXCL|O_NOFOLLOW), locked."""
    for _ in range(32):
        tmp = os.path.join(directory, temp_name(name))
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o666)
        except FileExistsError:
            continue
        lock(fd)
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", directory)


def lock(fd: int) -> None:
    """Hold the file's lock while this process lives (a later run removes only unlocked ones)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass
