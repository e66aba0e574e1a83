#!/usr/bin/env bash
# Runs each fuzz target (built by fuzz/build.sh) for a bounded time, on its committed seed corpus, and prints one
# line per target: executions per second and libFuzzer's coverage counters (cov: edges, ft: features).
#
#   fuzz/run.sh              # every target, 20 s each
#   fuzz/run.sh 300          # 5 minutes each
#   fuzz/run.sh 60 checkpoint record_batch
#
# New inputs go to .build/fuzz/work/<target>/ (the committed corpus is only read; copy interesting finds into
# fuzz/corpus/<target>/ by hand, minimized with -merge=1). A crash, leak, timeout or allocation over the limits
# leaves its input in fuzz/artifacts/<target>/ and makes the script exit 1.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_PER_TARGET=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
BIN=fuzz/bin
WORK=.build/fuzz/work
LOGS=.build/fuzz/logs
mkdir -p "$WORK" "$LOGS"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for binary in "$BIN"/*; do [ -x "$binary" ] && targets+=("$(basename "$binary")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets in $BIN: run fuzz/build.sh first" >&2; exit 1; }

# LeakSanitizer comes with AddressSanitizer; the Swift runtime's own one-time allocations are not reported as leaks
# once the process ends normally, so leak checking runs on every input (-detect_leaks=1).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
# Swift's own crash backtracer would run inside the crashed process (and trip AddressSanitizer); libFuzzer reports.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

failed=0
printf "%-18s %8s %10s %7s %7s %6s  %s\n" target seconds execs execs/s cov ft result
for target in "${targets[@]}"; do
    [ -x "$BIN/$target" ] || { echo "$target: not built" >&2; failed=1; continue; }
    mkdir -p "$WORK/$target" "fuzz/artifacts/$target" "fuzz/corpus/$target"
    log="$LOGS/$target.log"
    "$BIN/$target" -max_total_time="$SECONDS_PER_TARGET" -detect_leaks=1 -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" \
        "$WORK/$target" "fuzz/corpus/$target" > "$log" 2>&1
    status=$?
    done_line=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1)
    last_line=$(grep -E "^#[0-9]+[[:space:]].* cov: " "$log" | tail -1)
    line=${done_line:-$last_line}
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$line")
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\)/\1/p' "$log")
    if [ $status -eq 0 ]; then
        result=ok
    else
        result="FAILED ($(grep -m1 -E "ERROR: |Fatal error|SUMMARY" "$log" | cut -c1-90)) see $log"
        failed=1
    fi
    printf "%-18s %8s %10s %7s %7s %6s  %s\n" "$target" "$SECONDS_PER_TARGET" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $failed
