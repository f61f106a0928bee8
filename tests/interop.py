#!/usr/bin/env python3
"""Independent readers accept libonhandpub's archives.

zipgen (tests/zipgen.c) publishes deterministic snapshots to a pipe: a
sample with quoting and serials, a single line, an empty snapshot (the
header line only) and a multi-block one (about 700 KB of PSV, several
compression blocks).  Each archive, at levels 0, 1, 6 and 9 and with 1 and
2 compression threads (ohp_params.threads; the bytes must not depend on
it), must pass; so must the archives of the ISA-L engine (levels 1, 2 and
6, which is ISA-L's level 3) when the library has it (OHP_EXPECT_ISAL=1,
set by the build; then a library without ISA-L fails the test):

  from a file:      `unzip -t`, `unzip -p`, Python's zipfile (and csv for
                    the sample), `7z t` and `7z x -so` (Debian p7zip-full)
  through a pipe:   `zipgen | bsdtar -tf -`, `zipgen | bsdtar -xOf -`

and the other way round: the library's reader (snapdump, tests/snapdump.c,
over ohp_snapshot_reader_open_zip) reads back, field by field, the sample
and a multi-block snapshot archived by Python's zipfile (stored, deflated,
ZIP64 with force_zip64=True, and to an unseekable stream), Info-ZIP `zip`
(plain, ZIP64 with -fz, stored, and to a pipe), bsdtar (plain, ZIP64,
stored, and through a pipe with its block padding) and 7-Zip (deflated and
stored).  Archives meant to be ZIP64 are checked to carry the ZIP64 extra
field, so the test cannot pass on a plain archive.

7-Zip does not read a ZIP archive from standard input (`7z t -si -tzip`
answers "Can't open as archive": its ZIP handler needs a seekable file), so
7z is tested from a file only.  bsdtar is the streaming reader.  A missing
reader is a failure, not a skip.

usage: interop.py PATH-TO-ZIPGEN PATH-TO-SNAPDUMP
"""
import csv
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

HEADER = (
    "EXTERNAL_SYSTEM_CODE|PUBLISH_RUN_ID|PUBLISH_MODE|SNAPSHOT_DATE|ORGANIZATION_ID|"
    "ORGANIZATION_CODE|INVENTORY_ITEM_ID|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_ID|"
    "LOCATOR_NAME|LOT_NUMBER|LOT_EXPIRATION_DATE|SERIAL_CONTROLLED|SERIAL_NUMBER|"
    "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|SECONDARY_QUANTITY|SECONDARY_UOM_CODE|CONSIGNED_FLAG|"
    "OWNING_PARTY_ID|PROJECT_ID|TASK_ID|MATERIAL_STATUS_CODE|LAST_UPDATE_DATE\n"
)
P = "0|5|FULL|2026/11/02 06:00:00|"
LUD = "2026/11/01 08:00:00"
ENTRY = "ONHAND_0_M1_5_20261102060000.psv"

SAMPLE = (
    HEADER
    + P + "204|M1|1001|AS54888|B|FGI|3001|A.01.02|LOT-7|2027/04/01|N||12.5|Ea|3|KG|Y|5005|6006|"
    "7007|HOLD|2026/11/01 01:30:00\n"
    + P + '|M1||"A|B"|a,b; c\'d|FGI||"say ""hi"""|"L\r\n1"||N||1|Ea|||N||||"x\ny"|' + LUD + "\n"
    + "".join(P + f"|M1||SER1||FGI|||||Y|SN{n:04d}|1|Ea|||N|||||{LUD}\n" for n in range(98, 102))
    + P + "|M1||\u03a9-1||B\u00fccher|||||N||-2.5|Ea|||N|||||" + LUD + "\n"
)

# The same content as fields, the way a csv reader must see it.
PREFIX_FIELDS = ["0", "5", "FULL", "2026/11/02 06:00:00"]
SAMPLE_ROWS = [
    HEADER.rstrip("\n").split("|"),
    PREFIX_FIELDS + ["204", "M1", "1001", "AS54888", "B", "FGI", "3001", "A.01.02", "LOT-7",
                     "2027/04/01", "N", "", "12.5", "Ea", "3", "KG", "Y", "5005", "6006", "7007",
                     "HOLD", "2026/11/01 01:30:00"],
    PREFIX_FIELDS + ["", "M1", "", "A|B", "a,b; c'd", "FGI", "", 'say "hi"', "L\r\n1", "", "N",
                     "", "1", "Ea", "", "", "N", "", "", "", "x\ny", LUD],
] + [
    PREFIX_FIELDS + ["", "M1", "", "SER1", "", "FGI", "", "", "", "", "Y", f"SN{n:04d}", "1",
                     "Ea", "", "", "N", "", "", "", "", LUD]
    for n in range(98, 102)
] + [
    PREFIX_FIELDS + ["", "M1", "", "\u03a9-1", "", "B\u00fccher", "", "", "", "", "N", "", "-2.5",
                     "Ea", "", "", "N", "", "", "", "", LUD],
]

SINGLE = HEADER + P + "|M1||ITEM1||FGI|||||N||1|Ea|||N|||||" + LUD + "\n"
EMPTY = HEADER

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def need(tool):
    path = shutil.which(tool)
    if path is None:
        print(f"FAIL: {tool} is required for this test "
              "(Debian packages unzip, zip, libarchive-tools, p7zip-full)")
        sys.exit(1)
    return path


LARGE_BYTES = 700000


def zipgen_args(zipgen, level, mode, threads):
    engine, level = level if isinstance(level, tuple) else ("zlib", level)
    args = [zipgen, "-l", str(level), "-t", str(threads), "-e", engine, "-m", mode]
    if mode == "large":
        args += ["-b", str(LARGE_BYTES)]
    return args


def zipgen_bytes(zipgen, level, mode, threads):
    args = zipgen_args(zipgen, level, mode, threads)
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if r.returncode != 0:
        print(r.stderr.decode(errors="replace"))
        raise SystemExit(f"{' '.join(args[1:])} failed")
    return r.stdout


def piped(zipgen, level, mode, threads, reader_cmd):
    """zipgen ... | reader_cmd, returning the reader's (rc, stdout, stderr)."""
    gen = subprocess.Popen(zipgen_args(zipgen, level, mode, threads), stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    rd = subprocess.Popen(reader_cmd, stdin=gen.stdout, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    gen.stdout.close()
    out, err = rd.communicate()
    gen.wait()
    check(gen.returncode == 0, f"zipgen {level} -t {threads} -m {mode} exit {gen.returncode}")
    return rd.returncode, out, err


class Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek or tell: zipfile then writes data descriptors."""

    def __init__(self):
        super().__init__()
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.data += b
        return len(b)


def local_zip64(data):
    """Whether the archive's first local header carries a ZIP64 extra field."""
    if data[:4] != b"PK\x03\x04":
        return False
    nlen, xlen = struct.unpack_from("<HH", data, 26)
    extra = data[30 + nlen:30 + nlen + xlen]
    o = 0
    while o + 4 <= len(extra):
        tag, n = struct.unpack_from("<HH", extra, o)
        if tag == 1:
            return True
        o += 4 + n
    return False


def foreign_archives(tmp, content):
    """(writer, archive bytes, must be ZIP64) for content archived as ENTRY by other tools."""
    src = os.path.join(tmp, "src")
    os.makedirs(src, exist_ok=True)
    path = os.path.join(src, ENTRY)
    with open(path, "wb") as f:
        f.write(content)
    out = []

    def python(method, force, stream=False):
        target = Unseekable() if stream else io.BytesIO()
        with zipfile.ZipFile(target, "w", method) as zf:
            with zf.open(ENTRY, "w", force_zip64=force) as f:
                f.write(content)
        return bytes(target.data) if stream else target.getvalue()

    out.append(("python zipfile deflated", python(zipfile.ZIP_DEFLATED, False), False))
    out.append(("python zipfile stored", python(zipfile.ZIP_STORED, False), False))
    out.append(("python zipfile force_zip64", python(zipfile.ZIP_DEFLATED, True), True))
    out.append(("python zipfile force_zip64 stored", python(zipfile.ZIP_STORED, True), True))
    out.append(("python zipfile force_zip64 unseekable",
                python(zipfile.ZIP_DEFLATED, True, True), True))

    def tool(what, args, zip64, piped=False):
        """Run a writer in src: it writes tmp/out.zip, or standard output when piped."""
        target = os.path.join(tmp, "out.zip")
        if os.path.exists(target):
            os.unlink(target)
        # piped: the writer's output is a pipe, it cannot seek back
        p = subprocess.run(args, cwd=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            check(False, f"{what}: exit {p.returncode}: {p.stderr.decode(errors='replace')}")
            return
        if piped:
            data = p.stdout
        else:
            with open(target, "rb") as f:
                data = f.read()
        out.append((what, data, zip64))

    zip_ = need("zip")
    bsdtar = need("bsdtar")
    sevenz = need("7z")
    target = os.path.join(tmp, "out.zip")
    tool("Info-ZIP zip", [zip_, "-q", "-X", target, ENTRY], False)
    tool("Info-ZIP zip -fz", [zip_, "-q", "-X", "-fz", target, ENTRY], True)
    tool("Info-ZIP zip -fz -0", [zip_, "-q", "-X", "-fz", "-0", target, ENTRY], True)
    tool("Info-ZIP zip to a pipe", [zip_, "-q", "-X", "-", ENTRY], False, piped=True)
    tool("bsdtar", [bsdtar, "--format", "zip", "-cf", target, ENTRY], False)
    tool("bsdtar zip64", [bsdtar, "--format", "zip", "--options", "zip:zip64", "-cf", target,
                          ENTRY], True)
    tool("bsdtar stored", [bsdtar, "--format", "zip", "--options", "zip:compression=store",
                           "-cf", target, ENTRY], False)
    tool("bsdtar zip64 to a pipe", [bsdtar, "--format", "zip", "--options", "zip:zip64", "-cf",
                                    "-", ENTRY], True, piped=True)
    tool("7z", [sevenz, "a", "-bd", "-tzip", target, ENTRY], False)
    tool("7z stored", [sevenz, "a", "-bd", "-tzip", "-mx0", target, ENTRY], False)
    return out


def read_foreign(snapdump, tmp, label, content):
    """The library's reader reads every writer's archive of content back, field by field."""
    text = content.decode("utf-8")
    want = list(csv.reader(io.StringIO(text, newline=""), delimiter="|"))[1:]
    count = 0
    for what, data, zip64 in foreign_archives(tmp, content):
        tag = f"{label}, {what}"
        if zip64:
            check(local_zip64(data), f"{tag}: no ZIP64 extra field in the local header")
        path = os.path.join(tmp, "foreign.zip")
        with open(path, "wb") as f:
            f.write(data)
        r = subprocess.run([snapdump, path], capture_output=True)
        ok = r.returncode == 0
        check(ok, f"{tag}: snapdump exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        if ok:
            name, _, body = r.stdout.partition(b"\n")
            check(name.decode() == ENTRY, f"{tag}: entry name {name!r}")
            rows = [rec.decode("utf-8").split("\x1f") for rec in body.split(b"\x1e")[:-1]]
            check(len(rows) == len(want), f"{tag}: {len(rows)} records, want {len(want)}")
            check(rows == want, f"{tag}: records differ")
            ok = rows == want and name.decode() == ENTRY
        count += 1
        print(f"{'ok' if ok else 'FAILED'} read back: {tag} ({len(data)} bytes)")
    return count


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    zipgen = sys.argv[1]
    snapdump = sys.argv[2]
    unzip = need("unzip")
    bsdtar = need("bsdtar")
    sevenz = need("7z")
    need("zip")
    cases = [("sample", SAMPLE), ("single", SINGLE), ("empty", EMPTY), ("large", None)]
    archives = 0
    with tempfile.TemporaryDirectory() as tmp:
        levels = [("zlib", n) for n in (0, 1, 6, 9)]
        if os.environ.get("OHP_EXPECT_ISAL") == "1":
            levels += [("isal", n) for n in (1, 2, 6)]
        for engine_level in levels:
            engine, level = engine_level
            for mode, expected in cases:
                first = None
                for threads in (1, 2):
                    tag = f"{engine} level {level} threads {threads} {mode}"
                    data = zipgen_bytes(zipgen, engine_level, mode, threads)
                    if first is None:
                        first = data
                    else:
                        check(data == first, f"{tag}: bytes differ from 1 thread")
                    path = os.path.join(tmp, f"{mode}{engine}{level}-{threads}.zip")
                    with open(path, "wb") as f:
                        f.write(data)

                    # Python zipfile and csv
                    with zipfile.ZipFile(io.BytesIO(data)) as zf:
                        check(zf.testzip() is None, f"{tag}: zipfile testzip")
                        check(zf.namelist() == [ENTRY], f"{tag}: names {zf.namelist()}")
                        info = zf.getinfo(ENTRY)
                        check(info.compress_type == (zipfile.ZIP_STORED if level == 0
                                                     else zipfile.ZIP_DEFLATED),
                              f"{tag}: compression method {info.compress_type}")
                        check(info.date_time == (2026, 11, 2, 6, 0, 0),
                              f"{tag}: entry time {info.date_time}")
                        content = zf.read(ENTRY)
                        if expected is None:
                            # the multi-block snapshot: checked by shape, then by every reader
                            check(content.startswith(HEADER.encode()),
                                  f"{tag}: header line")
                            check(len(content) >= LARGE_BYTES, f"{tag}: size {len(content)}")
                            want = content
                        else:
                            want = expected.encode("utf-8")
                        check(info.file_size == len(want), f"{tag}: size {info.file_size}")
                        check(content == want, f"{tag}: zipfile content")
                        if mode == "sample":
                            text = content.decode("utf-8")
                            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="|"))
                            check(rows == SAMPLE_ROWS, f"{tag}: csv rows {rows}")
                        if mode == "empty":
                            check(content == HEADER.encode(), f"{tag}: header only")

                    # Info-ZIP unzip
                    r = subprocess.run([unzip, "-t", path], capture_output=True, text=True)
                    check(r.returncode == 0 and "No errors detected" in r.stdout,
                          f"{tag}: unzip -t: {r.returncode} {r.stdout} {r.stderr}")
                    r = subprocess.run([unzip, "-p", path, ENTRY], capture_output=True)
                    check(r.returncode == 0 and r.stdout == want, f"{tag}: unzip -p content")

                    # 7-Zip (from the file: it cannot read a ZIP from a pipe)
                    r = subprocess.run([sevenz, "t", path], capture_output=True, text=True)
                    check(r.returncode == 0 and "Everything is Ok" in r.stdout,
                          f"{tag}: 7z t: {r.returncode} {r.stdout} {r.stderr}")
                    r = subprocess.run([sevenz, "x", "-so", path], capture_output=True)
                    check(r.returncode == 0 and r.stdout == want, f"{tag}: 7z x -so content")

                    # bsdtar through a pipe: a streaming reader that cannot seek
                    rc, out, err = piped(zipgen, engine_level, mode, threads, [bsdtar, "-tf", "-"])
                    check(rc == 0 and out.decode().strip() == ENTRY,
                          f"{tag}: bsdtar -tf -: {rc} {out!r} {err!r}")
                    rc, out, err = piped(zipgen, engine_level, mode, threads, [bsdtar, "-xOf", "-"])
                    check(rc == 0 and out == want, f"{tag}: bsdtar -xOf -: {rc} {err!r}")
                    # and bsdtar from the file
                    r = subprocess.run([bsdtar, "-xOf", path], capture_output=True)
                    check(r.returncode == 0 and r.stdout == want, f"{tag}: bsdtar -xOf file")
                    archives += 1
                    print(f"ok {tag}: {len(data)} bytes")
    print(f"{archives} archives, 5 readers (unzip, zipfile, 7z, bsdtar file and pipe)")
    with tempfile.TemporaryDirectory() as tmp:
        large = None
        with zipfile.ZipFile(io.BytesIO(zipgen_bytes(zipgen, 6, "large", 1))) as zf:
            large = zf.read(ENTRY)
        n = read_foreign(snapdump, tmp, "sample", SAMPLE.encode("utf-8"))
        n += read_foreign(snapdump, tmp, "multi-block", large)
    print(f"{n} archives by other writers read back by the library")
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
