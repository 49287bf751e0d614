# The local platform: the provider in infra/ runs every function of stack.yml as a process.
# Included by the top Makefile. State (pid, log, credentials, secrets) lives in $(STATE_DIR).

STATE_DIR     ?= .state
PROVIDER_ADDR ?= 127.0.0.1:8080
BENCH_SECONDS ?= 5

export STATE_DIR PROVIDER_ADDR

.PHONY: up
up: ## build, start the local provider, migrate, create secrets, deploy stack.yml, wait until every function answers
	@MAKE="$(MAKE)" infra/scripts/up.sh

.PHONY: down
down: ## stop everything make up started: relay, connector, provider and functions, simulators, trace sink, Prometheus
	@$(MAKE) --no-print-directory connectors-down
	@infra/scripts/down.sh
	@$(MAKE) --no-print-directory sims-down observability-down

.PHONY: provider
provider: ## build the local provider to $(STATE_DIR)/provider
	@infra/scripts/build-provider.sh "$(STATE_DIR)/provider"

.PHONY: test-infra
test-infra: prometheus ## test the local provider (faas-cli, the OpenFaaS gateway, RabbitMQ)
	@echo "==> go test ./infra/..."
	@cd infra && if go list -m >/dev/null 2>&1; then go test -count=1 -timeout 5m ./...; \
		else GOWORK=off go test -count=1 -timeout 5m ./...; fi

.PHONY: prometheus
prometheus: ## install Debian's prometheus if missing (the OpenFaaS gateway's tests need it)
	@command -v prometheus >/dev/null 2>&1 || { echo "==> installing prometheus (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }

.PHONY: bench-provider
bench-provider: ## benchmark the provider: cold start, warm req/s and latency beside baselines, RSS
	@infra/scripts/bench.sh "$(BENCH_SECONDS)"
