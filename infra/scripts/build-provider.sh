#!/usr/bin/env bash
# Builds the local provider to $1. Works whether or not go.work lists ./infra.
set -euo pipefail
out=$(realpath -m "${1:?output path}")
cd "$(dirname "$0")/.."
mkdir -p "$(dirname "$out")"
if go list -m >/dev/null 2>&1; then
	go build -o "$out" ./cmd/provider
else
	GOWORK=off go build -o "$out" ./cmd/provider
fi
