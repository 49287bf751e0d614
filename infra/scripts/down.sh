#!/usr/bin/env bash
# make down: stop the provider that make up started. The provider stops its function processes
# (SIGTERM, drain, SIGKILL after its stop timeout); any it could not are killed with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
state=$(realpath -m "${STATE_DIR:-.state}")
pidfile=$state/provider.pid
if [ ! -f "$pidfile" ]; then
	echo "==> the provider is not running (no $pidfile)"
	exit 0
fi
pid=$(cat "$pidfile")
if ! kill -0 "$pid" 2>/dev/null; then
	echo "==> the provider (pid $pid) had already stopped"
	rm -f "$pidfile"
	exit 0
fi
echo "==> stopping the provider (pid $pid) and its functions"
kill -TERM "$pid"
for _ in $(seq 1 300); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
	echo "==> the provider did not stop in 30s; killing it" >&2
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
fi
rm -f "$pidfile"
echo "==> stopped"
