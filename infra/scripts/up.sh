#!/usr/bin/env bash
# make up: build, start the provider in the background, migrate, create secrets, deploy
# stack.yml and wait until every function answers. Safe to run again: a running provider is
# kept and the functions are redeployed (their processes replaced with the new binaries).
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
state=$(realpath -m "${STATE_DIR:-.state}")
addr=${PROVIDER_ADDR:-127.0.0.1:8080}
gateway="http://$addr"
pidfile=$state/provider.pid
logfile=$state/provider.log
make=${MAKE:-make}
database_url=${DATABASE_URL_SECRET:-postgres://postgres@127.0.0.1:5432/faas_commerce?sslmode=disable}
faas() { GATEWAY_URL=$gateway go tool faas-cli "$@"; }
step() { printf '==> %s\n' "$*"; }

step "checking PostgreSQL and RabbitMQ"
if ! infra/scripts/require-services.sh; then
	echo "make up needs the services above; start them (or run: make services) and try again" >&2
	exit 1
fi

step "building functions (make build)"
"$make" --no-print-directory build

step "building the provider"
infra/scripts/build-provider.sh "$state/provider"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
if running; then
	step "provider already running (pid $(cat "$pidfile")); keeping it"
else
	step "starting the provider on $gateway (log: $logfile)"
	mkdir -p "$state"
	# The token gate checks protected functions' callers with the keys of the jwks function
	# behind this very provider (fetched in-process); the rate limit is per client.
	PROVIDER_ADDR=$addr PROVIDER_STATE_DIR=$state FUNCTIONS_BIN_DIR=$top/bin \
		PROVIDER_AUTH_JWKS_URL=${PROVIDER_AUTH_JWKS_URL:-$gateway/function/jwks} \
		PROVIDER_AUTH_ISSUER=${PROVIDER_AUTH_ISSUER:-http://127.0.0.1:8080/function/issue-token} \
		PROVIDER_AUTH_AUDIENCE=${PROVIDER_AUTH_AUDIENCE:-faas-commerce} \
		PROVIDER_RATE_LIMIT=${PROVIDER_RATE_LIMIT:-100} PROVIDER_RATE_BURST=${PROVIDER_RATE_BURST:-200} \
		OTEL_TRACES_EXPORTER=${OTEL_TRACES_EXPORTER:-zipkin} \
		setsid "$state/provider" >>"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"
fi
for _ in $(seq 1 150); do
	curl -fsS -o /dev/null "$gateway/healthz" 2>/dev/null && break
	running || { echo "the provider stopped; last lines of $logfile:" >&2; tail -n 20 "$logfile" >&2; exit 1; }
	sleep 0.1
done
curl -fsS -o /dev/null "$gateway/healthz" || { echo "the provider does not answer on $gateway" >&2; exit 1; }

step "applying migrations (make migrate)"
"$make" --no-print-directory migrate

step "logging faas-cli in and creating secrets"
faas login --gateway "$gateway" --username "$(cat "$state/auth/basic-auth-user")" --password-stdin \
	<"$state/auth/basic-auth-password" >/dev/null
mkdir -p "$state/secrets"
(umask 077 && printf '%s' "$database_url" >"$state/secrets/database-url")

put_secret() { # name file
	if faas secret list --gateway "$gateway" | awk 'NR>1 {print $1}' | grep -qx "$1"; then
		faas secret update "$1" --from-file "$2" --gateway "$gateway" >/dev/null
	else
		faas secret create "$1" --from-file "$2" --gateway "$gateway" >/dev/null
	fi
}

step "starting the payment, SMS and SMTP simulators (make sims-up)"
"$make" --no-print-directory sims-up
put_secret payment-api-key "$state/sims/payment-api-key"

step "creating token signing keys and OAuth2 clients (identity-admin)"
ids=$state/identity
admin() { DATABASE_URL=$database_url go run ./shared/identity/cmd/identity-admin "$@"; }
admin keys -dir "$ids" >/dev/null
admin client -id connector -name "RabbitMQ connector" -roles service \
	-id-file "$ids/auth-client-id" -secret-file "$ids/auth-client-secret" >/dev/null
admin client -id admin -name "Operator (dev)" -roles admin \
	-id-file "$ids/admin-client-id" -secret-file "$ids/admin-client-secret" >/dev/null
for s in jwt-signing-keys jwt-public-keys auth-client-id auth-client-secret; do
	put_secret "$s" "$ids/$s"
done

put_secret database-url "$state/secrets/database-url"

step "deploying stack.yml"
faas deploy -f stack.yml --gateway "$gateway"

step "waiting until every function answers"
names=$(faas list --quiet --gateway "$gateway")
for name in $names; do
	code=000
	for _ in $(seq 1 300); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$gateway/function/$name/_/health" || true)
		[ "$code" = 200 ] && break
		sleep 0.1
	done
	if [ "$code" != 200 ]; then
		echo "function $name does not answer (HTTP $code); its logs: go tool faas-cli logs $name --tail=false" >&2
		exit 1
	fi
	printf '    %-20s ready\n' "$name"
done

step "starting the outbox relay and the RabbitMQ connector (make connectors-up)"
"$make" --no-print-directory connectors-up

step "starting the trace sink and Prometheus (make observability-up)"
"$make" --no-print-directory observability-up

try=$(printf '%s\n' $names | grep -x list-products || printf '%s\n' $names | head -n1)
cat <<MSG

The platform is up.
  gateway:      $gateway   (OpenFaaS API; faas-cli is logged in)
  credentials:  user admin, password in $state/auth/basic-auth-password
  OAuth2 admin: $ids/admin-client-id and admin-client-secret (README: "Calling protected functions")
  sent mail:    make mail     (SMS: make texts, charges: make charges)
  provider log: $logfile
  try:          curl -s $gateway/function/$try
  stop it:      make down
MSG
