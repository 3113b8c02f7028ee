#!/usr/bin/env bash
# Start what the test suite needs if it is not running: PostgreSQL, Redis, Debian's chromium.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ ! -f /var/lib/apt/periodic/threadline-updated ]; then
    apt-get update -qq && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/threadline-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL (trust auth on 127.0.0.1:5432)
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  have pg_ctlcluster || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "PostgreSQL did not start" >&2; exit 1; }

# Redis
if ! (have redis-cli && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1); then
  have redis-server || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

# Debian's chromium for the browser tests (never a downloaded browser)
[ -x /usr/bin/chromium ] || apt_install chromium
echo "services ready: postgresql, redis, chromium"

# --- email: Debian's dovecot, a real IMAP server the email tests start privately ---------
[ -x /usr/sbin/dovecot ] || apt_install dovecot-imapd
