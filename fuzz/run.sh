#!/usr/bin/env bash
# Runs one cargo-fuzz target: fuzz/run.sh TARGET [RUNS] [more libFuzzer flags...]
#
# Copies fuzz/seeds/TARGET into the (gitignored) corpus fuzz/corpus/TARGET, then runs
# libFuzzer with AddressSanitizer for RUNS executions (default 1,000,000). A crash leaves its
# input in fuzz/artifacts/TARGET/ and makes this script exit non-zero. Reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly-only flags.
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 TARGET [RUNS] [libFuzzer flags...]" >&2
    exit 2
fi
target=$1
runs=${2:-1000000}
shift $(( $# >= 2 ? 2 : 1 ))

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

mkdir -p "corpus/$target"
if [ -d "seeds/$target" ]; then
    cp -n "seeds/$target"/* "corpus/$target"/ 2>/dev/null || true
fi
exec cargo fuzz run "$target" "corpus/$target" -- -runs="$runs" "$@"
