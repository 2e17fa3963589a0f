#!/usr/bin/env bash
# Installs the Debian packages the Ceph test tier needs (a one-monitor, one-OSD
# cluster plus radosgw). Idempotent: does nothing when everything is present.
set -euo pipefail

PACKAGES=(ceph-mon ceph-osd radosgw ceph-common uuid-runtime)
NEEDED_COMMANDS=(radosgw ceph-mon ceph-osd ceph monmaptool radosgw-admin uuidgen)

missing=0
for c in "${NEEDED_COMMANDS[@]}"; do
  if ! command -v "$c" >/dev/null 2>&1; then
    missing=1
    break
  fi
done

if [ "$missing" -eq 0 ]; then
  echo "install-deps: ceph packages already installed ($(radosgw --version 2>/dev/null | head -n1 || echo radosgw))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: not root and no sudo; cannot install ${PACKAGES[*]}" >&2
    exit 1
  fi
fi

start=$(date +%s)
echo "install-deps: installing ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PACKAGES[@]}"

for c in "${NEEDED_COMMANDS[@]}"; do
  if ! command -v "$c" >/dev/null 2>&1; then
    echo "install-deps: '$c' still missing after install" >&2
    exit 1
  fi
done
echo "install-deps: done in $(( $(date +%s) - start ))s"
