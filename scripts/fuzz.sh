#!/usr/bin/env bash
# Fuzzes the scenario/drill loader, the threshold grammar and the differential targets (http1, json, regex,
# prometheus: our parsers against NIOHTTP1, Foundation and Swift's Regex) with libFuzzer (the Swift toolchain's
# libclang_rt.fuzzer), each for SECONDS (default 300). Usage: scripts/fuzz.sh [seconds] [target]...
#
# Builds Fuzz/ (a package of its own, every module instrumented) in release. lld links it: gold stops with an
# internal error on these objects. SwiftPM renames an executable's entry point, so libFuzzer's own main can not be
# used; its main calls LLVMFuzzerRunDriver instead. One binary, the target chosen by PREFLIGHT_FUZZ_TARGET.
# New inputs go to a scratch corpus (.build-fuzz/corpus-<target>); crashes to .build-fuzz/artifacts/. An input that
# found a bug belongs in Fuzz/corpus/<target>/ once fixed: `swift test` replays that folder (FuzzCorpusTests).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ $# -eq 0 ] && targets=(scenario threshold http1 json regex prometheus)
# Swift's own crash handler would take the signal before libFuzzer could save the input.
export SWIFT_BACKTRACE=enable=no
mkdir -p .build-fuzz/artifacts
swift build --package-path Fuzz -c release --product PreflightFuzz -Xswiftc -sanitize=fuzzer -Xswiftc -use-ld=lld
# A crash in one target does not stop the others; the script exits 1 at the end when any target crashed.
failed=0
for target in "${targets[@]}"; do
    mkdir -p ".build-fuzz/corpus-$target"
    echo "== $target for ${seconds}s"
    PREFLIGHT_FUZZ_TARGET=$target Fuzz/.build/release/PreflightFuzz ".build-fuzz/corpus-$target" "Fuzz/corpus/$target" \
        $( [ -f "Fuzz/$target.dict" ] && echo "-dict=Fuzz/$target.dict" ) -max_total_time="$seconds" -max_len=16384 -timeout=10 -artifact_prefix=.build-fuzz/artifacts/ -print_final_stats=1 || failed=1
done
exit "$failed"
