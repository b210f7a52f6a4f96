#!/usr/bin/env bash
# usage: Tests/Fuzz/run.sh TARGET SECONDS   (TARGET: adapter, lba or lba-structured)
# Builds the fuzzing binary once (library sources + FuzzTargets.swift in one swiftc invocation
# with -sanitize=fuzzer,address; rebuilt when a source is newer), seeds the target's corpus
# from samples/ and generated .lba files, and runs libFuzzer for SECONDS. Exits non-zero on any
# crash, leak, timeout (10 s per input) or out-of-memory (2 GB). Findings go to
# .build/fuzz/findings-TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: run.sh TARGET SECONDS}
seconds=${2:?usage: run.sh TARGET SECONDS}
case $target in adapter|lba|lba-structured) ;; *) echo "unknown target $target" >&2; exit 64;; esac
out=.build/fuzz
binary=$out/lordba-fuzz
mkdir -p "$out"
sources=$(find Sources/LoRDBA -name '*.swift' | sort)
if [ ! -x "$binary" ] || [ -n "$(find Sources/LoRDBA Sources/CLoRDBAKernels Tests/Fuzz -newer "$binary" \( -name '*.swift' -o -name '*.c' -o -name '*.h' \) | head -1)" ]; then
    echo "building $binary" >&2
    # The C kernels: compiled by the Swift toolchain's own clang (instrumented too; its libFuzzer
    # and sanitizer runtimes match swiftc's, and it knows _Float16 and the f16c feature, which
    # an older system clang earlier on PATH, such as Debian 12's clang 14, does not), with a
    # module map so the library's `import CLoRDBAKernels` finds them. The toolchain's clang sits
    # in the bin folder above the runtime resource path swiftc reports.
    resources=$(swiftc -print-target-info | sed -n 's/^ *"runtimeResourcePath": "\(.*\)",\{0,1\}$/\1/p')
    clang=$(readlink -f "$resources/../../bin")/clang
    if [ ! -x "$clang" ]; then
        echo "error: no clang in the Swift toolchain beside swiftc ($clang): the fuzz build needs the toolchain's clang" >&2
        exit 1
    fi
    kernels=$out/CLoRDBAKernels
    mkdir -p "$kernels"
    printf 'module CLoRDBAKernels {\n    header "%s"\n    export *\n}\n' \
        "$PWD/Sources/CLoRDBAKernels/include/lordba_kernels.h" > "$kernels/module.modulemap"
    objects=()
    for c in Sources/CLoRDBAKernels/*.c; do
        o=$kernels/$(basename "$c" .c).o
        "$clang" -O2 -fsanitize=fuzzer-no-link,address -I Sources/CLoRDBAKernels/include -c "$c" -o "$o"
        objects+=("$o")
    done
    # shellcheck disable=SC2086
    swiftc -sanitize=fuzzer,address -parse-as-library -module-name LoRDBA -O \
        -I Sources/CZstd -I Sources/CJSONC -I Sources/CPCRE2 -I Sources/CCrypto -I "$kernels" \
        $(pkg-config --cflags libzstd json-c libpcre2-8 libcrypto | sed 's/-I/-Xcc -I/g') \
        $sources Tests/Fuzz/FuzzTargets.swift "${objects[@]}" \
        $(pkg-config --libs libzstd json-c libpcre2-8 libcrypto) -o "$binary"
fi
corpus=$out/corpus-$target
findings=$out/findings-$target
mkdir -p "$corpus" "$findings"
export LORDBA_FUZZ_TARGET=$target
if [ -z "$(ls -A "$corpus")" ]; then export LORDBA_FUZZ_SEEDS=$corpus LORDBA_FUZZ_SAMPLES=$PWD/samples; fi
exec "$binary" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 \
    -artifact_prefix="$findings/" -print_final_stats=1
