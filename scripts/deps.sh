#!/usr/bin/env bash
# Installs the Debian packages the given commands come from, when missing:
#   scripts/deps.sh redis-server tshark freeDiameterd promtool
# Uses sudo when not root. Does nothing when every command is present.
set -euo pipefail

declare -A pkg=(
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [tshark]=tshark
  [dumpcap]=wireshark-common
  [freeDiameterd]="freediameterd freediameter-extensions"
  [curl]=curl
  [h2load]=nghttp2-client
  [promtool]=prometheus
  [podman]="podman runc"
  [runc]=runc
  [podman-compose]=podman-compose
  [update-ca-certificates]=ca-certificates
  [systemd-analyze]=systemd
  [ip]=iproute2
)

missing=()
for cmd in "$@"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ]; then
    missing+=(${pkg[$cmd]:-$cmd})
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "deps: missing packages ${missing[*]} and not root (no sudo): install them with apt-get" >&2
    exit 1
  fi
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
