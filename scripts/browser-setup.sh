#!/usr/bin/env bash
# Install Debian's Chromium for the browser end-to-end tests (tests/browser/), when it is absent.
# Idempotent: does nothing but report when /usr/bin/chromium already exists.
# Needs root (or sudo) and access to the Debian package mirrors; downloads nothing else.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "browser-setup: $CHROMIUM already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')); nothing to do"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "browser-setup: $CHROMIUM is missing and this is not root (no sudo); install the Debian package 'chromium' by hand" >&2
    exit 1
  fi
fi

echo "browser-setup: $CHROMIUM not found; running apt-get update"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
echo "browser-setup: installing the Debian package 'chromium'"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

if [ ! -x "$CHROMIUM" ]; then
  echo "browser-setup: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "browser-setup: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
