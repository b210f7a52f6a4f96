#!/usr/bin/env bash
# usage: scripts/action.sh prepare|install|run
# The logic of the GitHub Action (action.yml), one subcommand per step, so that it runs (and is
# tested by .ci/run) without GitHub. Inputs come as INPUT_* variables (action.yml maps its inputs
# onto them); results go to the files GitHub names in GITHUB_OUTPUT, GITHUB_PATH and
# GITHUB_STEP_SUMMARY.
#   prepare  the version (INPUT_VERSION, default this checkout's scripts/version.sh), the install
#            folder and the cache key (outputs: version, dir, cache-key)
#   install  the release archive into that folder: downloaded (INPUT_INSTALL auto or download;
#            INPUT_RELEASE_URL, a URL with {repo}, {version} and {arch}, or file://PATH), else
#            built from this checkout by scripts/release.sh (auto or build; needs Swift 6; the
#            build goes to LORDBA_SCRATCH_PATH, default under RUNNER_TEMP)
#   run      lordba-convert over the INPUT_ADAPTERS globs (or merge-reports over the
#            INPUT_MERGE_REPORTS globs) with the summary and annotations on; outputs the report
#            paths and exit-code, and exits with lordba-convert's status (3: gate tripped)
set -euo pipefail
export LC_ALL=C   # one glob order on every runner, so every shard sees the same input list
here=$(cd "$(dirname "$0")/.." && pwd)
runtime_packages=(libzstd1 libjson-c5 libssl3 libpcre2-8-0)
build_packages=(libzstd-dev libjson-c-dev libssl-dev libpcre2-dev pkg-config)

fail() { echo "error: $*" >&2; exit 1; }
output() {   # output NAME VALUE: one step output (GITHUB_OUTPUT), also echoed for the log
    [[ $2 != *$'\n'* ]] || fail "$1: a path with a line break cannot be a step output"
    echo "$1=$2" >> "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
    echo "$1=$2"
}
apt_install() {   # apt_install PACKAGE...: as root, or through sudo on GitHub's runners
    command -v apt-get >/dev/null || fail "needs the Debian/Ubuntu packages $*; install them and run again"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
# The install folder: the unpacked archive (bin/, completions/, …), one per version and machine.
version=${INPUT_VERSION:-$("$here/scripts/version.sh")}
arch=$(uname -m)
dir=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:?RUNNER_TEMP is not set}}/lordba/$version/$arch
archive_name=lordba-$version-linux-$arch.tar.gz

# Expands newline-separated glob patterns (globstar on) into the array `matches`; a pattern that
# matches nothing is an error naming the input and the pattern.
expand() {   # expand INPUT_NAME TEXT
    local pattern found IFS=$'\n'   # paths split at line breaks only, so spaces in them survive
    matches=()
    shopt -s nullglob globstar
    while read -r pattern; do
        pattern=${pattern#"${pattern%%[![:space:]]*}"}
        pattern=${pattern%"${pattern##*[![:space:]]}"}
        [ -n "$pattern" ] || continue
        # shellcheck disable=SC2206
        found=($pattern)
        [ ${#found[@]} -gt 0 ] || fail "$1: nothing matches '$pattern' (in $PWD)"
        matches+=("${found[@]}")
    done <<< "$2"
    shopt -u nullglob globstar
}

install_archive() {   # install_archive FILE: unpacks into $dir, then checks the tools run
    local unpack
    unpack=$(mktemp -d "${RUNNER_TEMP}/lordba-unpack.XXXXXX")
    tar -xzf "$1" -C "$unpack"
    [ -x "$unpack/${archive_name%.tar.gz}/bin/lordba-convert" ] || fail "$1: no ${archive_name%.tar.gz}/bin/lordba-convert in the archive"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    mv "$unpack/${archive_name%.tar.gz}" "$dir"
    rm -rf "$unpack"
    if ldd "$dir/bin/lordba-convert" | grep 'not found' >/dev/null; then apt_install "${runtime_packages[@]}"; fi
    local printed
    printed=$("$dir/bin/lordba-convert" --version) || fail "$dir/bin/lordba-convert does not run"
    [ "$printed" = "$version" ] || fail "$dir/bin/lordba-convert is version $printed, not $version"
}

download() {   # download: the release archive from INPUT_RELEASE_URL; status 1 when unavailable
    local url='https://github.com/{repo}/releases/download/v{version}/lordba-{version}-linux-{arch}.tar.gz'
    url=${INPUT_RELEASE_URL:-$url}
    if [[ $url == *'{repo}'* ]]; then
        [ -n "${LORDBA_ACTION_REPOSITORY:-}" ] || return 1
        url=${url//\{repo\}/$LORDBA_ACTION_REPOSITORY}
    fi
    url=${url//\{version\}/$version}
    url=${url//\{arch\}/$arch}
    local file="$RUNNER_TEMP/$archive_name"
    echo "downloading $url" >&2
    case $url in
        file://*) cp "${url#file://}" "$file" || return 1 ;;   # an archive already on this machine
        *) curl -fsSL --retry 3 -o "$file" "$url" || return 1 ;;
    esac
    install_archive "$file"
}

build() {   # build: scripts/release.sh in this checkout, then the archive it made
    command -v swift >/dev/null || fail "building lordba needs a Swift 6 toolchain on PATH (or a release archive to download)"
    pkg-config --exists libzstd json-c libcrypto libpcre2-8 2>/dev/null || apt_install "${build_packages[@]}"
    local made
    made=$("$here/scripts/release.sh" --scratch-path "${LORDBA_SCRATCH_PATH:-$RUNNER_TEMP/lordba-build}")
    install_archive "$made"
}

case ${1:-} in
prepare)
    output version "$version"
    output dir "$dir"
    output cache-key "lordba-$version-linux-$arch"
    ;;
install)
    case ${INPUT_INSTALL:-auto} in
        auto) download || { echo "no lordba $version archive for $arch to download: building it" >&2; build; } ;;
        download) download || fail "could not download the lordba $version archive for $arch" ;;
        build) build ;;
        *) fail "install: '${INPUT_INSTALL}' is not auto, download or build" ;;
    esac
    ;;
run)
    bin=$dir/bin
    [ -x "$bin/lordba-convert" ] || fail "no $bin/lordba-convert: run the install step first"
    echo "$bin" >> "${GITHUB_PATH:?GITHUB_PATH is not set}"
    export GITHUB_ACTIONS=true   # annotations on: one workflow command per failed input and gated input
    # The CLI appends its Markdown summary to GITHUB_STEP_SUMMARY itself; --summary-md keeps a copy.
    if [ -n "${INPUT_MERGE_REPORTS:-}" ]; then
        expand merge-reports "$INPUT_MERGE_REPORTS"
        command=(merge-reports "${matches[@]}")
        suffix=
    else
        [ -n "${INPUT_ADAPTERS:-}" ] || fail "adapters: give glob patterns of the adapters to convert (or merge-reports)"
        expand adapters "$INPUT_ADAPTERS"
        out_dir=${INPUT_OUT_DIR:-lba}
        command=(convert "${matches[@]}" --out-dir "$out_dir" --progress never)
        output out-dir "$out_dir"
        suffix=
        if [ -n "${INPUT_SHARD:-}" ]; then
            command+=(--shard "$INPUT_SHARD")
            suffix=-shard-${INPUT_SHARD%%/*}
        fi
        if [ -n "${INPUT_ROOT:-}" ]; then command+=(--root "$INPUT_ROOT"); fi
    fi
    options=()
    read -rd '' -a options <<< "${INPUT_OPTIONS:-}" || true
    command+=("${options[@]}")
    report_json=${INPUT_REPORT_JSON:-lordba-report$suffix.json}
    summary_md=${INPUT_SUMMARY_MD:-lordba-summary$suffix.md}
    command+=(--report-json "$report_json" --summary-md "$summary_md")
    output report-json "$report_json"
    output summary-md "$summary_md"
    if [ -n "${INPUT_REPORT_HTML:-}" ]; then
        command+=(--report-html "$INPUT_REPORT_HTML")
        output report-html "$INPUT_REPORT_HTML"
    fi
    if [ -n "${INPUT_MAX_ERROR:-}" ]; then command+=(--max-error "$INPUT_MAX_ERROR"); fi
    echo "lordba-convert ${command[*]}" >&2
    status=0
    "$bin/lordba-convert" "${command[@]}" || status=$?
    output exit-code "$status"
    exit "$status"
    ;;
*)
    echo "usage: scripts/action.sh prepare|install|run" >&2
    exit 64
    ;;
esac
