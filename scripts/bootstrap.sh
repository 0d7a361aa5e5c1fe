#!/usr/bin/env bash
# Make a checkout runnable: npm dependencies when the lock file changed, dist/ when a source changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f dist/cli.js ] || [ -n "$(find orchestrator tsconfig.json tsconfig.build.json package.json -newer dist/cli.js -print -quit)" ]; then
  rm -rf dist
  npx tsc -p tsconfig.build.json
fi
