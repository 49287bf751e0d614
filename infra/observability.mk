# Observability for the local platform: the trace sink, Prometheus with the platform's config
# and alerts, the optional Jaeger viewer. Included by the top Makefile (after platform.mk);
# also runs alone: make -f infra/observability.mk check-observability.
# State (pids, logs, the rendered Prometheus config and its data) lives in $(STATE_DIR).

STATE_DIR       ?= .state
PROVIDER_ADDR   ?= 127.0.0.1:8080
PROMETHEUS_ADDR ?= 127.0.0.1:9090
TRACESINK_ADDR  ?= 127.0.0.1:9411

export STATE_DIR PROVIDER_ADDR PROMETHEUS_ADDR TRACESINK_ADDR

.PHONY: observability-up
observability-up: ## start the trace sink (Zipkin API on :9411) and Prometheus (when installed) in the background; print URLs
	@infra/scripts/observability.sh up

.PHONY: observability-down
observability-down: ## stop Prometheus, the trace sink and the Jaeger viewer
	@infra/scripts/observability.sh down

.PHONY: check-observability
check-observability: ## promtool check config and rules on infra/prometheus
	@infra/scripts/observability.sh check

.PHONY: prometheus-config
prometheus-config: ## render $(STATE_DIR)/prometheus/prometheus.yml for this platform's addresses and check it
	@infra/scripts/observability.sh config

.PHONY: trace-viewer
trace-viewer: ## build Jaeger all-in-one (tools/jaeger) and run it on :9411 (Zipkin), :4318 (OTLP), UI :16686, in place of the sink
	@infra/scripts/observability.sh viewer

.PHONY: rabbitmq-metrics
rabbitmq-metrics: ## enable RabbitMQ's Prometheus plugin (queue metrics on :15692) unless it already answers
	@infra/scripts/observability.sh rabbitmq-metrics
