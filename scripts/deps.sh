#!/usr/bin/env bash
# Installs the Debian packages Samsa needs, only those `dpkg -s` says are absent.
# Usage: scripts/deps.sh [package ...]   (default: the build's libraries)
set -euo pipefail
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(pkg-config liblz4-dev zlib1g-dev libsnappy-dev libzstd-dev)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# One `apt-get update` on a fresh machine (no package lists yet), or when an install fails for stale lists.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -E '^(lock|partial|auxfiles)$')" ]; then $sudo apt-get update -qq; fi
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }
