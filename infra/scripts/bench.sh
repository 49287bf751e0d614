#!/usr/bin/env bash
# make bench-provider: builds the provider, a small echo function and hey (pinned in
# tools/load), then measures the provider beside baselines from the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-5}
out=$(realpath -m "${STATE_DIR:-.state}/bench")
mkdir -p "$out"
echo "==> building the provider, the bench function and hey"
infra/scripts/build-provider.sh "$out/provider"
gowork=
(cd infra && go list -m >/dev/null 2>&1) || gowork=off
(cd infra && GOWORK=$gowork go build -o "$out/bench-fn" ./testdata/echofn && GOWORK=$gowork go build -o "$out/provider-bench" ./cmd/provider-bench)
(cd tools/load && GOWORK=off go build -o "$out/hey" github.com/rakyll/hey)
"$out/provider-bench" -provider "$out/provider" -function "$out/bench-fn" -hey "$out/hey" -duration "${seconds}s"
