#!/usr/bin/env bash
# Installs the pinned Go tools that are not on npm into .tools/bin (git-ignored):
# the Temporal CLI (the dev server `npm start` and `npm test` run), ghz and
# grpcurl (the benchmarks' load generator; grpcurl also serves some tests), and
# stripe-mock (Stripe's own mock of its API, for the Stripe adapter's tests),
# and protoc-gen-go and protoc-gen-go-grpc (the Go client's code generators,
# `npm run gen:go`). `npm start` builds only the Temporal CLI; `npm run tools`
# builds them all.
# For each tool, in order:
#   1. already in .tools/bin at the pinned version: nothing to do;
#   2. in the shared cache ${TICKETING_TOOLS_CACHE:-$HOME/.cache/ticketing-tools}
#      (filled by earlier builds, e.g. of other clones or CI runs): copied;
#   3. otherwise built with `go install` (minutes when cold, printing nothing
#      itself: a progress line with the elapsed time goes out every 15 s), then
#      copied into the cache.
# Concurrent runs wait for each other (flock), so a tool is never built twice at once.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: npm run tools [-- TOOL...]
       bash tools/devstack/install-tools.sh [--help] [TOOL...]

Installs the pinned Go tools into .tools/bin: temporal, ghz, grpcurl, stripe-mock,
protoc-gen-go, protoc-gen-go-grpc (all when no TOOL is named). A tool already there is kept; one in the shared cache
($TICKETING_TOOLS_CACHE, default ~/.cache/ticketing-tools) is copied; otherwise it is
built with `go install` (needs Go 1.25+ and the Go module proxy; a cold build of
the Temporal CLI takes about 4 minutes, ghz and grpcurl about 1 minute each).

Environment: TICKETING_TOOLS_CACHE (the shared cache), TICKETING_PROGRESS_SECONDS
(seconds between progress lines while building, default 15).
USAGE
}

wanted=()
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      usage
      exit 0
      ;;
    temporal | ghz | grpcurl | stripe-mock | protoc-gen-go | protoc-gen-go-grpc) wanted+=("$arg") ;;
    -*)
      echo "install-tools: unknown option '$arg' (see --help)" >&2
      exit 2
      ;;
    *)
      echo "install-tools: unknown tool '$arg': expected temporal, ghz, grpcurl, stripe-mock, protoc-gen-go or protoc-gen-go-grpc (see --help)" >&2
      exit 2
      ;;
  esac
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/.tools/bin"
cache="${TICKETING_TOOLS_CACHE:-$HOME/.cache/ticketing-tools}"
progress_every="${TICKETING_PROGRESS_SECONDS:-15}"
mkdir -p "$bin"
export PATH="$PATH:/usr/local/go/bin"

tools=(
  "temporal github.com/temporalio/cli/cmd/temporal@v1.5.1"
  "ghz github.com/bojand/ghz/cmd/ghz@v0.121.0"
  "grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3"
  "stripe-mock github.com/stripe/stripe-mock@v0.203.0"
  "protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12"
  "protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2"
)
platform="$(uname -s)-$(uname -m)"
if [ ${#wanted[@]} -gt 0 ]; then
  selected=()
  for entry in "${tools[@]}"; do
    for w in "${wanted[@]}"; do [ "${entry%% *}" = "$w" ] && selected+=("$entry"); done
  done
  tools=("${selected[@]}")
fi

# .tools/bin/.<name>.module records which module@version a binary was built from.
installed() { # name module
  [ -x "$bin/$1" ] || return 1
  local stamp="$bin/.$1.module"
  if [ ! -f "$stamp" ]; then
    # built by an earlier version of this script: adopt it
    echo "$2" >"$stamp"
    return 0
  fi
  [ "$(cat "$stamp")" = "$2" ]
}

missing() {
  local entry
  for entry in "${tools[@]}"; do
    installed "${entry%% *}" "${entry#* }" || echo "$entry"
  done
}

# Binaries present here but not yet in the shared cache are copied there (cheap check).
seed_cache() {
  local entry name module key
  for entry in "${tools[@]}"; do
    name="${entry%% *}"
    module="${entry#* }"
    key="$name@${module##*@}-$platform"
    if installed "$name" "$module" && [ ! -e "$cache/$key" ]; then
      if mkdir -p "$cache" 2>/dev/null && cp "$bin/$name" "$cache/.$key.tmp.$$" 2>/dev/null; then
        mv -f "$cache/.$key.tmp.$$" "$cache/$key"
        echo "install-tools: cached $name as $cache/$key" >&2
      else
        rm -f "$cache/.$key.tmp.$$" 2>/dev/null || true
      fi
    fi
  done
}

if [ -z "$(missing)" ]; then
  seed_cache
  exit 0
fi

if command -v flock >/dev/null 2>&1; then
  exec 9>"$bin/.install.lock"
  if ! flock -n 9; then
    echo "install-tools: another install-tools.sh is running; waiting for it" >&2
    flock 9
  fi
fi

start=$SECONDS
mapfile -t todo < <(missing)
[ ${#todo[@]} -eq 0 ] && exit 0 # another run installed them while we waited
for entry in "${todo[@]}"; do
  name="${entry%% *}"
  module="${entry#* }"
  key="$name@${module##*@}-$platform"
  if [ -x "$cache/$key" ]; then
    cp "$cache/$key" "$bin/.$name.tmp.$$"
    mv -f "$bin/.$name.tmp.$$" "$bin/$name"
    echo "$module" >"$bin/.$name.module"
    echo "install-tools: $name copied from $cache/$key" >&2
    continue
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "install-tools: Go 1.25+ is needed to build $name; install it (go.dev/dl) or put it on PATH" >&2
    exit 1
  fi
  echo "install-tools: building $name ($module) with go install; a cold build takes minutes" >&2
  t=$SECONDS
  rm -f "$bin/$name"
  # go install says nothing while it downloads and compiles: say how long it has been.
  GOBIN="$bin" go install "$module" &
  build=$!
  next=$progress_every
  while kill -0 "$build" 2>/dev/null; do
    sleep 1
    if [ $((SECONDS - t)) -ge "$next" ] && kill -0 "$build" 2>/dev/null; then
      echo "install-tools: building $name... $((SECONDS - t)) s" >&2
      next=$((next + progress_every))
    fi
  done
  if ! wait "$build"; then
    echo "install-tools: go install $module failed after $((SECONDS - t)) s" >&2
    exit 1
  fi
  echo "$module" >"$bin/.$name.module"
  echo "install-tools: built $name in $((SECONDS - t)) s" >&2
  if mkdir -p "$cache" 2>/dev/null && cp "$bin/$name" "$cache/.$key.tmp.$$" 2>/dev/null; then
    mv -f "$cache/.$key.tmp.$$" "$cache/$key"
    echo "install-tools: cached $name as $cache/$key" >&2
  else
    rm -f "$cache/.$key.tmp.$$" 2>/dev/null || true
    echo "install-tools: could not write the cache $cache (continuing)" >&2
  fi
done
echo "install-tools: done in $((SECONDS - start)) s" >&2
