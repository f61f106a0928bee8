#!/usr/bin/env python3
"""Target 6 of the performance issue: the Python binding against a
plain-Python script and against the command-line connector.

On the workload of ``workload.py`` (100k source records by default, about
94k output lines for organization M1), each repetition runs, interleaved:

  plain      plain_csv_zip.py: csv + zipfile, the same filter and expansion
  dicts      onhandpub.publish(list of dicts, path)
  file       onhandpub.publish(balances PSV path, path)
  connector  onhandpub publish --input FILE --org M1 --no-auth --full ...

all publishing organization M1, items both, full mode, level 6, snapshot
2026/11/27 00:00:00, run id 1, to a file.  It checks that the four PSV
entries are byte-identical, then reports the medians and the ratios
dicts / plain (target <= 1.0) and file / connector (target <= 1.2).
The PSV path and the connector compress with the same number of threads:
--threads (default 1) is passed to both when the connector has that option
(its own default is one thread per core); with --threads T > 1 a fifth run,
dicts-Tt, publishes the dicts with threads=T.

Usage (from the repository root, after ninja -C build):
  OHP_LIBRARY=build/src/libonhandpub.so.1 PYTHONPATH=bindings/python \\
      python3 bindings/python/bench/bench_binding.py [--records N] [--reps R]
      [--connector build/examples/onhandpub] [--threads T] [--seed S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import Any, Callable, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)

import workload  # noqa: E402
from plain_csv_zip import publish_plain  # noqa: E402

import onhandpub  # noqa: E402

SNAPSHOT = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)
ZIP_NAME = "ONHAND_0_M1_1_20261127000000.zip"


def cpu() -> float:
    """User + system CPU seconds of this process and its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def entry(path: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(z.namelist()[0])


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description="Python binding benchmark (target 6)")
    ap.add_argument("--records", type=int, default=100_000, help="source records (1000000 for 1M)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--connector", default=os.path.join(ROOT, "build", "examples", "onhandpub"))
    ap.add_argument("--threads", type=int, default=1,
                    help="compression threads of the PSV-path publish and of the connector "
                         "(default 1; the dicts and the plain script always use one)")
    a = ap.parse_args(argv)
    usage = subprocess.run([a.connector, "publish", "--help"], capture_output=True,
                           text=True).stdout
    connector_threads = ["--threads", str(a.threads)] if "--threads" in usage else []
    if not connector_threads and a.threads != 1:
        ap.error(f"{a.connector} has no --threads option")

    tmp = tempfile.mkdtemp(prefix="ohp-pybench-")
    try:
        t = time.perf_counter()
        data = list(workload.records(a.records, a.seed))
        psv = os.path.join(tmp, "balances.psv")
        psv_bytes = workload.write_psv(psv, a.records, a.seed)
        print(f"workload: {a.records} records ({psv_bytes} bytes as balances PSV), "
              f"generated in {time.perf_counter() - t:.1f} s")
        print(f"binding:  {os.path.dirname(onhandpub.__file__)}, "
              f"libonhandpub {onhandpub.library_version()}")
        print(f"threads:  {a.threads} for the PSV path and the connector "
              f"({' '.join(connector_threads) or 'the connector has no --threads option'})")

        common: Dict[str, Any] = dict(organization="M1", full=True, caller_authorized=True,
                                      snapshot_date=SNAPSHOT, run_id=1, level=a.level)

        def out(name: str, rep: int) -> str:
            d = os.path.join(tmp, f"{name}-{rep}")
            os.mkdir(d)
            return d

        def run_plain(rep: int) -> str:
            p = os.path.join(out("plain", rep), ZIP_NAME)
            publish_plain(data, p, level=a.level)
            return p

        def run_dicts(rep: int) -> str:
            return onhandpub.publish(data, out("dicts", rep), **common).path

        def run_file(rep: int) -> str:
            return onhandpub.publish(psv, out("file", rep), threads=a.threads, **common).path

        def run_connector(rep: int) -> str:
            d = out("connector", rep)
            subprocess.run([a.connector, "publish", "--input", psv, "--org", "M1", "--no-auth",
                            "--full", "--outdir", d, "--now", "2026-11-27T00:00:00Z",
                            "--run-id", "1", "--level", str(a.level)] + connector_threads,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return os.path.join(d, ZIP_NAME)

        def run_dicts_mt(rep: int) -> str:
            return onhandpub.publish(data, out("dicts-mt", rep), threads=a.threads,
                                     **common).path

        runs: Dict[str, Callable[[int], str]] = {
            "plain": run_plain, "dicts": run_dicts, "file": run_file,
            "connector": run_connector,
        }
        if a.threads > 1:
            runs[f"dicts-{a.threads}t"] = run_dicts_mt
        times: Dict[str, List[float]] = {k: [] for k in runs}
        cpus: Dict[str, List[float]] = {k: [] for k in runs}
        for rep in range(a.reps):
            order = list(runs)
            if rep % 2:
                order.reverse()  # interleaved, alternating order
            paths = {}
            for name in order:
                c = cpu()
                t = time.perf_counter()
                paths[name] = runs[name](rep)
                times[name].append(time.perf_counter() - t)
                cpus[name].append(cpu() - c)
            if rep == 0:
                ref = entry(paths["plain"])
                for name in runs:
                    if entry(paths[name]) != ref:
                        print(f"MISMATCH: the PSV of {name} differs from plain's")
                        return 1
                lines = ref.count(b"\n") - 1
                print(f"output:   {lines} lines, {len(ref)} PSV bytes, "
                      f"identical from all {len(runs)}")
            for name in runs:
                shutil.rmtree(os.path.dirname(paths[name]))

        med = {k: statistics.median(v) for k, v in times.items()}
        mcpu = {k: statistics.median(v) for k, v in cpus.items()}
        print(f"\n{a.reps} interleaved repetitions, medians (min..max); CPU = user + system "
              "time of the process (the connector's: of the child)")
        print(f"  {'':10s} {'wall s':>7s}  {'(min..max)':16s} {'lines/s':>10s}   {'CPU s':>6s}")
        for name in runs:
            v = times[name]
            print(f"  {name:10s} {med[name]:7.3f}  ({min(v):.3f}..{max(v):.3f})  "
                  f"{lines / med[name]:>10,.0f}   {mcpu[name]:6.3f}")
        ratios = [("dicts / plain", "dicts", "plain", 1.0),
                  ("file / connector", "file", "connector", 1.2)]
        if a.threads > 1:
            ratios.append((f"dicts-{a.threads}t / plain", f"dicts-{a.threads}t", "plain", 1.0))
        for what, num, den, limit in ratios:
            rw, rc = med[num] / med[den], mcpu[num] / mcpu[den]
            verdict = "met" if rw <= limit else "NOT met"
            print(f"{what:20s} wall {rw:.2f}  CPU {rc:.2f}  (target <= {limit:.2f}: {verdict})")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
