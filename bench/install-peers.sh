#!/usr/bin/env bash
# Installs the peer brokers the benchmark compares Sluice with, from Debian's packages,
# when they are missing. Needs root (the machines here run as root). The services the
# packages start are stopped and disabled: the benchmark runs its own instances on
# loopback, on non-default ports, with temporary data directories.
set -euo pipefail

missing=()
# The server script bench/peers/rabbitmq.ts starts.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 keeps the packages' own services from starting during install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
cleanup() { [ "$created_policy" = 1 ] && rm -f "$policy"; }
trap cleanup EXIT
apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq -o DPkg::Lock::Timeout=600
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}"
}
