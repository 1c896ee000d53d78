#!/usr/bin/env bash
# Run one fuzz target for a while: fuzz/run.sh TARGET [SECONDS] (default 300).
# Its corpus grows in fuzz/corpus/TARGET (kept out of git), starting from the
# checked-in seeds in fuzz/seeds/TARGET; a crash is saved in
# fuzz/artifacts/TARGET/. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Without a sanitizer: the code is safe Rust,
# and what is looked for is a panic, an overflow (debug assertions are on)
# or a property that does not hold.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: fuzz/run.sh TARGET [SECONDS]}"
seconds="${2:-300}"
mkdir -p "corpus/$target" "seeds/$target"
unset CARGO_TARGET_DIR
exec cargo +nightly fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -print_final_stats=1
