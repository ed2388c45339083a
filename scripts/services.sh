#!/bin/sh
# Make sure the services the test suite talks to are answering on 127.0.0.1:
#   PostgreSQL 5432 (user postgres, trust auth over TCP), Redis 6379, RabbitMQ 5672 (guest/guest).
# For each: check it answers; if not, start it (the machine's own start commands); if it is not
# installed, apt-get install it; wait with a bounded loop. One line per service on stdout.
# Fast no-op when everything runs. Never waits forever. Exit 1 if any service is still down.
# POSIX sh. Env: SERVICES="postgres redis rabbitmq" to choose, SERVICES_WAIT=60 (seconds).
set -u

HOST=127.0.0.1
WAIT=${SERVICES_WAIT:-60}
SERVICES=${SERVICES:-tools postgres redis rabbitmq}

if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    SUDO=""
fi

if command -v timeout >/dev/null 2>&1; then
    T="timeout"
else
    T=""
fi
# run a command with a deadline (seconds) when coreutils' timeout exists
bounded() { secs=$1; shift; if [ -n "$T" ]; then timeout "$secs" "$@"; else "$@"; fi; }

log() { echo "services: $*" >&2; }

APT_UPDATED=""
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not available; install $* yourself"
        return 1
    fi
    log "installing $* with apt-get"
    if [ -z "$APT_UPDATED" ]; then
        bounded 300 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 \
            update -qq >/dev/null 2>&1 || true
        APT_UPDATED=1
    fi
    bounded 900 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 \
        install -y -qq --no-install-recommends "$@" >/dev/null
}

# wait_for SECONDS CMD...: poll CMD once a second until it succeeds or time runs out
wait_for() {
    deadline=$1; shift
    i=0
    while [ "$i" -lt "$deadline" ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
        i=$((i + 1))
    done
    "$@" >/dev/null 2>&1
}

tcp_open() {  # tcp_open PORT: does something accept a TCP connection on HOST:PORT?
    bounded 5 python3 - "$HOST" "$1" <<'PY' >/dev/null 2>&1
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
PY
}

# ---------------------------------------------------------------- PostgreSQL
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }
pg_up() { bounded 5 pg_isready -q -h "$HOST" -p 5432 -t 2; }
pg_login() { bounded 10 psql -h "$HOST" -p 5432 -U postgres -w -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; }

pg_trust_localhost() {
    v=$(pg_version)
    hba=/etc/postgresql/$v/main/pg_hba.conf
    [ -f "$hba" ] || { log "no $hba"; return 1; }
    if ! grep -q '^host[[:space:]]*all[[:space:]]*all[[:space:]]*127.0.0.1/32[[:space:]]*trust' "$hba"; then
        log "configuring trust auth for 127.0.0.1 and ::1 in $hba"
        tmp=$(mktemp)
        { echo "# added by opsbook scripts/services.sh: trust local TCP connections (tests)"
          echo "host    all             all             127.0.0.1/32            trust"
          echo "host    all             all             ::1/128                 trust"
          cat "$hba"; } >"$tmp"
        $SUDO cp "$tmp" "$hba"
        rm -f "$tmp"
    fi
    bounded 30 $SUDO pg_ctlcluster --skip-systemctl-redirect "$v" main reload >/dev/null 2>&1 || true
    wait_for 10 pg_login
}

ensure_postgres() {
    if ! command -v pg_isready >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1 \
        || [ -z "$(pg_version)" ]; then
        apt_install postgresql postgresql-client || { echo "postgres: NOT INSTALLED (apt-get failed)"; return 1; }
    fi
    state=running
    if ! pg_up; then
        state=started
        v=$(pg_version)
        if [ -z "$v" ]; then echo "postgres: NO CLUSTER under /etc/postgresql"; return 1; fi
        log "starting PostgreSQL $v"
        bounded 60 $SUDO pg_ctlcluster --skip-systemctl-redirect "$v" main start >&2 || true
        if ! wait_for "$WAIT" pg_up; then
            echo "postgres: DOWN ($HOST:5432 not ready after ${WAIT}s)"; return 1
        fi
    fi
    if ! pg_login; then
        pg_trust_localhost || { echo "postgres: UP but user postgres cannot log in on $HOST without a password"; return 1; }
        state="$state, trust auth configured"
    fi
    # the machine image has a database named test; a fresh install does not
    if [ "$(psql -h "$HOST" -U postgres -w -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null)" != 1 ]; then
        psql -h "$HOST" -U postgres -w -d postgres -qc 'CREATE DATABASE test' >/dev/null 2>&1 || true
    fi
    echo "postgres: ok ($state, $HOST:5432)"
}

# ---------------------------------------------------------------- Redis
redis_up() { [ "$(bounded 5 redis-cli -h "$HOST" -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        apt_install redis-server || { echo "redis: NOT INSTALLED (apt-get failed)"; return 1; }
        # Debian's package may have started its own (systemd-less: usually not); fine either way
    fi
    if redis_up; then echo "redis: ok (running, $HOST:6379)"; return 0; fi
    log "starting Redis"
    $SUDO mkdir -p /var/lib/redis /var/log/redis
    # the machine notes' exact command: no persistence, loopback only
    bounded 30 $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 || true
    if wait_for "$WAIT" redis_up; then
        echo "redis: ok (started, $HOST:6379)"
    else
        echo "redis: DOWN ($HOST:6379 not answering PING after ${WAIT}s)"; return 1
    fi
}

# ---------------------------------------------------------------- RabbitMQ
rabbit_up() { tcp_open 5672; }

ensure_rabbitmq() {
    if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
        apt_install rabbitmq-server || { echo "rabbitmq: NOT INSTALLED (apt-get failed)"; return 1; }
    fi
    if rabbit_up; then echo "rabbitmq: ok (running, $HOST:5672)"; return 0; fi
    log "starting RabbitMQ (takes 10-20 s)"
    PATH="$PATH:/usr/sbin"
    bounded 60 $SUDO rabbitmq-server -detached >&2 || true
    # RabbitMQ boots slowly; give it at least 90 s
    w=$WAIT; [ "$w" -lt 90 ] && w=90
    if wait_for "$w" rabbit_up; then
        echo "rabbitmq: ok (started, $HOST:5672)"
    else
        echo "rabbitmq: DOWN ($HOST:5672 not accepting after ${w}s)"; return 1
    fi
}

# ---------------------------------------------------------------- command-line tools
# binaries the tests run: pg_dump/pg_restore (backups, drills), age/age-keygen (encryption),
# zstd (the manual restore path), prometheus (a real PromQL source for alert rules),
# chromium (the dashboard's browser tests) and jq/rg (bench/logs.py's peers). Installed from Debian packages when missing.
ensure_tools() {
    missing=""
    command -v pg_dump >/dev/null 2>&1 && command -v pg_restore >/dev/null 2>&1 \
        || missing="$missing postgresql-client"
    command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || missing="$missing age"
    command -v zstd >/dev/null 2>&1 || missing="$missing zstd"
    command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
    [ -x /usr/bin/chromium ] || missing="$missing chromium"
    # the peers bench/logs.py measures `opsbook logs` against
    command -v jq >/dev/null 2>&1 || missing="$missing jq"
    command -v rg >/dev/null 2>&1 || missing="$missing ripgrep"
    if [ -z "$missing" ]; then echo "tools: ok (pg_dump, age, zstd, prometheus, chromium, jq, rg)"; return 0; fi
    # shellcheck disable=SC2086
    apt_install $missing || { echo "tools: MISSING$missing (apt-get failed)"; return 1; }
    echo "tools: ok (installed$missing)"
}

rc=0
for s in $SERVICES; do
    case $s in
        tools) ensure_tools || rc=1 ;;
        postgres|postgresql) ensure_postgres || rc=1 ;;
        redis) ensure_redis || rc=1 ;;
        rabbitmq|amqp) ensure_rabbitmq || rc=1 ;;
        *) echo "$s: unknown service (known: tools postgres redis rabbitmq)"; rc=1 ;;
    esac
done
exit $rc
