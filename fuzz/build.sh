#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/Targets/*.swift) into fuzz/bin/.
#
# SamsaLog and SamsaProtocol (and what they depend on) are built by SwiftPM in release mode with coverage
# instrumentation and AddressSanitizer (which brings LeakSanitizer) in a scratch directory of their own
# (.build/fuzz, so the normal build is untouched), with -enable-testing so targets can reach internal parsers
# through @testable import. Each target is then compiled by swiftc -sanitize=fuzzer,address and linked with those
# objects and the system codec libraries.
#
#   fuzz/build.sh              # every target
#   fuzz/build.sh checkpoint   # the named targets only
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SWIFT=${SWIFT:-swift}
SWIFTC=${SWIFTC:-$(dirname "$(command -v "$SWIFT")")/swiftc}
SCRATCH=.build/fuzz
BUILD=$SCRATCH/release/
BIN=fuzz/bin
SANITIZE=fuzzer,address

# name : sources (relative to fuzz/Targets) : extra swiftc flags
TARGETS=(
    "record_batch:RecordBatch.swift:"
    "decompress_gzip:Decompress.swift:-DFUZZ_GZIP"
    "decompress_snappy:Decompress.swift:-DFUZZ_SNAPPY"
    "decompress_lz4:Decompress.swift:-DFUZZ_LZ4"
    "decompress_zstd:Decompress.swift:-DFUZZ_ZSTD"
    "kafka_request:KafkaRequest.swift Support/RoundTrip.swift:"
    "request_body:RequestBody.swift Support/RoundTrip.swift:"
    "checkpoint:Checkpoint.swift:"
    "producer_snapshot:ProducerSnapshot.swift:"
    "log_recovery:LogRecovery.swift:"
    # The broker's server.properties parser, compiled from its sources (it needs nothing else from SamsaBroker).
    "server_properties:ServerProperties.swift ../../Sources/SamsaBroker/Config/JavaProperties.swift ../../Sources/SamsaBroker/Config/ConfigError.swift:"
)

wanted=("$@")
selected() {
    [ ${#wanted[@]} -eq 0 ] && return 0
    local w
    for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

for module in SamsaLog SamsaProtocol; do
    echo "== swift build $module (release, -sanitize=$SANITIZE, -enable-testing)"
    "$SWIFT" build -c release --scratch-path "$SCRATCH" --target "$module" \
        -Xswiftc -sanitize=$SANITIZE -Xswiftc -enable-testing -Xcc -fsanitize=fuzzer-no-link,address \
        2>&1 | grep -v -e "Cannot export local symbol" -e "^\[" || true
    [ -f "$BUILD/Modules/$module.swiftmodule" ] || { echo "building $module failed" >&2; exit 1; }
done

# Every module that was built: its objects, and the module maps of the C ones.
objects=()
flags=(-I "${BUILD}Modules" -Xcc -ISources/CSamsaCRC/include)
for dir in "$BUILD"*.build; do
    found=()
    while IFS= read -r object; do found+=("$object"); done < <(find "$dir" -name '*.o')
    [ ${#found[@]} -eq 0 ] && continue
    objects+=("${found[@]}")
    # C targets: the module map SwiftPM generated, or the package's own (include/module.modulemap).
    module=$(basename "$dir" .build)
    for map in "$dir/module.modulemap" "$dir/include/module.modulemap" "$SCRATCH"/checkouts/*/Sources/"$module"/include/module.modulemap; do
        [ -f "$map" ] && flags+=(-Xcc "-fmodule-map-file=$map")
    done
done
for map in Sources/C*/module.modulemap; do flags+=(-Xcc "-fmodule-map-file=$map"); done

mkdir -p "$BIN"
for entry in "${TARGETS[@]}"; do
    IFS=: read -r name sources extra <<< "$entry"
    selected "$name" || continue
    paths=()
    for source in $sources; do paths+=("fuzz/Targets/$source"); done
    echo "== $name"
    # shellcheck disable=SC2086
    "$SWIFTC" -O -parse-as-library -sanitize=$SANITIZE -module-name "Fuzz_$name" $extra "${flags[@]}" \
        "${paths[@]}" "${objects[@]}" -llz4 -lz -lzstd -lsnappy -lstdc++ -o "$BIN/$name" \
        2>&1 | grep -v "Cannot export local symbol" || true
    [ -x "$BIN/$name" ] || { echo "linking $name failed" >&2; exit 1; }
done
echo "built: $(ls "$BIN" | tr '\n' ' ')"
