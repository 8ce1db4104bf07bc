#!/usr/bin/env bash
# Start VictoriaMetrics, the collector and a local agent in the foreground; Ctrl-C stops all three.
# Data lives under var/ in the checkout. Ports: VM_PORT (8428) and COLLECTOR_PORT (8000).
# The first start makes an admin user, a viewer and an admin API token and the local agent's
# credential (deploy/local/credentials.sh); later starts reuse them.
set -euo pipefail
cd "$(dirname "$0")/../.."

VM_PORT=${VM_PORT:-8428}
# Rollup tiers (config/config.yaml's tiers section): name:port:retention:resolution.
TIERS=("1m:8429:7d:60s" "5m:8430:30d:300s" "1h:8431:365d:3600s")
COLLECTOR_PORT=${COLLECTOR_PORT:-8000}
INTERVAL=${INTERVAL:-1}
VAR=${VAR:-var}
BIN=.venv/bin
mkdir -p "$VAR/victoria-metrics" "$VAR/agent" "$VAR/log" "$VAR/collector"

pids=()
stopping=""
stop() {
    trap - INT TERM EXIT
    stopping=1
    echo
    echo "stopping..."
    # The agent first, so it can flush its last frames to the collector.
    for ((i=${#pids[@]}-1; i>=0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
    echo "stopped."
}
trap stop INT TERM EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_http() {
    local url=$1 what=$2
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "$what did not come up at $url; see $VAR/log/" >&2
    exit 1
}

for port in "$VM_PORT" "$COLLECTOR_PORT" 8429 8430 8431; do
    if port_busy "$port"; then
        echo "port $port is in use; set VM_PORT / COLLECTOR_PORT to free ports" >&2
        trap - EXIT
        exit 1
    fi
done

victoria-metrics -storageDataPath="$VAR/victoria-metrics" -httpListenAddr="127.0.0.1:$VM_PORT" \
    -retentionPeriod=1d -dedup.minScrapeInterval=1ms \
    >"$VAR/log/victoria-metrics.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$VM_PORT/health" VictoriaMetrics
# One VictoriaMetrics per rollup tier, deduplicating at the tier's resolution.
for tier in "${TIERS[@]}"; do
    IFS=: read -r name port retention dedup <<<"$tier"
    victoria-metrics -storageDataPath="$VAR/victoria-metrics-$name" \
        -httpListenAddr="127.0.0.1:$port" -retentionPeriod="$retention" \
        -dedup.minScrapeInterval="$dedup" >"$VAR/log/victoria-metrics-$name.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$port/health" "VictoriaMetrics ($name tier)"
done

export HOSTVITALS__STATE__DIR="$VAR/collector"
AGENT_HOST=${AGENT_HOST:-$(hostname)}
VAR="$VAR" BIN="$BIN" AGENT_HOST="$AGENT_HOST" deploy/local/credentials.sh
# shellcheck source=/dev/null
. "$VAR/local-credentials.env"

HOSTVITALS__VICTORIAMETRICS__URL="http://127.0.0.1:$VM_PORT" \
    "$BIN/hostvitals-collector" --port "$COLLECTOR_PORT" >"$VAR/log/collector.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$COLLECTOR_PORT/api/v1/health" collector

HOSTVITALS_AGENT_TOKEN_FILE="$VAR/agent.token" \
    "$BIN/hostvitals-agent" --interval "$INTERVAL" --state-dir "$VAR/agent" --host "$AGENT_HOST" \
    --collector-url "http://127.0.0.1:$COLLECTOR_PORT" >"$VAR/log/agent.log" 2>&1 &
pids+=($!)

cat <<MSG

hostvitals is running (logs in $VAR/log/):
  dashboard        http://127.0.0.1:$COLLECTOR_PORT/
                   log in as $HOSTVITALS_ADMIN_USER with HOSTVITALS_ADMIN_PASSWORD from $VAR/local-credentials.env
  API reference    http://127.0.0.1:$COLLECTOR_PORT/docs (after logging in)
  scripts          . $VAR/local-credentials.env
                   curl -H "Authorization: Bearer \$HOSTVITALS_VIEWER_TOKEN" http://127.0.0.1:$COLLECTOR_PORT/api/v1/metrics/current
  VictoriaMetrics  http://127.0.0.1:$VM_PORT/
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
if [ -z "$stopping" ]; then
    echo "a component exited unexpectedly; see $VAR/log/" >&2
    exit 1
fi
