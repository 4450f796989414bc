#!/usr/bin/env bash
# Installs what web-record needs from the system, then the npm dependencies.
# Idempotent: does nothing for what is already present. Called by `npm run demo` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || [ -n "${WEB_RECORD_CHROMIUM:-}" ] || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
# Xorg's dummy driver: the virtual screen that refreshes at the recording's frame rate
# (displayServer: 'xorg', see docs/configuration.md).
[ -x /usr/lib/xorg/Xorg ] || need+=(xserver-xorg-core)
[ -f /usr/lib/xorg/modules/drivers/dummy_drv.so ] || need+=(xserver-xorg-video-dummy)
command -v pulseaudio >/dev/null 2>&1 || need+=(pulseaudio)
command -v pactl >/dev/null 2>&1 || need+=(pulseaudio-utils)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  echo "web-record setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if ! { [ -f dist/index.js ] && [ -z "$(find src tsup.config.ts package.json -newer dist/index.js -print -quit)" ]; }; then
  echo "web-record setup: building" >&2
  log="$(mktemp)"
  npm run build --silent >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
  rm -f "$log"
fi
