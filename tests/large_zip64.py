#!/usr/bin/env python3
"""Opt-in: an entry over 4 GiB through an append-only sink is a valid ZIP64 archive.

zipgen publishes records until the PSV exceeds OHP_LARGE_BYTES (default
4,400,000,000) and writes the ZIP to a pipe; this script copies the pipe to a
file with plain writes (nothing ever seeks), then checks the archive with
`unzip -t` and Python's zipfile (full read, CRC checked, size and line count
compared with zipgen's summary).  At level 0 the compressed size and the
central directory offset exceed 4 GiB as well.

The library's own reader (snapdump, over ohp_snapshot_reader_open_zip) then
reads the archive back whole: every record, sizes and CRC-32 checked.  Once,
after the first level, the PSV is archived again by other writers, each
producing a ZIP64 archive over 4 GiB (Python's zipfile, Info-ZIP `zip`,
bsdtar; OHP_LARGE_WRITERS, default "python zip bsdtar", chooses), and
snapdump reads each back with the same line count; `zip` and `bsdtar` must
be installed when named.

Runs only with OHP_LARGE_TESTS=1 (exit 77, a skip, otherwise).  Levels come
from OHP_LARGE_LEVELS (default "1 0"); the files go to OHP_LARGE_DIR (default
the temporary directory) and are removed afterwards.

usage: large_zip64.py PATH-TO-ZIPGEN PATH-TO-SNAPDUMP
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

FOUR_GIB = 1 << 32
HEADER = (
    b"EXTERNAL_SYSTEM_CODE|PUBLISH_RUN_ID|PUBLISH_MODE|SNAPSHOT_DATE|ORGANIZATION_ID|"
    b"ORGANIZATION_CODE|INVENTORY_ITEM_ID|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_ID|"
    b"LOCATOR_NAME|LOT_NUMBER|LOT_EXPIRATION_DATE|SERIAL_CONTROLLED|SERIAL_NUMBER|"
    b"PRIMARY_QUANTITY|PRIMARY_UOM_CODE|SECONDARY_QUANTITY|SECONDARY_UOM_CODE|CONSIGNED_FLAG|"
    b"OWNING_PARTY_ID|PROJECT_ID|TASK_ID|MATERIAL_STATUS_CODE|LAST_UPDATE_DATE\n"
)
ENTRY = "ONHAND_0_M1_5_20261102060000.psv"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def central_directory_offset(path):
    """The central directory offset, from the ZIP64 end record when present."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 65536 - 22))
        tail = f.read()
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0:
        fail("no end of central directory record")
    (cd_offset,) = struct.unpack_from("<I", tail, eocd + 16)
    if cd_offset != 0xFFFFFFFF:
        return cd_offset, False
    loc = tail.rfind(b"PK\x06\x07", 0, eocd)
    if loc < 0:
        fail("central directory offset is 0xFFFFFFFF but there is no ZIP64 locator")
    (rec_offset,) = struct.unpack_from("<Q", tail, loc + 8)
    with open(path, "rb") as f:
        f.seek(rec_offset)
        rec = f.read(56)
    if rec[:4] != b"PK\x06\x06":
        fail("ZIP64 end of central directory record not found where the locator says")
    (cd64,) = struct.unpack_from("<Q", rec, 48)
    return cd64, True


def read_back(snapdump, path, lines, what):
    """The library's reader reads the archive whole: its record count is the summary's."""
    t0 = time.monotonic()
    r = subprocess.run([snapdump, "-c", path], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{what}: the library's reader refuses it: {r.stderr.strip()}")
    if r.stdout.strip() != f"records {lines}":
        fail(f"{what}: the library's reader gives {r.stdout.strip()!r}, want {lines} records")
    return time.monotonic() - t0


def other_writers(snapdump, path, lines, psv_bytes, workdir, writers):
    """The archive's PSV archived again by other writers, read back by the library."""
    src = os.path.join(workdir, "src")
    os.makedirs(src, exist_ok=True)
    psv = os.path.join(src, ENTRY)
    with zipfile.ZipFile(path) as zf, zf.open(ENTRY) as f, open(psv, "wb") as out:
        shutil.copyfileobj(f, out, 1 << 22)
    if os.path.getsize(psv) != psv_bytes:
        fail(f"extracted {os.path.getsize(psv)} bytes, want {psv_bytes}")
    target = os.path.join(workdir, "other.zip")
    for writer in writers:
        t0 = time.monotonic()
        if writer == "python":
            with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                zf.write(psv, ENTRY)
        elif writer in ("zip", "bsdtar"):
            tool = shutil.which(writer)
            if tool is None:
                fail(f"{writer} is required (Debian packages zip, libarchive-tools)")
            args = ([tool, "-q", "-X", "-1", target, ENTRY] if writer == "zip" else
                    [tool, "--format", "zip", "--options", "zip:compression-level=1", "-cf",
                     target, ENTRY])
            r = subprocess.run(args, cwd=src, capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"{writer}: exit {r.returncode}: {r.stderr}")
        else:
            fail(f"unknown writer {writer} in OHP_LARGE_WRITERS")
        t_write = time.monotonic() - t0
        with zipfile.ZipFile(target) as zf:
            info = zf.getinfo(ENTRY)
            if info.file_size != psv_bytes:
                fail(f"{writer}: entry of {info.file_size} bytes, want {psv_bytes}")
        t_read = read_back(snapdump, target, lines, f"{writer}'s archive")
        print(f"{writer}: zip {os.path.getsize(target)} bytes, written in {t_write:.1f}s, "
              f"read back by the library in {t_read:.1f}s")
        os.unlink(target)
    os.unlink(psv)


def run_level(zipgen, snapdump, level, target, workdir, writers):
    path = os.path.join(workdir, f"large{level}.zip")
    t0 = time.monotonic()
    gen = subprocess.Popen([zipgen, "-l", str(level), "-m", "large", "-b", str(target)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    written = 0
    with open(path, "wb", buffering=0) as out:
        while True:
            chunk = gen.stdout.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
            written += len(chunk)
    err = gen.stderr.read().decode()
    gen.wait()
    t_publish = time.monotonic() - t0
    if gen.returncode != 0:
        fail(f"zipgen level {level}: {err}")
    summary = dict(kv.split("=", 1) for kv in err.split())
    psv_bytes = int(summary["psv_bytes"])
    lines = int(summary["lines"])
    if written != int(summary["zip_bytes"]):
        fail(f"level {level}: {written} bytes through the pipe, summary says {summary['zip_bytes']}")
    if psv_bytes <= FOUR_GIB:
        fail(f"level {level}: entry of {psv_bytes} bytes is not over 4 GiB")

    t0 = time.monotonic()
    unzip = shutil.which("unzip")
    if unzip is None:
        fail("unzip is required")
    r = subprocess.run([unzip, "-t", path], capture_output=True, text=True)
    t_unzip = time.monotonic() - t0
    if r.returncode != 0 or "No errors detected" not in r.stdout:
        fail(f"level {level}: unzip -t: {r.returncode}\n{r.stdout}\n{r.stderr}")

    t0 = time.monotonic()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if [i.filename for i in infos] != [ENTRY]:
            fail(f"level {level}: entries {[i.filename for i in infos]}")
        info = infos[0]
        if info.file_size != psv_bytes:
            fail(f"level {level}: zipfile size {info.file_size}, summary {psv_bytes}")
        if info.CRC != int(summary["crc32"]):
            fail(f"level {level}: CRC {info.CRC}, summary {summary['crc32']}")
        n = 0
        nl = 0
        first = b""
        with zf.open(info) as f:  # reading to the end checks the CRC
            while True:
                block = f.read(1 << 22)
                if not block:
                    break
                if not first:
                    first = block[: len(HEADER) + 200]
                n += len(block)
                nl += block.count(b"\n")
    t_zipfile = time.monotonic() - t0
    if n != psv_bytes:
        fail(f"level {level}: read {n} bytes, want {psv_bytes}")
    if nl != lines + 1:
        fail(f"level {level}: {nl} lines, want {lines + 1}")
    if not first.startswith(HEADER + b"0|5|FULL|2026/11/02 06:00:00||M1||ITEM-000000000000||FGI||"):
        fail(f"level {level}: unexpected start {first[:300]!r}")

    zip_size = os.path.getsize(path)
    cd_offset, zip64_end = central_directory_offset(path)
    if level == 0:
        if int(summary["compressed_bytes"]) <= FOUR_GIB or cd_offset <= FOUR_GIB:
            fail(f"level 0: compressed size {summary['compressed_bytes']} and central directory "
                 f"offset {cd_offset} should both exceed 4 GiB")
        if not zip64_end:
            fail("level 0: no ZIP64 end of central directory record")
    t_library = read_back(snapdump, path, lines, f"level {level}")
    print(f"level {level}: psv {psv_bytes} bytes, {lines} lines, zip {zip_size} bytes, "
          f"compressed {summary['compressed_bytes']}, central directory at {cd_offset}; "
          f"publish {t_publish:.1f}s, unzip -t {t_unzip:.1f}s, zipfile {t_zipfile:.1f}s, "
          f"library reader {t_library:.1f}s")
    if writers:
        other_writers(snapdump, path, lines, psv_bytes, workdir, writers)
    os.unlink(path)


def main():
    if os.environ.get("OHP_LARGE_TESTS") != "1":
        print("skipped: set OHP_LARGE_TESTS=1 to run the large-archive test")
        return 77
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    zipgen, snapdump = sys.argv[1], sys.argv[2]
    writers = os.environ.get("OHP_LARGE_WRITERS", "python zip bsdtar").replace(",", " ").split()
    target = int(os.environ.get("OHP_LARGE_BYTES", "4400000000"))
    levels = [int(x) for x in os.environ.get("OHP_LARGE_LEVELS", "1 0").replace(",", " ").split()]
    workdir = os.environ.get("OHP_LARGE_DIR") or tempfile.gettempdir()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for i, level in enumerate(levels):
            run_level(zipgen, snapdump, level, target, tmp, writers if i == 0 else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
