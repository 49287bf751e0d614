#!/usr/bin/env bash
# connectors-down: stop the relay and the RabbitMQ connector that connectors-up started. Each
# gets SIGTERM and lets in-flight work finish (the connector up to DRAIN_TIMEOUT); after 35 s it
# is killed (unacked messages return to their queues, unmarked outbox rows are sent again).
set -euo pipefail
cd "$(dirname "$0")/../.."
state=$(realpath -m "${STATE_DIR:-.state}")
for name in rabbitmq-connector relay; do
	pidfile=$state/$name.pid
	[ -f "$pidfile" ] || continue
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		echo "==> stopping $name (pid $pid)"
		kill -TERM "$pid"
		for _ in $(seq 1 350); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "==> $name did not stop in 35s; killing it" >&2
			kill -KILL "$pid"
		fi
	fi
	rm -f "$pidfile"
done
