#!/usr/bin/env bash
# The test command (`npm test`, after scripts/setup.sh): types, API report, then every test file
# one at a time against real Chromium, ffmpeg, Redis and HTTP servers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "test: starting redis-server on 127.0.0.1:6379" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

npx tsc --noEmit -p .
# The public API reports (etc/web-record*.api.md, one per entry point) are committed: CI fails
# when the API changed without them; a local run updates them so the change shows in the diff.
node scripts/api-report.mjs
npx vitest run "$@"
