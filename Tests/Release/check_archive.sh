#!/usr/bin/env bash
# usage: Tests/Release/check_archive.sh ARCHIVE [REFERENCE_CONVERT]
# Checks a release archive made by scripts/release.sh as a user gets it: unpacked in a temporary
# folder, its three tools link no Swift library (only glibc, the C++/GCC runtimes and the four C
# libraries), print the version the archive is named after, and, run from an unrelated working
# directory with no Swift toolchain on PATH, convert each bundled sample and validate the result
# against it. With REFERENCE_CONVERT (another build of lordba-convert), the archive's .lba must
# be byte-identical to the one that build writes.
set -euo pipefail
archive=$(readlink -f "${1:?usage: check_archive.sh ARCHIVE [REFERENCE_CONVERT]}")
reference=${2:+$(readlink -f "$2")}
name=$(basename "$archive" .tar.gz)
version=${name#lordba-}
version=${version%-linux-*}
fail() { echo "check_archive: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work"
root=$work/$name
[ -d "$root" ] || fail "$archive does not unpack to $name/"
for file in README.md LICENSES.md docs/install.md formats/lba.md \
        samples/tiny-llama-lora-f16/adapter_model.safetensors samples/minilm-cls-r8/adapter_model.safetensors; do
    [ -s "$root/$file" ] || fail "$archive has no $name/$file"
done

for tool in lordba-convert lordba-validate lordba-bench; do
    binary=$root/bin/$tool
    [ -x "$binary" ] || fail "$archive has no bin/$tool"
    "$(dirname "$0")/../../scripts/check-linkage.sh" "$binary" || fail "$tool links what the archive does not promise"
    printed=$("$binary" --version)
    [ "$printed" = "$version" ] || fail "$tool --version prints $printed, the archive is $version"
    for shell in bash zsh fish; do
        [ -n "$(find "$root/completions/$shell" -name "*$tool*" -size +0)" ] || fail "no $shell completion for $tool"
    done
done
grep -q -- '--out-dir' "$root/completions/bash/lordba-convert" || fail "the bash completion does not offer --out-dir"

# From a folder unrelated to the checkout and to the archive, with only the system on PATH.
elsewhere=$work/elsewhere
mkdir "$elsewhere"
for sample in tiny-llama-lora-f16 minilm-cls-r8; do
    (cd "$elsewhere" && env -i PATH=/usr/bin:/bin HOME="$work" \
        "$root/bin/lordba-convert" "$root/samples/$sample" "$sample.lba" -q \
        && env -i PATH=/usr/bin:/bin HOME="$work" \
        "$root/bin/lordba-validate" "$sample.lba" --reference "$root/samples/$sample" --no-timing --tokens 64 >/dev/null) \
        || fail "the archive's tools did not convert and validate samples/$sample"
    [ -s "$elsewhere/$sample.lba" ] || fail "no $sample.lba written"
    if [ -n "$reference" ]; then
        "$reference" "$root/samples/$sample" "$work/$sample.reference.lba" -q
        cmp "$elsewhere/$sample.lba" "$work/$sample.reference.lba" \
            || fail "$sample.lba differs from the one $reference writes"
    fi
done
echo "check_archive: $name ok (3 tools, no Swift library linked, both samples converted and validated)"
