# e2e.mk: benchmarks of the whole running platform (included by the top Makefile).

BENCH_ORDERS_PHASE ?= 20s

.PHONY: bench-orders
bench-orders: ## benchmark orders on the running platform: completed orders/s, latency at half that rate, commits per order beside pgbench -N TPS
	@cd e2e && BENCH_ORDERS_PHASE=$(BENCH_ORDERS_PHASE) go test -count=1 -run '^$$' -bench '^BenchmarkOrders$$' -benchtime 1x -timeout 20m ./bench/
