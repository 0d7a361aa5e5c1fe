#!/usr/bin/env bash
# Prepares the handover checkout this script is in, for CI: npm dependencies, the build, and (unless
# --no-host) the host packages through `handover doctor --fix` (apt-get: run it as root, as the CI
# jobs do in their Debian container).
set -euo pipefail
cd "$(dirname "$0")/../.."
npm ci --no-audit --no-fund
npm run build
if [ "${1:-}" != "--no-host" ]; then
  # HANDOVER_ARCH=arm64: also the aarch64 QEMU and cross compiler (x86-only runs do not pay for them).
  if [ -n "${HANDOVER_ARCH:-}" ]; then
    node bin/handover.js doctor --fix --arches "$HANDOVER_ARCH"
  else
    node bin/handover.js doctor --fix
  fi
fi
