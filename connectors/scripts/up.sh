#!/usr/bin/env bash
# connectors-up: start the outbox relay and the RabbitMQ connector in the background, next to the
# local provider, and wait until both answer /healthz. Safe to run again: a running program is
# restarted with the freshly built binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
state=$(realpath -m "${STATE_DIR:-.state}")
gateway="http://${PROVIDER_ADDR:-127.0.0.1:8080}"
mkdir -p "$state"

# Secrets: the relay reads database-url from the provider's secrets folder (make up creates it
# there); the connector reads the gateway's basic-auth-user/-password (the provider's auth
# folder) and its OAuth2 client's auth-client-id/-secret (made by make up with identity-admin).
for f in secrets/database-url auth/basic-auth-user auth/basic-auth-password identity/auth-client-id identity/auth-client-secret; do
	if [ ! -f "$state/$f" ]; then
		echo "connectors: no $state/$f (run make up first)" >&2
		exit 1
	fi
done
connector_secrets=$state/connector-secrets
mkdir -p "$connector_secrets" && chmod 700 "$connector_secrets"
cp -p "$state/auth/basic-auth-user" "$state/auth/basic-auth-password" \
	"$state/identity/auth-client-id" "$state/identity/auth-client-secret" "$connector_secrets/"

stop() {
	local pidfile=$state/$1.pid
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		kill -TERM "$(cat "$pidfile")"
		for _ in $(seq 1 350); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$pidfile"
}

start() { # name, metrics address, then env assignments
	local name=$1 addr=$2
	shift 2
	stop "$name"
	printf '==> starting %-20s (log: %s)\n' "$name" "$state/$name.log"
	env "$@" setsid "$top/bin/$name" >>"$state/$name.log" 2>&1 </dev/null &
	echo $! >"$state/$name.pid"
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "http://$addr/healthz" 2>/dev/null && return 0
		kill -0 "$(cat "$state/$name.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "$name is not healthy; last lines of $state/$name.log:" >&2
	tail -n 20 "$state/$name.log" >&2
	exit 1
}

start relay "${RELAY_METRICS_ADDR:-127.0.0.1:9471}" \
	SECRETS_DIR="$state/secrets" RELAY_METRICS_ADDR="${RELAY_METRICS_ADDR:-127.0.0.1:9471}" \
	AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}" OTEL_TRACES_EXPORTER="${OTEL_TRACES_EXPORTER:-zipkin}"
start rabbitmq-connector "${CONNECTOR_METRICS_ADDR:-127.0.0.1:9472}" \
	SECRETS_DIR="$connector_secrets" GATEWAY_URL="$gateway" AUTH_TOKEN_URL="$gateway/function/issue-token/token" CONNECTOR_METRICS_ADDR="${CONNECTOR_METRICS_ADDR:-127.0.0.1:9472}" \
	AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}" OTEL_TRACES_EXPORTER="${OTEL_TRACES_EXPORTER:-zipkin}"
# Functions were just deployed: read the list now rather than at the next interval.
curl -fsS -o /dev/null -X POST "http://${CONNECTOR_METRICS_ADDR:-127.0.0.1:9472}/refresh" || true
echo "==> relay metrics on http://${RELAY_METRICS_ADDR:-127.0.0.1:9471}/metrics, connector metrics on http://${CONNECTOR_METRICS_ADDR:-127.0.0.1:9472}/metrics"
