#!/usr/bin/env bash
# CI smoke run of every cargo-fuzz target: builds them once, then runs each for a short,
# bounded time (SMOKE_RUNS executions or SMOKE_SECONDS seconds, whichever comes first),
# starting from its seeds. Exits non-zero if a target fails to build or finds a crash (the
# input is left in fuzz/artifacts/TARGET/). Long runs: fuzz/run.sh, figures in RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

runs=${SMOKE_RUNS:-20000}
seconds=${SMOKE_SECONDS:-30}
targets=$(cargo fuzz list)

start=$(date +%s)
cargo fuzz build
failed=()
for t in $targets; do
    echo "=== fuzz smoke: $t (-runs=$runs, -max_total_time=$seconds)"
    if ! ./run.sh "$t" "$runs" -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$t")
    fi
done
echo "=== fuzz smoke: $(( $(date +%s) - start )) s in all"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz smoke FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz smoke: every target ran without a crash"
