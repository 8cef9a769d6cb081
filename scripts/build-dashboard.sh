#!/usr/bin/env bash
# Builds the dashboard (dashboard/ → dashboard/dist) that `stackhouse serve` serves at `/`:
# installs its npm packages from the lock file when they changed (npm ci), type-checks, and
# runs Vite. Release builds of the binary embed dashboard/dist, so run this before
# `cargo build --release`; debug builds read dashboard/dist at run time.
set -euo pipefail
cd "$(dirname "$0")/../dashboard"

command -v npm >/dev/null || { echo "node and npm (Node.js >= 20) are needed to build the dashboard" >&2; exit 1; }
if ! cmp -s package-lock.json node_modules/.package-lock.json.installed; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.package-lock.json.installed
fi
npm run --silent build
