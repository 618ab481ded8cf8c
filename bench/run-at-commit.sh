#!/usr/bin/env bash
# Runs a bench (default holds.ts) against a clean snapshot of a commit
# (default HEAD), for when the working tree is mid-edit or to measure an
# earlier commit's code with today's bench: `git archive` of the commit into a
# temp dir, this checkout's node_modules/.tools linked in, the working tree's
# bench/ copied over it. Results land in this checkout's bench/results/ and
# its *-RESULTS.md. Usage: bench/run-at-commit.sh [commit] [bench file under
# bench/, e.g. best-available.ts] (env knobs as for that bench).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commit="$(git -C "$repo" rev-parse "${1:-HEAD}")"
snap="$(mktemp -d "${TMPDIR:-/tmp}/ticketing-bench-src-XXXXXX")"
trap 'rm -rf "$snap"' EXIT
git -C "$repo" archive "$commit" | tar -x -C "$snap"
ln -s "$repo/node_modules" "$snap/node_modules"
mkdir -p "$snap/.tools" && ln -s "$repo/.tools/bin" "$snap/.tools/bin"
rm -rf "$snap/bench" && mkdir -p "$snap/bench"
bench="${2:-holds.ts}"
cp -r "$repo/bench/lib" "$repo/bench/$bench" "$snap/bench/"
echo "bench: $bench on code at ${commit:0:12} in $snap" >&2
cd "$snap"
BENCH_SOURCE_COMMIT="$commit" BENCH_OUT="${BENCH_OUT:-$repo/bench}" node --import tsx "bench/$bench"
