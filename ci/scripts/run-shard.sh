#!/usr/bin/env bash
# One shard of the handover suite in CI: turns the HANDOVER_* variables into a `handover run`
# command line (shared by the GitHub workflow and the GitLab template) and prints it first.
#
#   HANDOVER_BIN        the CLI (path to bin/handover.js of a built checkout)         required
#   HANDOVER_KERNEL     kernel spec: debian:linux-source-X.Y[@suite], git:<repo>#<ref>, path:<dir>
#   HANDOVER_ARCH       guest architecture: x86_64 or arm64 (default: the runner's; arm64 on an
#                       x86_64 runner is a cross build booted under qemu-system-aarch64, TCG)
#   HANDOVER_SCENARIOS  scenario names or files, space-separated (empty: the shipped suite)
#   HANDOVER_CONFIG     config fragment files or CONFIG_X=val items, space-separated
#   HANDOVER_PROFILES   built-in profiles (debug, kasan), space-separated
#   HANDOVER_SHARD      this shard, 1-based (default 1)
#   HANDOVER_SHARDS     how many shards (default 1)
#   HANDOVER_JOBS       VMs at once in this shard (default: handover's)
#   HANDOVER_OUTPUT     results folder (default handover-results)
#   HANDOVER_CACHE_MAX_SIZE  what the build cache may hold once the shard is done (default 20G;
#                       `handover cache gc` removes least recently used entries, so the CI cache
#                       saved after the job stays bounded)
#
# A nightly's comparison with the previous night is made on the merged results (merge-reports
# --baseline/--history), never per shard: a shard holds only part of the suite.
# Exits with handover's exit code (0 passed, 1 a check failed, 2 bad input, 3-6 infrastructure).
set -euo pipefail

: "${HANDOVER_BIN:?set HANDOVER_BIN to bin/handover.js of a built handover checkout}"
: "${HANDOVER_KERNEL:?set HANDOVER_KERNEL to a kernel spec}"

args=(run)
read -r -a scenarios <<<"${HANDOVER_SCENARIOS:-}"
args+=("${scenarios[@]}")
args+=(--kernel "$HANDOVER_KERNEL")
if [ -n "${HANDOVER_ARCH:-}" ]; then args+=(--arch "$HANDOVER_ARCH"); fi
read -r -a configs <<<"${HANDOVER_CONFIG:-}"
for c in "${configs[@]}"; do args+=(--config "$c"); done
read -r -a profiles <<<"${HANDOVER_PROFILES:-}"
for p in "${profiles[@]}"; do args+=(--profile "$p"); done
args+=(--shard "${HANDOVER_SHARD:-1}/${HANDOVER_SHARDS:-1}")
if [ -n "${HANDOVER_JOBS:-}" ]; then args+=(--jobs "$HANDOVER_JOBS"); fi
args+=(--reporter console,junit,json,ktap,html --output "${HANDOVER_OUTPUT:-handover-results}")

printf 'handover'
printf ' %q' "${args[@]}"
printf '\n'
set +e
node "$HANDOVER_BIN" "${args[@]}"
rc=$?
set -e
node "$HANDOVER_BIN" cache gc --max-size "${HANDOVER_CACHE_MAX_SIZE:-20G}" || echo "handover cache gc failed (the results stand)" >&2
exit "$rc"
