# Sourced by the suites that run against a ClickHouse-backed `hive serve`
# (tests/compat/run.sh, tests/browser/run.sh): starts a ClickHouse server
# of the suite's own on 127.0.0.1 with its own configuration, ports and
# data directory, the same way crates/hive/tests/support/mod.rs does.
#
#   start_clickhouse          # ClickHouse 18.16 (Debian's clickhouse-server,
#                             # or $CLICKHOUSE_SERVER)
#   start_chdb                # ClickHouse 26.9 in process (chdb-core, .venv-chdb)
#                             # behind tests/clickhouse_http/chdb_server.py
#
# Either sets HIVE_TEST_CLICKHOUSE to http://hive:hive-test@127.0.0.1:PORT
# (no database: each test picks its own) and stops the server when the
# calling shell exits.

_ch_root=""
_ch_pid=""

_stop_clickhouse() {
  if [ -n "$_ch_pid" ]; then
    kill -9 "$_ch_pid" 2>/dev/null || true
    wait "$_ch_pid" 2>/dev/null || true
  fi
  [ -n "$_ch_root" ] && rm -rf "$_ch_root"
}

# The answer of a statement to the server at $1 (as the default user).
_ch_query() {
  python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode()), timeout=5).read().decode().strip())' "$1" "$2" 2>/dev/null
}

_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_clickhouse() {
  local bin="${CLICKHOUSE_SERVER:-/usr/sbin/clickhouse-server}"
  if [ ! -x "$bin" ]; then
    echo "error: $bin not found: apt-get install -y clickhouse-server (or set CLICKHOUSE_SERVER)" >&2
    return 1
  fi
  _ch_root=$(mktemp -d "${TMPDIR:-/tmp}/hive-clickhouse-XXXXXX")
  trap _stop_clickhouse EXIT
  local http tcp
  http=$(_free_port)
  tcp=$(_free_port)
  cat >"$_ch_root/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    <hive><password>hive-test</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></hive>
  </users>
  <quotas><default></default></quotas>
</yandex>
XML
  cat >"$_ch_root/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <path>$_ch_root/data/</path>
  <tmp_path>$_ch_root/data/tmp/</tmp_path>
  <mark_cache_size>67108864</mark_cache_size>
  <!-- As deploy/clickhouse/ recommends (ADR 0015). -->
  <compression><case><min_part_size>0</min_part_size><min_part_size_ratio>0</min_part_size_ratio><method>zstd</method><level>3</level></case></compression>
  <users_config>$_ch_root/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>
XML
  "$bin" --config-file="$_ch_root/config.xml" >"$_ch_root/server.log" 2>&1 &
  _ch_pid=$!
  local i
  for i in $(seq 1 600); do
    if _ch_query "http://127.0.0.1:$http/" 'SELECT 1' >/dev/null; then
      HIVE_TEST_CLICKHOUSE="http://hive:hive-test@127.0.0.1:$http"
      export HIVE_TEST_CLICKHOUSE
      echo "ClickHouse $(_ch_query "http://127.0.0.1:$http/" 'SELECT version()') on 127.0.0.1:$http"
      return 0
    fi
    kill -0 "$_ch_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "error: clickhouse-server did not start:" >&2
  cat "$_ch_root/server.log" >&2
  return 1
}

start_chdb() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local venv="$repo/.venv-chdb"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import chdb" 2>/dev/null; then
    "${PYTHON_BIN:-python3}" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$repo/tests/clickhouse_http/requirements.txt"
  fi
  _ch_root=$(mktemp -d "${TMPDIR:-/tmp}/hive-chdb-XXXXXX")
  trap _stop_clickhouse EXIT
  "$venv/bin/python" "$repo/tests/clickhouse_http/chdb_server.py" --path "$_ch_root/engine" --port 0 \
    --user hive --password hive-test >"$_ch_root/server.log" 2>&1 &
  _ch_pid=$!
  local i url=""
  for i in $(seq 1 600); do
    url=$(sed -n 's|^listening on http://||p' "$_ch_root/server.log")
    if [ -n "$url" ]; then
      HIVE_TEST_CLICKHOUSE="http://hive:hive-test@$url"
      export HIVE_TEST_CLICKHOUSE
      sed -n 's/^engine: //p' "$_ch_root/server.log"
      return 0
    fi
    kill -0 "$_ch_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "error: chdb_server.py did not start:" >&2
  cat "$_ch_root/server.log" >&2
  return 1
}
