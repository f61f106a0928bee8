"""Reading pipe-separated values with the library's reader (layout v1
quoting: fields with | " CR or LF are enclosed in double quotes, inner
quotes doubled)."""

from __future__ import annotations

import ctypes
import os
from typing import Iterator, List, Union

from . import _lib
from ._lib import lib
from .errors import error_for


def read_psv(source: Union[bytes, str, "os.PathLike[str]"]) -> Iterator[List[str]]:
    """Yield the rows of a PSV buffer (``bytes``) or file (a path) as lists
    of ``str``.  A UTF-8 byte-order mark at the start is skipped.  Raises
    :class:`onhandpub.InvalidArgument` (bad quoting, or a NUL byte inside a
    field: never a value cut short at it) or :class:`onhandpub.LimitError`
    (line over 1 MiB) naming the line (and the column for a NUL byte)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            data = f.read()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise TypeError("read_psv takes bytes or a path")
    buf = ctypes.create_string_buffer(data, len(data))
    handle = ctypes.c_void_p()
    rc = lib.ohp_psv_reader_new_memory(ctypes.byref(handle), buf, len(data), None)
    if rc < 0:
        raise error_for(rc, "could not create the PSV reader")
    reader = handle.value
    try:
        fields = ctypes.POINTER(ctypes.c_char_p)()
        count = ctypes.c_size_t()
        while True:
            rc = lib.ohp_psv_reader_next(reader, ctypes.byref(fields), ctypes.byref(count))
            if rc < 0:
                raise error_for(rc, _lib.decode(lib.ohp_psv_reader_errmsg(reader)))
            if rc == 0:
                return
            yield [_lib.decode(fields[i]) for i in range(count.value)]
    finally:
        lib.ohp_psv_reader_free(reader)
        del buf
