#!/usr/bin/env python3
"""connector_bench - the command-line connector against the library benchmark.

Writes bench's workload in the connector's balances layout
(bench --dump-input), then alternates, R times, the connector publishing
that file at one compression thread (wall time of the whole process: start,
reading and parsing the file, the job, writing and syncing the ZIP and the
state) with bench --only publish on the same records in memory (the
library's job time).  Prints both medians, their ratio and the ratio of
each pair (target: connector <= 1.15 x library).

  bench/connector_bench.py [--build build] [--records N] [--level L] [--reps R]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    bench = os.path.join(a.build, "bench", "bench")
    connector = os.path.join(a.build, "examples", "onhandpub")
    for exe in (bench, connector):
        if not os.access(exe, os.X_OK):
            sys.exit(f"connector_bench: {exe} not built (meson compile -C {a.build})")
    work = tempfile.mkdtemp(prefix="ohp-connector-bench-")
    try:
        data = os.path.join(work, "balances.psv")
        subprocess.run([bench, "--records", str(a.records), "--dump-input", data], check=True)
        out = os.path.join(work, "out")
        conn, lib = [], []
        for _ in range(a.reps):
            shutil.rmtree(out, ignore_errors=True)
            os.mkdir(out)
            t0 = time.perf_counter()
            subprocess.run([connector, "publish", "--input", data, "--org", "M1", "--no-auth",
                            "--full", "--level", str(a.level), "--threads", "1", "--outdir", out,
                            "--state", os.path.join(out, "state")],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            conn.append(time.perf_counter() - t0)
            r = subprocess.run([bench, "--records", str(a.records), "--level", str(a.level),
                                "--reps", "1", "--only", "publish"],
                               check=True, capture_output=True, text=True)
            lib.append(float(r.stdout.split(":")[1].split()[0]))
        pairs = sorted(c / b for c, b in zip(conn, lib))
        mc, ml = statistics.median(conn), statistics.median(lib)
        print(f"records {a.records}, level {a.level}, 1 thread, {a.reps} repetitions")
        print(f"connector (whole process)  {mc:.3f} s median")
        print(f"library (bench)            {ml:.3f} s median")
        print(f"connector / library        {mc / ml:.3f} (pairs: min {pairs[0]:.3f}, "
              f"median {statistics.median(pairs):.3f}, max {pairs[-1]:.3f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
