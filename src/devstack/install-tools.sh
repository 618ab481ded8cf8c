#!/usr/bin/env bash
# Installs the pinned Go tools that are not on npm (Temporal CLI, ghz, grpcurl)
# into .tools/bin (git-ignored), skipping any binary that is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/.tools/bin"
mkdir -p "$bin"
export PATH="$PATH:/usr/local/go/bin"

tools=(
  "temporal github.com/temporalio/cli/cmd/temporal@v1.5.1"
  "ghz github.com/bojand/ghz/cmd/ghz@v0.121.0"
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
)
missing=()
for entry in "${tools[@]}"; do
  [ -x "$bin/${entry%% *}" ] || missing+=("$entry")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v go >/dev/null 2>&1; then
  echo "install-tools: Go 1.22+ is needed to build the Temporal CLI, ghz and grpcurl; install it from https://go.dev/dl or put it on PATH" >&2
  exit 1
fi
for entry in "${missing[@]}"; do
  name="${entry%% *}"
  module="${entry#* }"
  echo "install-tools: building $name ($module); a cold build takes minutes and prints nothing meanwhile" >&2
  GOBIN="$bin" go install "$module"
done
