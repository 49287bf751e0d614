#!/usr/bin/env bash
# Checks that what the platform and its tests need is here: Go, PostgreSQL and RabbitMQ on
# loopback. With --start it starts the local PostgreSQL and RabbitMQ servers when they are
# installed but stopped (as CI does); otherwise it says what is missing and how to get it.
set -euo pipefail

start=0
[ "${1:-}" = "--start" ] && start=1
pg_host=${PGHOST_CHECK:-127.0.0.1}
pg_port=${PGPORT_CHECK:-5432}
mq_port=${AMQP_PORT_CHECK:-5672}
missing=0

say() { printf '%s\n' "$*" >&2; }
open_port() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() { # host port seconds
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		open_port "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

if ! command -v go >/dev/null 2>&1; then
	say "missing: Go 1.26 or newer (https://go.dev/dl/), on PATH as 'go'"
	missing=1
fi

if ! open_port "$pg_host" "$pg_port"; then
	if [ "$start" = 1 ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
		say "starting PostgreSQL"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
		wait_port "$pg_host" "$pg_port" 30 || { say "PostgreSQL did not come up on $pg_host:$pg_port"; missing=1; }
	else
		say "missing: PostgreSQL on $pg_host:$pg_port (trust auth for user postgres on loopback)."
		say "  Debian/Ubuntu: apt-get install -y postgresql && pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
		missing=1
	fi
fi

if ! open_port 127.0.0.1 "$mq_port"; then
	if [ "$start" = 1 ] && command -v rabbitmq-server >/dev/null 2>&1; then
		say "starting RabbitMQ"
		rabbitmq-server -detached || true
		wait_port 127.0.0.1 "$mq_port" 60 || { say "RabbitMQ did not come up on 127.0.0.1:$mq_port"; missing=1; }
	else
		say "missing: RabbitMQ on 127.0.0.1:$mq_port (user guest/guest)."
		say "  Debian/Ubuntu: apt-get install -y rabbitmq-server && rabbitmq-server -detached"
		missing=1
	fi
fi

exit "$missing"
