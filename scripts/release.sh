#!/usr/bin/env bash
# usage: scripts/release.sh [--scratch-path DIR] [--output DIR]
# Builds the release archive lordba-<version>-linux-<arch>.tar.gz and prints its absolute path:
#   bin/          lordba-convert, lordba-validate, lordba-bench (release, Swift runtime, Foundation
#                 and Dispatch linked statically: they need only glibc, libstdc++ and the four C
#                 libraries of `apt-get install libzstd1 libjson-c5 libssl3 libpcre2-8-0`)
#   completions/  bash, zsh and fish completion scripts for the three tools
#   samples/      the two sample adapters, to try a conversion
#   README.md, docs/, formats/ (the pages the README links to), LICENSES.md (docs/licenses.md)
# The version comes from scripts/version.sh (Sources/LoRDBA/Support/ToolVersion.swift) and must
# be what the built tools print. DIR defaults to .build-release (the build is reused); the archive
# goes to --output (default: the scratch path); relative paths are taken from the repository's
# root. The Dockerfile runs this script; so does .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-release
output=
while [ $# -gt 0 ]; do
    case $1 in
        --scratch-path) scratch=${2:?--scratch-path needs a folder}; shift 2 ;;
        --output) output=${2:?--output needs a folder}; shift 2 ;;
        *) echo "usage: scripts/release.sh [--scratch-path DIR] [--output DIR]" >&2; exit 64 ;;
    esac
done
output=${output:-$scratch}
version=$(scripts/version.sh)
arch=$(uname -m)
name=lordba-$version-linux-$arch
tools=(lordba-convert lordba-validate lordba-bench)

build=(swift build -c release --static-swift-stdlib --scratch-path "$scratch")
"${build[@]}" >&2
bin=$("${build[@]}" --show-bin-path)

# Each tool must print the version the archive is named after and link only what
# scripts/check-linkage.sh allows (no Swift library; glibc and the four C libraries).
for tool in "${tools[@]}"; do
    printed=$("$bin/$tool" --version)
    if [ "$printed" != "$version" ]; then
        echo "error: $bin/$tool --version prints $printed, scripts/version.sh says $version" >&2
        exit 1
    fi
done
scripts/check-linkage.sh "${tools[@]/#/$bin/}"

mkdir -p "$output"
archive=$output/$name.tar.gz
staging=$(mktemp -d)
trap 'rm -rf "$staging" "$archive.tmp"' EXIT
root=$staging/$name
mkdir -p "$root/bin" "$root/completions/bash" "$root/completions/zsh" "$root/completions/fish"
for tool in "${tools[@]}"; do
    # Debug info off (a quarter of the size); the symbol table stays for crash backtraces.
    strip --strip-debug -o "$root/bin/$tool" "$bin/$tool"
    "$bin/$tool" --generate-completion-script bash > "$root/completions/bash/$tool"
    "$bin/$tool" --generate-completion-script zsh > "$root/completions/zsh/_$tool"
    "$bin/$tool" --generate-completion-script fish > "$root/completions/fish/$tool.fish"
done
cp -R samples docs formats README.md "$root/"
cp docs/licenses.md "$root/LICENSES.md"

# Reproducible bytes: sorted names, no owners, one timestamp (SOURCE_DATE_EPOCH, else the last
# commit's, else 0), gzip without a name or time; written beside the target, then renamed.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --mode=go-w \
    -C "$staging" -cf - "$name" | gzip -n > "$archive.tmp"
mv -f "$archive.tmp" "$archive"
echo "$(cd "$output" && pwd)/$name.tar.gz"
