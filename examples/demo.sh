#!/bin/sh
# Publish the sample balances of examples/data: a full run, then an incremental
# run of the next day's extract, into a fresh folder.
#
#   examples/demo.sh [FOLDER]        (default ./demo-out)
#
# The default folder is the demo's own and is emptied first, so the demo can
# be run again; a folder given as argument must be new or empty.
# The program is $ONHANDPUB, or build/examples/onhandpub relative to the
# current directory.  Nothing is built here.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
data=$here/data
prog=${ONHANDPUB:-build/examples/onhandpub}
out=${1:-./demo-out}
if [ $# -eq 0 ] && [ -d "$out" ]; then
    # Only what an earlier demo wrote is there: its ZIPs and state files.
    rm -f "$out"/ONHAND_*.zip "$out"/state.psv "$out"/state.psv.lock
fi

if [ ! -x "$prog" ]; then
    echo "demo.sh: $prog is not an executable; build first or set ONHANDPUB" >&2
    exit 2
fi
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "demo.sh: $out is not empty; give a fresh folder" >&2
    exit 2
fi
mkdir -p "$out"

run() {
    status=0
    "$prog" "$@" || status=$?
    if [ "$status" -gt 1 ]; then
        echo "demo.sh: onhandpub exited with status $status" >&2
        exit "$status"
    fi
}

publish() {
    run publish --org M1 --lookups "$data/lookups.psv" --user alice \
        --grants "$data/grants.psv" --state "$out/state.psv" --outdir "$out" "$@"
}

echo "== External systems usable on 2026/01/15"
run systems --lookups "$data/lookups.psv" --date 2026/01/15
echo
echo "== Full publish of organization M1 (no previous success: FULL)"
publish --input "$data/balances.psv" --now "2026/01/15 18:00:00"
echo
echo "== Incremental publish of the next day's extract (changes since the last success)"
publish --input "$data/balances-update.psv" --now "2026/01/16 18:00:00"
echo
echo "== State file $out/state.psv"
cat "$out/state.psv"
