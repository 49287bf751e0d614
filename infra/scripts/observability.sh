#!/usr/bin/env bash
# Observability for the local platform: the trace sink (Zipkin API) and Debian's Prometheus,
# in the background with pid files and logs under $STATE_DIR. Called by infra/observability.mk.
#
#   observability.sh config   render $STATE_DIR/prometheus/prometheus.yml and check it with promtool
#   observability.sh up       start the trace sink and Prometheus (when installed), print URLs
#   observability.sh down     stop what up (or trace-viewer) started
#   observability.sh check    promtool check config and rules on infra/prometheus as committed
#   observability.sh viewer   build Jaeger all-in-one (tools/jaeger) and run it instead of the sink
#   observability.sh rabbitmq-metrics   enable RabbitMQ's rabbitmq_prometheus plugin unless it answers
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STATE_DIR=${STATE_DIR:-.state}
PROVIDER_ADDR=${PROVIDER_ADDR:-127.0.0.1:8080}
PROMETHEUS_ADDR=${PROMETHEUS_ADDR:-127.0.0.1:9090}
TRACESINK_ADDR=${TRACESINK_ADDR:-127.0.0.1:9411}
RELAY_METRICS_ADDR=${RELAY_METRICS_ADDR:-127.0.0.1:9471}
CONNECTOR_METRICS_ADDR=${CONNECTOR_METRICS_ADDR:-127.0.0.1:9472}
RABBITMQ_PROMETHEUS_ADDR=${RABBITMQ_PROMETHEUS_ADDR:-127.0.0.1:15692}
JAEGER_UI_ADDR=${JAEGER_UI_ADDR:-127.0.0.1:16686}
mkdir -p "$STATE_DIR"
STATE=$(cd "$STATE_DIR" && pwd)
PROM_DIR="$STATE/prometheus"

running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_http URL SECONDS: poll until URL answers 2xx
wait_http() {
	local deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

stop() { # stop NAME: SIGTERM, wait up to 15 s, then SIGKILL
	local pidfile="$STATE/$1.pid" pid
	running "$pidfile" || { rm -f "$pidfile"; return 0; }
	pid=$(cat "$pidfile")
	kill "$pid"
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
	rm -f "$pidfile"
	echo "==> $1 stopped"
}

need_promtool() {
	command -v promtool >/dev/null 2>&1 && return 0
	echo "promtool is missing: install Debian's prometheus package (make prometheus, or apt-get install -y prometheus)" >&2
	exit 1
}

# rabbitmq_metrics enables RabbitMQ's Prometheus plugin when its endpoint does not answer.
rabbitmq_metrics() {
	curl -fsS -o /dev/null "http://$RABBITMQ_PROMETHEUS_ADDR/metrics" 2>/dev/null && return 0
	if ! command -v rabbitmq-plugins >/dev/null 2>&1; then
		echo "==> RabbitMQ serves no metrics on $RABBITMQ_PROMETHEUS_ADDR; enable them with: rabbitmq-plugins enable rabbitmq_prometheus" >&2
		return 1
	fi
	echo "==> enabling RabbitMQ's Prometheus plugin (rabbitmq-plugins enable rabbitmq_prometheus)"
	rabbitmq-plugins enable rabbitmq_prometheus >/dev/null
	wait_http "http://$RABBITMQ_PROMETHEUS_ADDR/metrics" 30 || {
		echo "RabbitMQ's Prometheus endpoint did not answer on $RABBITMQ_PROMETHEUS_ADDR" >&2
		return 1
	}
}

config() {
	need_promtool
	mkdir -p "$PROM_DIR"
	sed -e "s#127\.0\.0\.1:8080#$PROVIDER_ADDR#g" \
		-e "s#127\.0\.0\.1:9090#$PROMETHEUS_ADDR#g" \
		-e "s#127\.0\.0\.1:9471#$RELAY_METRICS_ADDR#g" \
		-e "s#127\.0\.0\.1:9472#$CONNECTOR_METRICS_ADDR#g" \
		-e "s#127\.0\.0\.1:15692#$RABBITMQ_PROMETHEUS_ADDR#g" \
		-e "s#\.\./\.\./\.state/auth/#$STATE/auth/#g" \
		-e "s#- rules/#- $ROOT/infra/prometheus/rules/#g" \
		infra/prometheus/prometheus.yml >"$PROM_DIR/prometheus.yml.new"
	promtool check config "$PROM_DIR/prometheus.yml.new" >/dev/null
	mv "$PROM_DIR/prometheus.yml.new" "$PROM_DIR/prometheus.yml"
}

start_sink() {
	if running "$STATE/jaeger.pid"; then
		echo "==> trace viewer (Jaeger) holds $TRACESINK_ADDR; not starting the trace sink"
		return
	fi
	if ! running "$STATE/tracesink.pid"; then
		(cd infra && go build -o "$STATE/tracesink" ./cmd/tracesink)
		TRACESINK_ADDR=$TRACESINK_ADDR nohup "$STATE/tracesink" >>"$STATE/tracesink.log" 2>&1 &
		echo $! >"$STATE/tracesink.pid"
	fi
	wait_http "http://$TRACESINK_ADDR/healthz" 10 || { echo "trace sink did not start; see $STATE/tracesink.log" >&2; exit 1; }
	echo "==> traces (Zipkin API):  http://$TRACESINK_ADDR/api/v2/traces  (OTEL_TRACES_EXPORTER=zipkin)"
}

start_prometheus() {
	if ! command -v prometheus >/dev/null 2>&1; then
		echo "==> Prometheus is not installed; install Debian's package with: apt-get install -y prometheus (or make prometheus)"
		return
	fi
	rabbitmq_metrics || true # Prometheus runs without them; the target shows down
	config
	if running "$STATE/prometheus.pid"; then
		kill -HUP "$(cat "$STATE/prometheus.pid")" # reload the rendered config
	else
		nohup prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
			--storage.tsdb.retention.time=2d --web.listen-address="$PROMETHEUS_ADDR" \
			--web.enable-lifecycle >>"$STATE/prometheus.log" 2>&1 &
		echo $! >"$STATE/prometheus.pid"
	fi
	wait_http "http://$PROMETHEUS_ADDR/-/ready" 30 || { echo "Prometheus did not get ready; see $STATE/prometheus.log" >&2; exit 1; }
	echo "==> Prometheus:           http://$PROMETHEUS_ADDR/  (targets: /targets, alerts: /alerts)"
	echo "    Grafana dashboards:   infra/grafana/dashboards/*.json (import them; see infra/grafana/README.md)"
}

viewer() {
	echo "==> building Jaeger all-in-one (tools/jaeger; a few minutes the first time)"
	(cd tools/jaeger && GOWORK=off go build -o "$STATE/jaeger-all-in-one" github.com/jaegertracing/jaeger/cmd/all-in-one)
	stop tracesink
	if ! running "$STATE/jaeger.pid"; then
		SPAN_STORAGE_TYPE=memory nohup "$STATE/jaeger-all-in-one" \
			--collector.zipkin.host-port="$TRACESINK_ADDR" \
			--collector.otlp.http.host-port=127.0.0.1:4318 --collector.otlp.grpc.host-port=127.0.0.1:4317 \
			--collector.http-server.host-port=127.0.0.1:14268 --collector.grpc-server.host-port=127.0.0.1:14250 \
			--query.http-server.host-port="$JAEGER_UI_ADDR" --query.grpc-server.host-port=127.0.0.1:16685 \
			--admin.http.host-port=127.0.0.1:14269 >>"$STATE/jaeger.log" 2>&1 &
		echo $! >"$STATE/jaeger.pid"
	fi
	wait_http "http://$JAEGER_UI_ADDR/" 30 || { echo "Jaeger did not start; see $STATE/jaeger.log" >&2; exit 1; }
	echo "==> Jaeger UI:            http://$JAEGER_UI_ADDR/"
	echo "    accepts Zipkin on http://$TRACESINK_ADDR/api/v2/spans and OTLP/HTTP on http://127.0.0.1:4318/v1/traces"
	echo "    (make observability-down stops it; the next make observability-up starts the trace sink again)"
}

case "${1:-}" in
config) config && echo "==> $PROM_DIR/prometheus.yml" ;;
up) start_sink && start_prometheus ;;
down) stop prometheus && stop tracesink && stop jaeger ;;
check)
	need_promtool
	promtool check config infra/prometheus/prometheus.yml
	promtool check rules infra/prometheus/rules/*.yml
	;;
viewer) viewer ;;
rabbitmq-metrics) rabbitmq_metrics ;;
*) echo "usage: $0 config|up|down|check|viewer|rabbitmq-metrics" >&2; exit 2 ;;
esac
