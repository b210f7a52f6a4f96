#!/usr/bin/env bash
# usage: scripts/check-linkage.sh BINARY...
# Checks with ldd that each binary links no Swift library (runtime, Foundation, Dispatch) and
# nothing beyond glibc, the C++/GCC runtimes and the four C libraries a Debian or Ubuntu machine
# gets from `apt-get install libzstd1 libjson-c5 libssl3 libpcre2-8-0`, all of them present here.
# What the release archive promises; scripts/release.sh and Tests/Release/check_archive.sh run it.
set -euo pipefail
allowed='^(linux-vdso|ld-linux[-a-z0-9_]*|libc|libm|libdl|libpthread|librt|libutil|libstdc\+\+|libgcc_s|libzstd|libjson-c|libcrypto|libpcre2-8)\.so'
status=0
for binary in "$@"; do
    libraries=$(ldd "$binary") || { echo "error: $binary: ldd cannot read it" >&2; status=1; continue; }
    # Library names, space-separated on one line.
    swift=$(grep -Ei 'swift|foundation|dispatch|blocksruntime|icu' <<< "$libraries" | awk '{printf "%s ", $1}' || true)
    missing=$(grep 'not found' <<< "$libraries" | awk '{printf "%s ", $1}' || true)
    unexpected=$(awk '{print $1}' <<< "$libraries" | sed 's|.*/||' | grep -Ev "$allowed" | tr '\n' ' ' || true)
    if [ -n "$swift" ]; then echo "error: $binary links Swift libraries dynamically: $swift" >&2; status=1; fi
    if [ -n "$missing" ]; then echo "error: $binary needs libraries this machine lacks: $missing" >&2; status=1; fi
    if [ -z "$swift" ] && [ -n "$unexpected" ]; then
        echo "error: $binary links more than glibc and the four C libraries: $unexpected" >&2; status=1
    fi
done
exit $status
