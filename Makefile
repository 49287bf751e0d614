# faas-commerce: the verbs a person types. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULE      := github.com/faas-commerce/faas-commerce
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/faas_commerce?sslmode=disable
FAAS_CLI    := go tool faas-cli
TEST_FLAGS  ?= -count=1 -timeout 15m

export DATABASE_URL

.PHONY: help
help: ## list the verbs
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## build every function in stack.yml to bin/<name>, as its image would build it
	@rm -rf build
	@echo "==> shrinkwrapping stack.yml (faas-cli build --shrinkwrap)"
	@$(FAAS_CLI) build --shrinkwrap --quiet -f stack.yml >/dev/null
	@mkdir -p bin
	@for ctx in build/*/; do \
		name=$$(basename "$$ctx"); \
		printf '==> building %-20s' "$$name"; \
		(cd "$$ctx" && SKIP_TESTS=1 sh build.sh "$(CURDIR)/bin/$$name") || exit 1; \
		echo " bin/$$name"; \
	done

.PHONY: migrate
migrate: ## apply migrations to DATABASE_URL (creating the database if needed)
	@go run ./migrations/cmd/migrate

.PHONY: services
services: ## check (and start, when installed) PostgreSQL and RabbitMQ
	@infra/scripts/require-services.sh --start

.PHONY: test
test: services prometheus rabbitmq-metrics check-observability ## run every test: unit, PostgreSQL/RabbitMQ integration, image builds, platform
	@echo "==> go vet"
	@go vet $(MODULE)/...
	@echo "==> go test"
	@go test $(TEST_FLAGS) $(MODULE)/...

.PHONY: lint
lint: ## gofmt, go vet and govulncheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@go vet $(MODULE)/...
	@for dir in $$(go list -m -f '{{.Dir}}'); do (cd "$$dir" && go tool govulncheck ./...) || exit 1; done

.PHONY: deploy
deploy: ## deploy stack.yml to GATEWAY_URL (default http://127.0.0.1:8080)
	@$(FAAS_CLI) deploy -f stack.yml

.PHONY: bench
bench: bench-provider bench-orders ## benchmarks: each figure beside a baseline measured in the same run

.PHONY: clean
clean: ## remove build outputs
	@rm -rf build bin

-include infra/platform.mk
-include infra/observability.mk
-include infra/sims.mk
-include connectors/connectors.mk
-include e2e/e2e.mk
