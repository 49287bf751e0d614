// Command provider-bench measures the local provider against baselines from the same run
// (make bench-provider).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/faas-commerce/faas-commerce/infra/bench"
)

func main() {
	var cfg bench.Config
	flag.StringVar(&cfg.ProviderBin, "provider", "", "the provider program")
	flag.StringVar(&cfg.FunctionBin, "function", "", "the function binary to deploy and exec")
	flag.StringVar(&cfg.HeyBin, "hey", "", "the hey load generator")
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Second, "length of each warm load run")
	flag.IntVar(&cfg.Concurrency, "c", 32, "concurrent requests in the warm runs")
	flag.IntVar(&cfg.ColdRuns, "cold-runs", 20, "cold starts (and bare execs) measured")
	flag.Parse()
	if cfg.ProviderBin == "" || cfg.FunctionBin == "" || cfg.HeyBin == "" {
		fmt.Fprintln(os.Stderr, "provider-bench: -provider, -function and -hey are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := bench.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "provider-bench:", err)
		os.Exit(1)
	}
}
