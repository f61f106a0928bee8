"""An iterable source fed to the library as a balances PSV stream.

Building one ``ohp_record`` structure per item through ctypes costs several
microseconds.  Instead each item becomes one balances PSV line, in Python,
and the lines reach the library's balance reader in chunks of 64 KiB
through its read callback: ctypes is crossed once per chunk, not once per
field.  The library applies the same record rules to what it reads, so the
output, the counts and the errors are those of the per-record path; the
differences of the PSV form are undone here:

* An item that the per-record path turns into a record error of its own
  (a NUL character, a flag other than Y/N: the record's ``source_error``)
  becomes a line with an invalid CONSIGNED_FLAG, so the library treats it as
  a bad record at the same position; its message and rejected record are
  then replaced by the per-record path's.
* An absent LOCATOR_NAME reads back as an empty field, which the library's
  record description shows as ``locator -``; messages name the locator id
  instead, as for a record built field by field.
* Rejections carry the item and its serial numbers as given (a list of
  serials and ranges, or the text).
* An exception raised by the iterable or by an item's conversion (a float
  quantity...) is raised when the library asks for that item, after every
  earlier item was processed, so the counts, callbacks and messages are
  those of the per-record path.

Items are read ahead by up to one chunk (64 KiB of lines).  Memory is flat:
one chunk and the items whose lines it holds.
"""

from __future__ import annotations

import ctypes
import pickle
import re
import tempfile
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple

from . import _lib
from ._record import (
    _P_CONSIGNED,
    _P_SERIAL_CONTROLLED,
    _P_SERIAL_LIST,
    _P_SERIALS,
    _P_SOURCE_ERROR,
    _TEXT_COLUMNS,
    _ohp_record,
    _record_dict,
    _record_values,
    record_args_from_values,
)
from .types import Record

#: Bytes handed to the balance reader per read (its own buffer size).
CHUNK = 65536
#: The balance reader refuses lines longer than 1 MiB.
MAX_LINE = (1 << 20) - 64
#: The library's message buffers (OHP_ERRMSG_SIZE).
_ERRMSG = 512

_TEXT_KEYS = [name for name, _ in _TEXT_COLUMNS]
_TEXT_POS = [pos for _, pos in _TEXT_COLUMNS]
_NTEXT = len(_TEXT_KEYS)
_EMPTIES = [""] * _NTEXT
_I_ORG = _TEXT_KEYS.index("organization_code")
_I_ITEM = _TEXT_KEYS.index("item_number")
_I_SUB = _TEXT_KEYS.index("subinventory_code")
_I_LOCID = _TEXT_KEYS.index("locator_id")
_I_LOCNAME = _TEXT_KEYS.index("locator_name")
_I_LOT = _TEXT_KEYS.index("lot_number")

#: The stream's header: the text columns, then the flags and the serials.
HEADER = ("|".join(k.upper() for k in _TEXT_KEYS)
          + "|SERIAL_CONTROLLED|CONSIGNED_FLAG|SERIAL_NUMBERS\n").encode("ascii")

_LOWER = frozenset(_TEXT_KEYS + ["serial_controlled", "serial_numbers", "consigned",
                                 "consigned_flag"])
_UPPER = frozenset(k.upper() for k in _LOWER)
_TEXT_UPPER = [k.upper() for k in _TEXT_KEYS]
_STR = {str}
_NONE = type(None)
_FLAG_TYPES = (bool, type(None), str)
_FLAGS = {True: "Y", False: "N", None: "N", "Y": "Y", "N": "N", "": "N"}
_SPECIAL = ("|", '"', "\r", "\n", "\x00")
# A serial of a list starting or ending with a blank (the library trims).
_BLANK_EDGES = re.compile("(?:^|,)[ \t]|[ \t](?:,|$)").search
# FROM..TO that the library would trim (a blank next to '..'); '...' (FROM
# ending with '.', TO starting with '.') is tested apart.
_BAD_RANGE = re.compile("[ \t][.][.]|[.][.][ \t]").search


class Unrepresentable(ValueError):
    """A valid item that a balances PSV line cannot carry unchanged."""


def split_serials(text: Any) -> List[Tuple[Any, Any]]:
    """SERIAL_NUMBERS text split as the library splits it: items at ',',
    blanks (space, tab) trimmed, FROM..TO at the first '..'.  Works on
    ``str`` and on ``bytes``."""
    if isinstance(text, bytes):
        comma, dots, blanks = b",", b"..", b" \t"
    else:
        comma, dots, blanks = ",", "..", " \t"
    out: List[Tuple[Any, Any]] = []
    for part in text.split(comma):
        part = part.strip(blanks)
        i = part.find(dots)
        if i < 0:
            out.append((part, None))
        else:
            out.append((part[:i].rstrip(blanks), part[i + 2:].lstrip(blanks)))
    return out


def _serials_typed(sn: List[Any]) -> bool:
    """A list of serials whose conversion cannot raise: str and pairs of str."""
    if _STR.issuperset(map(type, sn)):
        return True
    for x in sn:
        if type(x) is not str and not (type(x) in (tuple, list) and len(x) == 2
                                       and type(x[0]) is str and type(x[1]) is str):
            return False
    return True


_DIGITS = re.compile(rb"[0-9]{1,18}\Z")


def _runs(pairs: List[Tuple[bytes, Optional[bytes]]]) -> List[Tuple[bytes, Optional[bytes]]]:
    """Serials with each run of consecutive single serials (same prefix and
    width, numbers one apart) as one FROM..TO range: the library expands,
    counts, checks and orders them as the singles.  Unchanged if a serial is
    empty (the library names empty serials by position)."""
    if any(not f or (t is not None and not t) for f, t in pairs):
        return pairs
    out: List[Tuple[bytes, Optional[bytes]]] = []
    run_from = run_to = None
    run_key: Any = None
    run_n = -2
    for f, t in pairs:
        m = _DIGITS.search(f) if t is None else None
        if m is not None:
            key = (f[:m.start()], len(f))
            n = int(m.group())
            if key == run_key and n == run_n + 1:
                run_to, run_n = f, n
                continue
        if run_from is not None:
            out.append((run_from, run_to if run_to != run_from else None))
        if m is None:
            run_from = run_key = None
            run_n = -2
            out.append((f, t))
        else:
            run_from = run_to = f
            run_key, run_n = key, n
    if run_from is not None:
        out.append((run_from, run_to if run_to != run_from else None))
    return out


def _quote(b: bytes) -> bytes:
    if b"|" in b or b'"' in b or b"\r" in b or b"\n" in b:
        return b'"' + b.replace(b'"', b'""') + b'"'
    return b


def _escape(text: bytes) -> bytes:
    """Message text as the library shows it (ohp_escape_text in src/common/util.c): control
    characters and bytes that are not UTF-8 as visible escapes."""
    out = []
    for ch in text.decode("utf-8", "surrogateescape"):
        c = ord(ch)
        if 0xDC80 <= c <= 0xDCFF:  # a byte that is not UTF-8
            out.append("\\x%02x" % (c - 0xDC00))
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c < 0x20 or c == 0x7F:
            out.append("\\x%02x" % c)
        elif 0x80 <= c <= 0x9F:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    return "".join(out).encode("utf-8")


def _cut(s: bytes, width: int) -> bytes:
    """At most width bytes of s without splitting a UTF-8 character (ohp_utf8_cut)."""
    if len(s) <= width:
        return s
    n = k = width
    while k > 0 and n - k < 3 and (s[k] & 0xC0) == 0x80:
        k -= 1
    if k < n and (s[k] & 0xC0) == 0xC0:
        n = k
    return s[:n]


def _who(ordinal: int, org: Optional[bytes], item: Optional[bytes], sub: Optional[bytes],
         loc: Optional[bytes], lot: Optional[bytes]) -> bytes:
    """The library's record description (describe_record in src/publish/job_pump.c)."""

    def k(s: Optional[bytes], width: int) -> bytes:
        return _cut(s, width) if s else b"-"

    raw = (b"record %d (organization %s, item %s, subinventory %s, locator %s, lot %s)" % (
        ordinal, k(org, 40), k(item, 60), k(sub, 30), k(loc, 40), k(lot, 40)))[:_ERRMSG - 1]
    return _escape(raw)[:_ERRMSG - 1]


class _Fix:
    """How the library's message about one item differs from the per-record
    path's, and the rejected record that path would show (source errors)."""

    __slots__ = ("who_psv", "who_rec", "message", "record")

    def __init__(self, ordinal: int, texts: List[Optional[bytes]],
                 message: Optional[bytes] = None,
                 record: Optional[Dict[str, Any]] = None) -> None:
        org, item, sub, lot = texts[_I_ORG], texts[_I_ITEM], texts[_I_SUB], texts[_I_LOT]
        name, lid = texts[_I_LOCNAME], texts[_I_LOCID]
        self.who_psv = _who(ordinal, org, item, sub, name or b"", lot)
        self.who_rec = _who(ordinal, org, item, sub, name if name is not None else lid, lot)
        self.message = message
        self.record = record

    def apply(self, text: bytes, limit: int) -> bytes:
        """The per-record path's message for the library's `text`."""
        head = self.who_psv + b": "
        if not text.startswith(head):
            return text
        rest = self.message if self.message is not None else text[len(head):]
        return _escape(self.who_rec + b": " + rest)[:limit]


class Stream:
    """Serialises an iterator of items into balances PSV chunks on demand."""

    def __init__(self, iterator: Iterator[Any], organization: str,
                 fail: Callable[[BaseException], None], spool: bool = False,
                 again: Optional[Callable[[], Iterator[Any]]] = None) -> None:
        self.it = iterator
        self.org = organization
        self.fail = fail
        # The second pass of an incremental run: `again` gives a new
        # iterator over the same items; else, with `spool`, each chunk and
        # its items are kept in a temporary file as they are made, and read
        # back instead of iterating.
        self.again = again
        self.spool: Any = tempfile.TemporaryFile() if spool else None
        self.replaying = False
        self._start()
        self.skip_lines: Dict[str, str] = {}

    def _start(self) -> None:
        self.buf = HEADER
        self.pos = 0
        self.error: Optional[BaseException] = None
        self.done = False
        self.count = 0  # items serialised
        self.delivered = 0  # bytes handed to the reader
        self.produced = len(HEADER)  # bytes serialised
        # The chunks not yet processed in full: [end offset, first ordinal,
        # items, {ordinal: [serials as given or None, _Fix or None]}].
        self.window: Deque[List[Any]] = deque()

    def rewind(self) -> None:
        """Start the items again, for the second pass of an incremental run."""
        if self.again is not None:
            self.it = self.again()
        elif self.spool is not None:
            self.spool.flush()
            self.spool.seek(0)
            self.replaying = True
        else:
            raise RuntimeError("this source cannot be read a second time")
        self._start()

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    # -- the read callback ----------------------------------------------

    def read(self, _ud: Any, buf: int, cap: int, got: Any) -> int:
        try:
            # The reader asks for more once it processed every line it
            # had: the items of the chunks delivered in full are done.
            window = self.window
            while window and window[0][0] <= self.delivered:
                window.popleft()
            if self.pos >= len(self.buf):
                if self.error is None and not self.done:
                    self._fill(cap)
                if self.pos >= len(self.buf):
                    if self.error is not None:
                        exc, self.error = self.error, None
                        raise exc
                    got[0] = 0
                    return 0
            n = min(cap, len(self.buf) - self.pos)
            if self.pos == 0 and n == len(self.buf):
                ctypes.memmove(buf, self.buf, n)
            else:
                ctypes.memmove(buf, self.buf[self.pos:self.pos + n], n)
            self.pos += n
            self.delivered += n
            got[0] = n
            return 0
        except BaseException as exc:
            self.fail(exc)
            return -1

    # -- serialisation ------------------------------------------------------

    def _push(self, data: bytes, first: int, items: List[Any],
              extras: Dict[int, List[Any]]) -> None:
        rest = self.buf[self.pos:]
        self.buf = rest + data if rest else data
        self.pos = 0
        self.produced += len(data)
        self.window.append([self.produced, first, items, extras])
        self.count = first + len(items) - 1

    def _replay(self) -> None:
        try:
            data, first, items, extras, done = pickle.load(self.spool)
        except EOFError:
            self.done = True
            return
        self.done = done
        self._push(data, first, items, extras)

    def _fill(self, cap: int) -> None:
        if self.replaying:
            self._replay()
            return
        parts: List[bytes] = []
        lines: List[str] = []
        add = lines.append
        items: List[Any] = []  # None for the items of other organizations
        keep = items.append
        extras: Dict[int, List[Any]] = {}
        size = 0
        first = self.count + 1
        org = self.org
        skip_lines = self.skip_lines
        fast = self._fast
        try:
            for item in self.it:
                line: Any = None
                if type(item) is dict:
                    get = item.get
                    text_only = _STR.issuperset(map(type, item.values()))
                    o = get("organization_code")
                    if (text_only and o != org and o
                            and "ORGANIZATION_CODE" not in item):
                        # Another organization, all text: the library only
                        # counts it.
                        line = skip_lines.get(o)
                        if line is None:
                            line = self._skip_line(o)
                        if line:
                            add(line)
                            keep(None)
                            size += len(line)
                            if size >= cap:
                                break
                            continue
                    keys = item.keys()
                    if keys <= _LOWER:
                        if "consigned_flag" in keys and "consigned" in keys:
                            pass  # the general path: the later key wins
                        else:
                            sc, sn = get("serial_controlled"), get("serial_numbers")
                            cf = get("consigned", get("consigned_flag"))
                            # text_only: every value is text, or absent but
                            # for bool flags and a list of serials (typed 2).
                            typed = 1
                            if not text_only:
                                typed = 2
                                types = list(map(type, item.values()))
                                text_only = len(types) == (
                                    types.count(str) + types.count(_NONE) + (type(sc) is bool)
                                    + (type(cf) is bool) + (type(sn) is list))
                            if text_only and typed == 1 and sn is None:
                                # Every value is text and there are no
                                # serials: the common line, written here.
                                text = "|".join(map(get, _TEXT_KEYS, _EMPTIES))
                                scf, cff = _FLAGS.get(sc), _FLAGS.get(cf)
                                if (scf and cff and text.count("|") == _NTEXT - 1
                                        and '"' not in text and "\r" not in text
                                        and "\n" not in text and "\x00" not in text
                                        and len(text) < MAX_LINE
                                        and not (get("locator_name") is None
                                                 and get("locator_id"))):
                                    line = f"{text}|{scf}|{cff}|\n"
                                    add(line)
                                    keep(item)
                                    size += len(line)
                                    if size >= cap:
                                        break
                                    continue
                            if text_only:
                                if o != org and type(o) is str and o and (
                                        type(sn) is not list or _serials_typed(sn)):
                                    # Another organization; its conversion
                                    # cannot raise.
                                    line = skip_lines.get(o)
                                    if line is None:
                                        line = self._skip_line(o)
                                    if line:
                                        add(line)
                                        keep(None)
                                        size += len(line)
                                        if size >= cap:
                                            break
                                        continue
                                line = fast(list(map(get, _TEXT_KEYS, _EMPTIES)), sc, cf,
                                            sn, item, first + len(items), typed)
                            else:
                                line = fast(list(map(get, _TEXT_KEYS, _EMPTIES)), sc, cf, sn,
                                            item, first + len(items))
                    elif keys <= _UPPER and not ("CONSIGNED_FLAG" in keys
                                                 and "CONSIGNED" in keys):
                        line = fast(list(map(get, _TEXT_UPPER, _EMPTIES)),
                                    get("SERIAL_CONTROLLED"),
                                    get("CONSIGNED", get("CONSIGNED_FLAG")),
                                    get("SERIAL_NUMBERS"), item, first + len(items))
                elif type(item) is Record:
                    line = fast([getattr(item, k) for k in _TEXT_KEYS], item.serial_controlled,
                                item.consigned, item.serial_numbers, item, first + len(items))
                if line:
                    if type(line) is tuple:
                        line, extras[first + len(items)] = line
                    add(line)
                    size += len(line)
                else:
                    raw, extra = self._slow(item, first + len(items))
                    if extra is not None:
                        extras[first + len(items)] = extra
                    if lines:
                        parts.append("".join(lines).encode("utf-8", "surrogatepass"))
                        lines = []
                        add = lines.append
                    parts.append(raw)
                    size += len(raw)
                keep(item)
                if size >= cap:
                    break
            else:
                self.done = True
        except BaseException as exc:
            self.error = exc
        if lines:
            parts.append("".join(lines).encode("utf-8", "surrogatepass"))
        data = b"".join(parts)
        if self.spool is not None and self.error is None:
            try:
                pickle.dump((data, first, items, extras, self.done), self.spool,
                            pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # an item that cannot be kept
                self.error = TypeError(
                    "an incremental run reads the source twice, and an item of this one-shot "
                    f"iterator cannot be kept for the second pass ({exc}); pass a list or "
                    "another re-iterable source, or publish in full")
        self._push(data, first, items, extras)

    def _skip_line(self, org: str) -> Any:
        """The line of an item of another organization: only its code."""
        line = False
        if not any(c in org for c in _SPECIAL):
            line = "|" * _I_ORG + org + "|" * (_NTEXT - _I_ORG) + "N|N|\n"
        self.skip_lines[org] = line
        return line

    def _fast(self, vals: List[Any], sc: Any, cf: Any, sn: Any, item: Any,
              ordinal: int, typed: bool = False) -> Any:
        """The line of a plain item (text in every text column, Y/N or bool
        flags, serials as text or a list), or None for the general path.
        `typed`: 1 if the text values are known to be str, 2 if str or None."""
        try:
            if typed != 1 and None in vals:
                vals = ["" if v is None else v for v in vals]
            if not typed and not _STR.issuperset(map(type, vals)):
                return None
            text = "|".join(vals)
            if (text.count("|") != _NTEXT - 1 or '"' in text or "\r" in text or "\n" in text
                    or "\x00" in text):
                return None
            if type(sc) not in _FLAG_TYPES or type(cf) not in _FLAG_TYPES:
                return None
            scf, cff = _FLAGS.get(sc), _FLAGS.get(cf)
            if scf is None or cff is None:
                return None
            given = None
            if sn is None:
                s = ""
            elif type(sn) is str:
                s = sn
                if "|" in s or '"' in s or "\r" in s or "\n" in s or "\x00" in s:
                    return None
            elif type(sn) is list:
                if not sn:
                    s = ""
                else:
                    try:
                        s = ",".join(sn)
                        plain = True
                    except TypeError:
                        parts = []
                        singles = 0
                        for x in sn:
                            if type(x) is str:
                                parts.append(x)
                                singles += 1
                            elif (type(x) in (tuple, list) and len(x) == 2
                                  and type(x[0]) is str and type(x[1]) is str):
                                parts.append(x[0] + ".." + x[1])
                            else:
                                return None
                        s = ",".join(parts)
                        plain = False
                    if (not s or "|" in s or '"' in s or "\r" in s or "\n" in s
                            or "\x00" in s):
                        return None
                    if not s.isascii():
                        s.encode("utf-8")  # lone surrogates: the general path
                    blanks = " " in s or "\t" in s
                    if s.count(",") != len(sn) - 1 or (blanks and _BLANK_EDGES(s)):
                        return None
                    if plain:
                        if ".." in s:
                            return None
                    elif (s.count("..") != len(sn) - singles or "..." in s
                          or (blanks and _BAD_RANGE(s))):
                        return None
                    given = sn
            else:
                return None
        except Exception:
            return None
        line = f"{text}|{scf}|{cff}|{s}\n"
        if len(line) > MAX_LINE:
            return None
        fix = None
        if vals[_I_LOCNAME] == "" and vals[_I_LOCID] != "":
            name = item.get("locator_name", item.get("LOCATOR_NAME")) if type(item) is dict \
                else item.locator_name
            if name is None:
                texts = [v.encode("utf-8", "surrogatepass") if v != "" else None for v in vals]
                fix = _Fix(ordinal, texts)
        if given is None and fix is None:
            return line
        return line, [given, fix]

    def _slow(self, item: Any, ordinal: int) -> Tuple[bytes, Optional[List[Any]]]:
        """The line of any item, through the per-record conversion (which
        raises what the per-record path raises)."""
        values = _record_values(item)
        texts: List[Optional[bytes]] = [values[p] for p in _TEXT_POS]
        error = values[_P_SOURCE_ERROR]
        if error is not None:
            # A record error of the item's own: the library must see a bad
            # record at this position; message and record are replaced.
            record = _record_dict(_ohp_record(_lib.OHP_RECORD_VERSION,
                                              *record_args_from_values(values)))
            keep = {_I_ORG, _I_ITEM, _I_SUB, _I_LOCID, _I_LOCNAME, _I_LOT}
            fields = [_quote(t) if t and i in keep else b"" for i, t in enumerate(texts)]
            sc = b"Y" if values[_P_SERIAL_CONTROLLED] else b"N"
            line = b"|".join(fields) + b"|" + sc + b"|?|\n"
            return line, [None, _Fix(ordinal, texts, error[:_ERRMSG - 1], record)]
        given = None
        serial_list = values[_P_SERIAL_LIST]
        pairs = values[_P_SERIALS]
        if pairs:
            joined = b",".join(f if t is None else f + b".." + t for f, t in pairs)
            if joined == b"" and len(pairs) == 1:
                joined = b","  # one empty serial: the same error at serial 1
            elif split_serials(joined) != pairs:
                raise Unrepresentable(
                    f"source item {ordinal}: serial numbers containing ',' or '..', or "
                    "starting or ending with a blank, cannot be given as a list; the "
                    "library reads SERIAL_NUMBERS as 'A,B,C001..C010'")
            try:
                joined.decode("utf-8")
            except UnicodeDecodeError:
                raise Unrepresentable(
                    f"source item {ordinal}: a serial number given in a list is not valid "
                    "UTF-8") from None
            serial_list = joined
            given = [_lib.decode(f) if t is None else (_lib.decode(f), _lib.decode(t))
                     for f, t in pairs]
        fields = [_quote(t) if t else b"" for t in texts]
        sc = b"Y" if values[_P_SERIAL_CONTROLLED] else b"N"
        cf = b"Y" if values[_P_CONSIGNED] else b"N"
        head = b"|".join(fields) + b"|" + sc + b"|" + cf + b"|"
        line = head + (_quote(serial_list) if serial_list else b"") + b"\n"
        if len(line) > MAX_LINE and pairs:
            line = head + _quote(b",".join(
                f if t is None else f + b".." + t for f, t in _runs(pairs))) + b"\n"
        if len(line) > MAX_LINE:
            raise Unrepresentable(
                f"source item {ordinal}: its balances line would be longer than 1 MiB "
                "(the library's line limit); give long runs of serial numbers as FROM..TO "
                "ranges")
        fix = None
        if texts[_I_LOCNAME] is None and texts[_I_LOCID]:
            fix = _Fix(ordinal, texts)
        if given is None and fix is None:
            return line, None
        return line, [given, fix]

    # -- after the library processed an item ------------------------------

    def _find(self, ordinal: int) -> Tuple[Any, Any]:
        """The item of `ordinal` and its [serials as given, _Fix]."""
        for _end, first, items, extras in self.window:
            if first <= ordinal < first + len(items):
                return items[ordinal - first], extras.get(ordinal, (None, None))
        return None, (None, None)

    def rejection(self, ordinal: int, message: bytes,
                  record: Dict[str, Any]) -> Tuple[Any, str, Dict[str, Any]]:
        """The item, message and record of a rejected item as the
        per-record path shows them."""
        item, (given, fix) = self._find(ordinal)
        if fix is not None:
            message = fix.apply(message, 2 * _ERRMSG - 1)
            if fix.record is not None:
                record = fix.record
        if given is not None and "serial_numbers" in record:
            record = dict(record)
            record["serial_numbers"] = [x if type(x) is str else (x[0], x[1]) for x in given]
        return item, _lib.decode(message), record

    def error_message(self, ordinal: int, message: bytes) -> Optional[str]:
        """The run's error message about item `ordinal`, or None if unchanged."""
        fix = self._find(ordinal)[1][1]
        if fix is None:
            return None
        return _lib.decode(fix.apply(message, _ERRMSG - 1))
