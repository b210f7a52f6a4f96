#!/usr/bin/env bash
# usage: Tests/Release/check_action.sh ARCHIVE
# Runs the GitHub Action's steps (scripts/action.sh prepare, install, run) as the runner would,
# with the GitHub variables pointing into a temporary folder: installs the tools by building them
# (the repository's .build-release is reused), then ARCHIVE as a download from a file:// URL;
# converts the samples as two shards of one batch, then merges the shards' reports under a
# --max-error gate that trips. Checks the exit statuses, the step outputs, PATH, the job summary
# (once per run), the annotations and the .lba files.
set -euo pipefail
archive=$(readlink -f "${1:?usage: check_action.sh ARCHIVE}")
action=$(cd "$(dirname "$0")/../.." && pwd)/scripts/action.sh
samples=$(cd "$(dirname "$0")/../.." && pwd)/samples
fail() { echo "check_action: $*" >&2; exit 1; }
output_of() { sed -n "s/^$1=//p" "$GITHUB_OUTPUT" | tail -n 1; }

runner=$(mktemp -d)
trap 'rm -rf "$runner"' EXIT
mkdir -p "$runner/temp" "$runner/tool-cache" "$runner/workspace/adapters"
touch "$runner/output" "$runner/path" "$runner/summary.md"
export RUNNER_TEMP=$runner/temp RUNNER_TOOL_CACHE=$runner/tool-cache GITHUB_WORKSPACE=$runner/workspace
export GITHUB_OUTPUT=$runner/output GITHUB_PATH=$runner/path GITHUB_STEP_SUMMARY=$runner/summary.md
export GITHUB_ACTIONS=true
cp -R "$samples/tiny-llama-lora-f16" "$samples/minilm-cls-r8" "$runner/workspace/adapters/"
cd "$runner/workspace"

"$action" prepare >/dev/null
version=$(output_of version)
[ "$version" = "$("$(dirname "$action")/version.sh")" ] || fail "prepare: version $version"
dir=$(output_of dir)
[ "$(output_of cache-key)" = "lordba-$version-linux-$(uname -m)" ] || fail "prepare: cache key $(output_of cache-key)"

# install: auto with no archive at the URL builds it (reusing this checkout's release build),
# then download installs ARCHIVE over it; the steps below run the downloaded tools.
INPUT_INSTALL=auto INPUT_RELEASE_URL="file://$runner/none/{version}-{arch}.tar.gz" \
    LORDBA_SCRATCH_PATH="$(dirname "$action")/../.build-release" "$action" install 2>"$runner/err" \
    || fail "install: auto did not build: $(cat "$runner/err")"
grep -q "no lordba $version archive for $(uname -m) to download: building it" "$runner/err" || fail "install: auto did not fall back to a build"
[ -x "$dir/bin/lordba-convert" ] || fail "install: no $dir/bin/lordba-convert after the build"
if INPUT_INSTALL=download INPUT_RELEASE_URL="file://$runner/none.tar.gz" "$action" install 2>/dev/null; then
    fail "install: download passed without an archive"
fi
rm -rf "$dir"
INPUT_INSTALL=download INPUT_RELEASE_URL="file://$(dirname "$archive")/lordba-{version}-linux-{arch}.tar.gz" \
    "$action" install
[ -x "$dir/bin/lordba-convert" ] || fail "install: no $dir/bin/lordba-convert"

# A pattern that matches nothing is an error, before anything runs.
if INPUT_ADAPTERS='missing/*' "$action" run 2>"$runner/err"; then fail "run: a pattern matching nothing passed"; fi
grep -q "adapters: nothing matches 'missing/\*'" "$runner/err" || fail "run: $(cat "$runner/err")"

# Two shards of one batch: each converts one sample; together, both exactly once.
for shard in 1 2; do
    INPUT_ADAPTERS=$'adapters/*\n' INPUT_ROOT=adapters INPUT_SHARD=$shard/2 INPUT_OPTIONS='--scale-dtype f16' \
        "$action" run > "$runner/stdout-$shard" || fail "run: shard $shard/2 exited with $?"
    [ "$(output_of exit-code)" = 0 ] || fail "run: shard $shard/2 exit-code output $(output_of exit-code)"
    [ "$(output_of report-json)" = "lordba-report-shard-$shard.json" ] || fail "run: report-json output $(output_of report-json)"
    [ -s "lordba-report-shard-$shard.json" ] && [ -s "lordba-summary-shard-$shard.md" ] || fail "run: shard $shard/2 reports missing"
    [ "$(grep -c '"status": "ok"' "lordba-report-shard-$shard.json")" = 1 ] || fail "run: shard $shard/2 did not convert one input"
done
[ "$(find lba -name '*.lba' | wc -l)" = 2 ] || fail "run: the shards did not write both .lba files"
listing=$("$dir/bin/lordba-convert" inspect lba/minilm-cls-r8.lba --json) || fail "run: inspect failed on lba/minilm-cls-r8.lba"
grep -q '"lordba.scale_dtype": *"f16"' <<<"$listing" || fail "run: options were not passed on: $listing"
grep -qx "$dir/bin" "$GITHUB_PATH" || fail "run: the tools' folder is not on GITHUB_PATH"

# The merge with a gate the samples cannot pass: exit 3, a warning annotation, summary and outputs.
status=0
INPUT_MERGE_REPORTS='lordba-report-shard-*.json' INPUT_MAX_ERROR=0.1 INPUT_REPORT_HTML=report.html \
    "$action" run > "$runner/stdout-merge" 2>"$runner/stderr-merge" || status=$?
[ "$status" = 3 ] || fail "run: the tripped gate exited with $status, not 3: $(cat "$runner/stderr-merge")"
[ "$(output_of exit-code)" = 3 ] || fail "run: exit-code output $(output_of exit-code)"
grep -q '^::warning file=adapters/.*product error above --max-error 0.1' "$runner/stdout-merge" \
    || fail "run: no warning annotation for the gate"
[ -s report.html ] && [ "$(output_of report-html)" = report.html ] || fail "run: no HTML report"
[ -s lordba-report.json ] && [ "$(output_of report-json)" = lordba-report.json ] || fail "run: no merged JSON report"
[ "$(grep -c '^## lordba-convert' "$GITHUB_STEP_SUMMARY")" = 3 ] || fail "run: the job summary does not hold the three runs once each"
grep -q 'above it' "$GITHUB_STEP_SUMMARY" || fail "run: the job summary does not show the gate"
echo "check_action: ok (install by a build and from the archive, 2 shards, merge with a tripped gate: exit 3)"
