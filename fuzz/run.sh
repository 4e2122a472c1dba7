#!/usr/bin/env bash
# Fuzzes every target for N minutes (default 10), JOBS at a time (default 2, one per core), and prints
# each target's executions and findings, then the totals. Not part of CI: CI replays the
# committed corpus (host/tests/fuzz_corpus.rs).
#
#   bash fuzz/run.sh [MINUTES] [--merge]
#
# JOBS=1 runs one target at a time (leaving a core free); the default is 2.
# --merge: afterwards, merge what raised coverage into fuzz/corpus/<target> (libFuzzer -merge=1
# keeps only inputs that add coverage), to commit. A finding is fixed, and the input kept in
# fuzz/regressions/<target>/ so that cargo test replays it.
#
# cargo fuzz needs a nightly compiler for -Zsanitizer; with only stable Rust installed,
# RUSTC_BOOTSTRAP=1 lets stable accept the nightly flags (what this machine does).
set -euo pipefail
cd "$(dirname "$0")"
MINUTES=${1:-10}
MERGE=${2:-}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/gracewire-fuzz-target}
WORK=${FUZZ_WORK:-/var/tmp/gracewire-fuzz}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -O
mkdir -p "$WORK/logs"
targets=$(cargo fuzz list)

run() {
    local t=$1
    mkdir -p "$WORK/corpus/$t" "artifacts/$t"
    # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: one over 2 GiB a leak.
    # Findings go to fuzz/artifacts/<target>/ (cargo fuzz's place; not committed).
    cargo fuzz run -O "$t" "$WORK/corpus/$t" "corpus/$t" -- \
        -max_total_time=$((MINUTES * 60)) -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 > "$WORK/logs/$t.log" 2>&1 || true
}

JOBS=${JOBS:-2}
set -- $targets
while [ $# -gt 0 ]; do
    for _ in $(seq "$JOBS"); do
        [ $# -gt 0 ] || break
        run "$1" &
        shift
    done
    wait
done

total=0; findings=0
printf '%-14s %14s %10s %8s %s\n' target executions exec/s corpus findings
for t in $targets; do
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$WORK/logs/$t.log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$WORK/logs/$t.log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    corpus=$(ls "$WORK/corpus/$t" | wc -l)
    found=$(find "artifacts/$t" -type f | wc -l)
    printf '%-14s %14s %10s %8s %s\n' "$t" "$execs" "$rate" "$corpus" "$found"
    total=$((total + execs)); findings=$((findings + found))
done
echo "total: $total executions in ${MINUTES} min per target, $findings findings (crashes, hangs, leaks: fuzz/artifacts)"

if [ "$MERGE" = --merge ]; then
    for t in $targets; do
        cargo fuzz run -O "$t" "corpus/$t" "$WORK/corpus/$t" -- -merge=1 > "$WORK/logs/$t.merge.log" 2>&1
    done
    echo "merged into fuzz/corpus; commit what it added"
fi
[ "$findings" -eq 0 ]
