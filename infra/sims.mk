# The outside systems the functions talk to, simulated for development: a payment provider
# (infra/paymentsim), an SMS provider (infra/smssim) and an SMTP catcher (infra/mailsim), each a
# small process on loopback. Included by the top Makefile; `make up` runs `sims-up` and creates
# the payment-api-key secret from $(SIMS_DIR)/payment-api-key.
#
#   make sims        build them to bin/
#   make sims-up     start them (kept if already running), wait until each answers /healthz
#   make sims-down   stop them
#   make mail        list the mail sent so far (JSON); `make texts` the SMS, `make charges` the charges

STATE_DIR       ?= .state
SIMS_DIR        ?= $(STATE_DIR)/sims
PAYMENTSIM_ADDR ?= 127.0.0.1:8091
SMSSIM_ADDR     ?= 127.0.0.1:8092
MAILSIM_SMTP    ?= 127.0.0.1:1025
MAILSIM_HTTP    ?= 127.0.0.1:8025
# Dev decline rule: amounts (in minor units) ending in these digits are declined, e.g. 10.13 EUR.
PAYMENTSIM_DECLINE_SUFFIX ?= 13
SIMS            := paymentsim smssim mailsim

.PHONY: sims
sims: ## build the payment, SMS and SMTP simulators to bin/
	@mkdir -p bin
	@for s in $(SIMS); do \
		printf '==> building %-20s bin/%s\n' "$$s" "$$s"; \
		(cd infra && go build -o ../bin/$$s ./cmd/$$s) || exit 1; \
	done

.PHONY: sims-up
sims-up: sims ## start the simulators on loopback (logs and pids in $(SIMS_DIR))
	@mkdir -p "$(SIMS_DIR)"
	@test -s "$(SIMS_DIR)/payment-api-key" || { umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$(SIMS_DIR)/payment-api-key"; }
	@start() { name=$$1 health=$$2; shift 2; \
		if [ -f "$(SIMS_DIR)/$$name.pid" ] && kill -0 "$$(cat "$(SIMS_DIR)/$$name.pid")" 2>/dev/null; then \
			echo "==> $$name already running (pid $$(cat "$(SIMS_DIR)/$$name.pid"))"; \
		else \
			echo "==> starting $$name (log: $(SIMS_DIR)/$$name.log)"; \
			env OTEL_TRACES_EXPORTER="$${OTEL_TRACES_EXPORTER:-zipkin}" "$$@" setsid bin/$$name >>"$(SIMS_DIR)/$$name.log" 2>&1 </dev/null & echo $$! >"$(SIMS_DIR)/$$name.pid"; \
		fi; \
		for _ in $$(seq 1 100); do curl -fsS -o /dev/null "http://$$health/healthz" 2>/dev/null && return 0; sleep 0.1; done; \
		echo "$$name does not answer on $$health; last lines of $(SIMS_DIR)/$$name.log:" >&2; tail -n 20 "$(SIMS_DIR)/$$name.log" >&2; return 1; }; \
	start paymentsim $(PAYMENTSIM_ADDR) PAYMENTSIM_ADDR=$(PAYMENTSIM_ADDR) \
		PAYMENTSIM_API_KEY_FILE="$(abspath $(SIMS_DIR))/payment-api-key" PAYMENTSIM_DECLINE_SUFFIX=$(PAYMENTSIM_DECLINE_SUFFIX); \
	start smssim $(SMSSIM_ADDR) SMSSIM_ADDR=$(SMSSIM_ADDR); \
	start mailsim $(MAILSIM_HTTP) MAILSIM_SMTP_ADDR=$(MAILSIM_SMTP) MAILSIM_HTTP_ADDR=$(MAILSIM_HTTP); \
	echo "==> payments http://$(PAYMENTSIM_ADDR)  SMS http://$(SMSSIM_ADDR)  SMTP $(MAILSIM_SMTP)  mail http://$(MAILSIM_HTTP)/v1/messages"

.PHONY: sims-down
sims-down: ## stop the simulators
	@for s in $(SIMS); do \
		pidfile="$(SIMS_DIR)/$$s.pid"; \
		if [ -f "$$pidfile" ] && kill -0 "$$(cat "$$pidfile")" 2>/dev/null; then \
			echo "==> stopping $$s"; kill "$$(cat "$$pidfile")"; \
		fi; \
		rm -f "$$pidfile"; \
	done

.PHONY: mail
mail: ## list the mail the functions sent (the SMTP catcher's HTTP API)
	@curl -fsS "http://$(MAILSIM_HTTP)/v1/messages"

.PHONY: texts
texts: ## list the SMS the functions sent
	@curl -fsS "http://$(SMSSIM_ADDR)/v1/messages"

.PHONY: charges
charges: ## list the charges the payment simulator made
	@curl -fsS -H "Authorization: Bearer $$(cat "$(SIMS_DIR)/payment-api-key")" "http://$(PAYMENTSIM_ADDR)/v1/charges"
