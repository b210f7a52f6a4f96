#!/usr/bin/env bash
# usage: scripts/version.sh
# Prints the tools' version, read from its one source of truth,
# Sources/LoRDBA/Support/ToolVersion.swift (`static let current = "X.Y.Z"`), for the release
# archive's name and the GitHub Action's cache key; scripts/release.sh checks that the built
# binaries print the same.
set -euo pipefail
file="$(dirname "$0")/../Sources/LoRDBA/Support/ToolVersion.swift"
version=$(sed -n 's/^ *public static let current = "\([^"]*\)".*$/\1/p' "$file")
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
    echo "error: $file: no semantic version in 'public static let current = \"…\"'" >&2
    exit 1
fi
echo "$version"
