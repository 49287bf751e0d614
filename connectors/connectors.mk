# The connectors: the outbox relay and the RabbitMQ connector. Included by the top Makefile.
# `make up` runs connectors-up after the provider is up and stack.yml is deployed;
# `make down` runs connectors-down before the provider stops.

STATE_DIR        ?= .state
PROVIDER_ADDR    ?= 127.0.0.1:8080
CONNECTORS_FLAGS ?= -count=1 -timeout 5m

export STATE_DIR PROVIDER_ADDR

.PHONY: build-connectors
build-connectors: ## build the outbox relay and the RabbitMQ connector to bin/
	@mkdir -p bin
	@cd connectors && go build -o ../bin/relay ./cmd/relay && go build -o ../bin/rabbitmq-connector ./cmd/rabbitmq-connector
	@echo "==> bin/relay bin/rabbitmq-connector"

.PHONY: test-connectors
test-connectors: ## test the relay, the connector and shared/broker against PostgreSQL and RabbitMQ
	@echo "==> go vet ./connectors/... ./shared/broker/..."
	@cd connectors && go vet ./...
	@cd shared && go vet ./broker/...
	@echo "==> go test ./connectors/... ./shared/broker/..."
	@cd connectors && go test $(CONNECTORS_FLAGS) ./...
	@cd shared && go test $(CONNECTORS_FLAGS) ./broker/...

.PHONY: connectors-up
connectors-up: build-connectors ## start the relay and the connector in the background (part of make up)
	@connectors/scripts/up.sh

.PHONY: connectors-down
connectors-down: ## stop the relay and the connector (part of make down)
	@connectors/scripts/down.sh

.PHONY: dlq
dlq: ## list dead-lettered messages (FUNCTION=name to pick one)
	@SECRETS_DIR=$(STATE_DIR)/auth GATEWAY_URL=http://$(PROVIDER_ADDR) bin/rabbitmq-connector dlq list $(if $(FUNCTION),--function $(FUNCTION))
