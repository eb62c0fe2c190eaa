#!/usr/bin/env bash
# Runs the end-to-end cases of test/runtimes/ against the built package (run `npm run build`
# first) on Node, Bun, Deno and Cloudflare's workerd:
#   bash scripts/ci/runtimes.sh [node] [bun] [deno] [workerd]        (default: all four)
#
# The runtimes come from the npm registry as the packages that ship their Linux x64 binaries,
# unpacked into the cache folder of scripts/ci/common.sh and reused by later runs:
#   @oven/bun-linux-x64 (bin/bun), @deno/linux-x64-glibc (deno), @cloudflare/workerd-linux-64 (bin/workerd).
# Version ranges: AUTHX_BUN_RANGE [^1], AUTHX_DENO_RANGE [^2], AUTHX_WORKERD_RANGE [^1]. A binary
# already given in AUTHX_BUN, AUTHX_DENO or AUTHX_WORKERD is used as it is.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(node bun deno workerd)
wants() {
  local name
  for name in "${wanted[@]}"; do [[ $name == "$1" ]] && return 0; done
  return 1
}

if wants bun && [[ -z ${AUTHX_BUN:-} ]]; then
  ensure_package @oven/bun-linux-x64 "${AUTHX_BUN_RANGE:-^1}" "$AUTHX_CI_CACHE/bun" >/dev/null
  export AUTHX_BUN="$AUTHX_CI_CACHE/bun/bin/bun"
fi
if wants deno && [[ -z ${AUTHX_DENO:-} ]]; then
  ensure_package @deno/linux-x64-glibc "${AUTHX_DENO_RANGE:-^2}" "$AUTHX_CI_CACHE/deno" >/dev/null
  export AUTHX_DENO="$AUTHX_CI_CACHE/deno/deno"
fi
if wants workerd && [[ -z ${AUTHX_WORKERD:-} ]]; then
  ensure_package @cloudflare/workerd-linux-64 "${AUTHX_WORKERD_RANGE:-^1}" "$AUTHX_CI_CACHE/workerd" >/dev/null
  export AUTHX_WORKERD="$AUTHX_CI_CACHE/workerd/bin/workerd"
fi

cd "$ROOT"
exec node test/runtimes/run.mjs "${wanted[@]}"
