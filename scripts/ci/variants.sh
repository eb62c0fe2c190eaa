#!/usr/bin/env bash
# The whole test suite on the jose engine with the verified-token cache off, the other corner of
# what `npm test` runs (node:crypto engine, cache on): issue 9, item 6.
#   bash scripts/ci/variants.sh [VITEST ARGUMENTS ...]
#
# test/support/variant-setup.ts (vitest.config.ts `setupFiles`) reads AUTHX_TEST_ENGINE and
# AUTHX_TEST_CACHE: with `jose`, `nodeCrypto()` answers undefined to the AuthX constructor, so every
# instance signs, verifies and imports keys with jose; with `off`, `cache.verifiedTokens` defaults to
# 0. Tests that pick an engine themselves (test/support/engines.ts, test/security/forge.ts) still
# get the one they ask for. Store tests fail instead of skipping (AUTHX_REQUIRE_STORES=1, as in
# .ci/run). Two files are excluded, below; every other one runs in this variant.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

export AUTHX_TEST_ENGINE=jose
export AUTHX_TEST_CACHE=off
export AUTHX_REQUIRE_STORES="${AUTHX_REQUIRE_STORES:-1}"

log "npx vitest run with AUTHX_TEST_ENGINE=$AUTHX_TEST_ENGINE AUTHX_TEST_CACHE=$AUTHX_TEST_CACHE AUTHX_REQUIRE_STORES=$AUTHX_REQUIRE_STORES"
start=$SECONDS
status=0
# test/docs.test.ts runs the samples of README.md and docs/*.md, which show what a user on Node
# gets, and some assert exactly that: docs/keys.md checks `auth.engine === 'node'` and that a bad
# key throws in the constructor (the jose engine refuses it at the first call instead), and
# docs/configuration.md compares the default config with one that spells out
# `cache: { verifiedTokens: 10_000 }`. They run in the default `npm test`.
#
# test/token-cache.test.ts tests the verified-token cache itself: it needs the cache on by default,
# and it sees whether a token was decoded again by spying on node:crypto (`createHmac`, `verify`),
# which the jose engine never calls, so its "no decode on a hit" checks would pass without proving
# anything. It runs in the default `npm test`; test/engines-differential.test.ts checks the cache on
# both engines (counting node:crypto `verify` and Web Crypto `subtle.verify`) in every variant.
run_vitest "npm test on the jose engine, cache off" \
  npx vitest run --exclude test/docs.test.ts --exclude test/token-cache.test.ts "$@" || status=$?
log "finished in $((SECONDS - start)) s, exit $status"
exit "$status"
