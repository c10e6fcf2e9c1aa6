#!/usr/bin/env bash
# Install Debian's Django (and psycopg2 for PostgreSQL) for the Django interop tests, when absent.
# Idempotent; needs root (or sudo) and Debian's package mirrors; downloads nothing else.
set -euo pipefail
if /usr/bin/python3 -c "import django, psycopg2" >/dev/null 2>&1; then
  echo "django-setup: Django $(/usr/bin/python3 -c 'import django; print(django.get_version())') already installed; nothing to do"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "django-setup: python3-django is missing and this is not root (no sudo); install python3-django python3-psycopg2 by hand" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq python3-django python3-psycopg2
/usr/bin/python3 -c "import django; print('django-setup: Django', django.get_version())"
