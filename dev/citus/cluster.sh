#!/usr/bin/env bash
# A local Citus cluster (distributed PostgreSQL): one coordinator and two workers, each its own
# initdb'd data directory with shared_preload_libraries='citus' on its own port of 127.0.0.1,
# run by the PostgreSQL 16 of the virtualenv's pgserver package. Citus itself (AGPL) is built
# from ../shared/vendor/citus into that PostgreSQL's folders, never into this repository.
#
#   cluster.sh build   build and install Citus into the PostgreSQL if it is not there yet
#   cluster.sh up      build (if needed) + init (first time) + start + join the nodes; idempotent;
#                      the last line of stdout is the coordinator's URL (use it as DATABASE_URL)
#   cluster.sh down    stop the nodes (fast shutdown); idempotent
#   cluster.sh destroy down + delete the data directories
#   cluster.sh status  pg_ctl status of each node and the coordinator's node list
#   cluster.sh url     the coordinator's URL
#   cluster.sh kill NODE    stop one node at once (immediate shutdown: a crash), e.g. w2; `up`
#                      starts it again (the tests' worker fault)
#
# Environment (all optional):
#   CITUS_PGBIN     PostgreSQL bin dir (default: the pgserver of .venv)
#   CITUS_SOURCE    folder with build-citus.sh and the source tarball (../shared/vendor/citus)
#   CITUS_DATA      where the data dirs live (default: .citus/ in the repository, ignored by git)
#   CITUS_PORT      coordinator port; the workers take +1 and +2 (default 9700; the embedded
#                   servers of the project and its tests listen on unix sockets only)
#   CITUS_DB        database created on every node (default logml)
#   CITUS_OS_USER   OS user that runs postgres when this runs as root (default pgserver, the
#                   user the pgserver package runs as; created if missing)
#   CITUS_SHARD_COUNT  shards per distributed table (default 8: 4 per worker; every shard is
#                   one task that plans the ~300 kB scoring statement again, see docs/internals/scale.md)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${CITUS_PGBIN:-$(echo "$root"/.venv/lib/python3*/site-packages/pgserver/pginstall/bin)}
SOURCE=${CITUS_SOURCE:-$root/../shared/vendor/citus}
DATA=${CITUS_DATA:-$root/.citus}
PORT=${CITUS_PORT:-9700}
DB=${CITUS_DB:-logml}
OS_USER=${CITUS_OS_USER:-pgserver}
SOCK=$DATA/run  # unix socket dir shared by the nodes (the ports differ)
NODES=(coord w1 w2)

port_of() { case $1 in coord) echo "$PORT" ;; w1) echo $((PORT + 1)) ;; w2) echo $((PORT + 2)) ;; esac; }

# postgres refuses to run as root
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$OS_USER" -- "$@"; else "$@"; fi; }

psql_node() {  # psql_node PORT DB SQL
    PGOPTIONS='-c client_min_messages=warning' "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$1" -U postgres -d "$2" -tAc "$3"
}

url() { echo "postgresql://postgres@127.0.0.1:$PORT/$DB"; }

# What Citus's configure needs: a header of each library -> the Debian package that ships it
# (SOURCE.txt beside the Citus source, docs/internals/scale.md).
BUILD_HEADERS=(curl/curl.h:libcurl4-openssl-dev lz4.h:liblz4-dev zstd.h:libzstd-dev
    openssl/ssl.h:libssl-dev krb5.h:libkrb5-dev)

# Checked before the build so that a missing package is named with the command that installs
# it, instead of configure's "libcurl not found" after the tarball is unpacked.
check_build_tools() {
    local missing=() tool pair
    for tool in gcc make; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if command -v gcc >/dev/null; then
        for pair in "${BUILD_HEADERS[@]}"; do
            printf '#include <%s>\n' "${pair%%:*}" | gcc -E -x c - >/dev/null 2>&1 \
                || missing+=("${pair#*:}")
        done
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "building Citus needs these system packages: ${missing[*]}" >&2
    echo "install them (Debian/Ubuntu, as root): apt-get install -y ${missing[*]}" >&2
    echo "then run this again" >&2
    exit 1
}

build() {
    [ -f "$PGBIN/../lib/postgresql/citus.so" ] && return 0
    [ -x "$PGBIN/pg_config" ] || { echo "no PostgreSQL at $PGBIN (make setup)" >&2; exit 1; }
    [ -f "$SOURCE/build-citus.sh" ] || { echo "no Citus source at $SOURCE" >&2; exit 1; }
    check_build_tools
    echo "building Citus from $SOURCE (a few minutes) ..." >&2
    bash "$SOURCE/build-citus.sh" "$PGBIN/pg_config" >&2
}

prepare_dirs() {
    mkdir -p "$DATA" "$SOCK"
    chmod 755 "$SOCK"
    if [ "$(id -u)" -eq 0 ]; then
        id "$OS_USER" >/dev/null 2>&1 || useradd -r -s /bin/bash "$OS_USER"
        # the user must traverse the path to its data directories
        local p=$DATA
        while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
        chown "$OS_USER": "$DATA" "$SOCK"
    fi
}

init_node() {  # init_node NAME
    local name=$1 dir=$DATA/$1
    [ -f "$dir/PG_VERSION" ] && return 0
    as_pg mkdir -p "$dir"
    as_pg "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$DATA/initdb-$name.log"
    as_pg tee -a "$dir/postgresql.conf" >/dev/null <<CONF

# ---- dev/citus/cluster.sh ($name) ----
shared_preload_libraries = 'citus'
port = $(port_of "$name")
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
shared_buffers = 128MB
jit = off
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 2GB
citus.shard_count = ${CITUS_SHARD_COUNT:-8}
# at most this many connections (= parallel shard tasks) per worker and statement: the scoring
# sets work_mem 256MB for each of them (2 cores here)
citus.max_adaptive_executor_pool_size = 4
# no usage reports to the outside
citus.enable_statistics_collection = off
log_min_messages = warning
log_line_prefix = '%m [%p] $name '
CONF
}

running() { as_pg "$PGBIN/pg_ctl" -D "$DATA/$1" status >/dev/null 2>&1; }

start_node() {
    running "$1" || as_pg "$PGBIN/pg_ctl" -D "$DATA/$1" -w -t 120 -l "$DATA/$1/server.log" start >/dev/null
}

stop_node() {
    if [ -f "$DATA/$1/PG_VERSION" ] && running "$1"; then
        as_pg "$PGBIN/pg_ctl" -D "$DATA/$1" -w -t 120 -m fast stop >/dev/null
        echo "stopped $1" >&2
    fi
}

up() {
    build
    prepare_dirs
    for n in "${NODES[@]}"; do init_node "$n"; done
    for n in "${NODES[@]}"; do start_node "$n"; done
    for n in "${NODES[@]}"; do
        local p
        p=$(port_of "$n")
        [ "$(psql_node "$p" postgres "select count(*) from pg_database where datname = '$DB'")" = 1 ] \
            || psql_node "$p" postgres "create database \"$DB\""
        psql_node "$p" "$DB" "create extension if not exists citus"
    done
    # workers connect back to the coordinator (it holds a copy of every reference table)
    psql_node "$PORT" "$DB" "select citus_set_coordinator_host('127.0.0.1', $PORT)" >/dev/null
    for n in w1 w2; do
        p=$(port_of "$n")
        [ "$(psql_node "$PORT" "$DB" "select count(*) from pg_dist_node where nodeport = $p")" = 1 ] \
            || psql_node "$PORT" "$DB" "select citus_add_node('127.0.0.1', $p)" >/dev/null
    done
    url
}

status() {
    for n in "${NODES[@]}"; do
        printf '%-6s port %s: ' "$n" "$(port_of "$n")"
        as_pg "$PGBIN/pg_ctl" -D "$DATA/$n" status 2>&1 | head -1 || true
    done
    psql_node "$PORT" "$DB" "select nodename, nodeport, groupid, isactive from pg_dist_node order by nodeid" || true
}

case ${1:-} in
    build) build ;;
    up) up ;;
    down) for n in "${NODES[@]}"; do stop_node "$n"; done ;;
    destroy) for n in "${NODES[@]}"; do stop_node "$n"; done; rm -rf "$DATA" ;;
    status) status ;;
    url) url ;;
    kill) as_pg "$PGBIN/pg_ctl" -D "$DATA/${2:?usage: $0 kill coord|w1|w2}" -w -m immediate stop >/dev/null ;;
    *) echo "usage: $0 build|up|down|destroy|status|url|kill NODE" >&2; exit 2 ;;
esac
