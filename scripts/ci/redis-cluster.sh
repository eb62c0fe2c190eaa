#!/usr/bin/env bash
# Starts a Redis Cluster of three masters on loopback, for the RedisStore cluster tests
# (test/stores/redis-cluster.test.ts): starts each node that is not running, creates the cluster
# when it is not yet created, and waits until every node says `cluster_state:ok`.
# Idempotent: a cluster already up is left as it is; run it as often as you like.
# Needs Debian's redis-server and redis-cli (`apt-get install redis-server`).
#
#   AUTHX_REDIS_CLUSTER_PORTS  ports of the masters, space-separated [7000 7001 7002]
#   AUTHX_REDIS_CLUSTER_DIR    node configs, logs and pid files [${TMPDIR:-/tmp}/authx-redis-cluster]
#
# The tests find the cluster through REDIS_CLUSTER_NODES [127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002].
set -euo pipefail

HOST=127.0.0.1
read -r -a PORTS <<<"${AUTHX_REDIS_CLUSTER_PORTS:-7000 7001 7002}"
DIR="${AUTHX_REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/authx-redis-cluster}"
SLOTS=16384

log() { printf '[redis-cluster] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
command -v redis-cli >/dev/null || die "redis-cli not found (apt-get install redis-tools)"
((${#PORTS[@]} >= 3)) || die "a cluster needs at least 3 masters, got ports: ${PORTS[*]}"

cli() {
  local port=$1
  shift
  redis-cli -h "$HOST" -p "$port" "$@"
}

answers() { [[ $(cli "$1" ping 2>/dev/null) == PONG ]]; }

# `CLUSTER INFO` of the node on port $1, without carriage returns (empty when it does not answer).
cluster_info() { cli "$1" cluster info 2>/dev/null | tr -d '\r'; }

# Whether every node sees one healthy cluster of all of them.
cluster_ok() {
  local port info
  for port in "${PORTS[@]}"; do
    info=$(cluster_info "$port")
    [[ $info == *$'cluster_state:ok\n'* ]] || return 1
    [[ $info == *$'cluster_slots_assigned:'"$SLOTS"$'\n'* ]] || return 1
    [[ $info == *$'cluster_known_nodes:'"${#PORTS[@]}"$'\n'* ]] || return 1
  done
}

# Whether every node is alone and holds no slot: a cluster not yet created.
all_fresh() {
  local port info
  for port in "${PORTS[@]}"; do
    info=$(cluster_info "$port")
    [[ $info == *$'cluster_known_nodes:1\n'* ]] || return 1
    [[ $info == *$'cluster_slots_assigned:0\n'* ]] || return 1
  done
}

# Waits up to $1 seconds for check $2, checking every half second.
wait_until() {
  local deadline=$((SECONDS + $1)) check=$2
  until "$check"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

all_answer() {
  local port
  for port in "${PORTS[@]}"; do answers "$port" || return 1; done
}

mkdir -p "$DIR"
# Two runs at once (two developers, two CI steps) must not both create the cluster.
exec 9>"$DIR/.lock"
if command -v flock >/dev/null; then
  flock -w 120 9 || die "another run has held $DIR/.lock for 120 s"
fi

for port in "${PORTS[@]}"; do
  if answers "$port"; then
    continue
  fi
  log "starting redis-server on $HOST:$port"
  # Not --cluster-config-file alone: with --dir, logs and pid files land beside it too.
  redis-server \
    --bind "$HOST" \
    --port "$port" \
    --cluster-enabled yes \
    --cluster-config-file "$DIR/nodes-$port.conf" \
    --cluster-node-timeout 5000 \
    --dir "$DIR" \
    --save "" \
    --appendonly no \
    --daemonize yes \
    --pidfile "$DIR/redis-$port.pid" \
    --logfile "$DIR/redis-$port.log" \
    9>&- || # the daemon must not inherit, and so keep, the lock
    die "redis-server did not start on port $port (see $DIR/redis-$port.log)"
done
wait_until 30 all_answer || die "the nodes did not all answer PING within 30 s (logs in $DIR)"

for port in "${PORTS[@]}"; do
  [[ $(cli "$port" info cluster | tr -d '\r') == *cluster_enabled:1* ]] ||
    die "port $port answers, but it is a Redis without cluster support"
done

if cluster_ok; then
  log "cluster already up on $HOST:${PORTS[*]}"
  exit 0
fi

if ! all_fresh; then
  # Nodes restarted from their saved configs need a moment to find each other again.
  if wait_until 15 cluster_ok; then
    log "cluster up again on $HOST:${PORTS[*]}"
    exit 0
  fi
  # A half-made cluster (a node lost its config, a creation was interrupted): start over. It
  # only ever holds test data.
  log "cluster in a bad state; resetting its nodes"
  for port in "${PORTS[@]}"; do
    cli "$port" flushall >/dev/null
    cli "$port" cluster reset hard >/dev/null
  done
fi

log "creating the cluster on $HOST:${PORTS[*]}"
nodes=()
for port in "${PORTS[@]}"; do nodes+=("$HOST:$port"); done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 ||
  die "redis-cli --cluster create failed: $(tail -n 5 "$DIR/create.log")"

wait_until 30 cluster_ok || die "the cluster did not reach cluster_state:ok within 30 s"
log "cluster up on $HOST:${PORTS[*]}"
