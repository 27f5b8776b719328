#!/usr/bin/env bash
# Runs each fuzz target for SECONDS, one after the other (2 cores: one fuzzer at a time keeps
# the figures comparable), starting from its seeds in fuzz/corpus/<target>/. What a run adds to
# the corpus stays in BUILD/corpus/<target>/, never in the repository. A crash, a leak, a
# timeout or a sanitizer report fails the target; the reproducer is left in BUILD/artifacts/
# (turn it into a regression test, docs/SECURITY.md). Exits 1 when any target failed.
#   fuzz/run.sh BUILD SECONDS TARGET...
set -uo pipefail
build=$1
seconds=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/artifacts"
failed=()
for target in "$@"; do
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzz_$target for ${seconds}s"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a bomb of memory is a finding.
  # -detect_leaks=1 (libFuzzer's default, said so it stays): LeakSanitizer runs after every
  # input that allocated more than it freed, seeds included, and a leak exits non-zero.
  if ! "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -detect_leaks=1 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" \
      "$corpus" "$src/corpus/$target" $(ls -d "$src/regressions/$target" 2>/dev/null) \
      > "$build/artifacts/$target.log" 2>&1; then
    failed+=("$target")
    tail -n 60 "$build/artifacts/$target.log"
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' \
    "$build/artifacts/$target.log" | tr '\n' ' '
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (reproducers in $build/artifacts/)"
  exit 1
fi
echo "fuzz: ${#@} targets, ${seconds}s each, no crash, leak or report"
