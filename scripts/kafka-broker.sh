#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller)
# for agentmem's tests. The broker's jars come from Maven Central through
# Maven (scripts/kafka/pom.xml); nothing is downloaded at start.
#
#   scripts/kafka-broker.sh install
#   scripts/kafka-broker.sh start  [--dir DIR] [--port PORT] [--partitions N] [--timeout S]
#   scripts/kafka-broker.sh stop   [--dir DIR] [--clean]
#   scripts/kafka-broker.sh status [--dir DIR]
#   scripts/kafka-broker.sh create-topic NAME [--dir DIR] [--partitions N]
#
# start prints the bootstrap address (127.0.0.1:PORT) and writes it to
# DIR/bootstrap. See docs/kafka-broker.md.
#
# Environment: KAFKA_VERSION (default below), AGENTMEM_KAFKA_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/agentmem-kafka), KAFKA_HEAP_OPTS (default
# -Xms128m -Xmx512m), KAFKA_OPTS (more broker JVM options), JAVA_HOME (else
# `java` on PATH).
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-3.7.2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/kafka/pom.xml"
PROPS_TEMPLATE="$HERE/kafka/server.properties.in"
LOG4J_TEMPLATE="$HERE/kafka/log4j.properties"
TOOLS_LOG4J="$HERE/kafka/tools-log4j.properties"
CACHE_ROOT="${AGENTMEM_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmem-kafka}"
LIBS="$CACHE_ROOT/$KAFKA_VERSION/libs"
STAMP="$LIBS/.installed"
DEFAULT_DIR=/tmp/agentmem-kafka
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
# What the Kafka distribution's kafka-run-class.sh uses.
JVM_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true"

log() { printf 'kafka-broker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- install

# Fingerprint of what the libs folder was resolved from: a changed pom or
# version reinstalls.
install_fingerprint() {
  { echo "$KAFKA_VERSION"; cat "$POM"; } | sha256sum | cut -d' ' -f1
}

is_installed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(install_fingerprint)" ]]
}

cmd_install() {
  [[ $# -eq 0 ]] || usage
  command -v "$JAVA" >/dev/null || die "java not found (apt-get install openjdk-17-jre-headless)"
  mkdir -p "$CACHE_ROOT"
  # Concurrent installs (parallel test jobs) take turns.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_ROOT/.install.lock"
    flock 9
  fi
  if is_installed; then
    log "Kafka $KAFKA_VERSION already installed in $LIBS"
  else
    resolve_libs
  fi
  [[ "${AGENTMEM_KAFKA_CDS:-1}" == 0 ]] || build_cds_archive
}

resolve_libs() {
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  local tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp' '$tmp.log'" EXIT
  local mvn_args=(-B -q -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION"
    dependency:copy-dependencies -DincludeScope=runtime
    -DoutputDirectory="$tmp")
  # Offline first: a warm ~/.m2 needs no network at all.
  log "resolving Kafka $KAFKA_VERSION with Maven into $LIBS"
  if ! mvn -o "${mvn_args[@]}" >/dev/null 2>&1; then
    rm -rf "$tmp" && mkdir -p "$tmp"
    mvn "${mvn_args[@]}" >"$tmp.log" 2>&1 \
      || { cat "$tmp.log" >&2; rm -f "$tmp.log"; die "mvn could not resolve Kafka $KAFKA_VERSION"; }
    rm -f "$tmp.log"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] \
    || die "kafka_2.13-$KAFKA_VERSION.jar missing after resolution"
  install_fingerprint >"$tmp/.installed"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  trap - EXIT
  local jars=("$LIBS"/*.jar)
  log "installed Kafka $KAFKA_VERSION (${#jars[@]} jars) in $LIBS"
}

# Class-data sharing: an archive of the classes a broker loads, recorded
# once per JDK in LIBS/.cds by a throwaway broker (start, a produce and a
# group consume, stop). Starting with it is about twice as fast (JVM class
# loading dominates start on 2 cores). It is tied to the JDK build and to the
# jars in LIBS (a reinstall drops it); a JVM that finds it stale ignores it.
cds_archive() {
  local fp
  fp="$({ readlink -f "$(command -v "$JAVA")"; "$JAVA" -version 2>&1; } \
        | sha256sum | cut -c1-12)"
  echo "$LIBS/.cds/broker-$fp.jsa"
}

# JVM options that use the archive, if there is one and it is not disabled.
cds_opts() {
  [[ "${AGENTMEM_KAFKA_CDS:-1}" == 0 ]] && return 0
  local jsa
  jsa="$(cds_archive)"
  # A stale archive only costs the speed-up; its warning goes to stderr, not
  # to a tool's stdout.
  if [[ -f "$jsa" ]]; then
    echo "-XX:SharedArchiveFile=$jsa -Xshare:auto -Xlog:disable -Xlog:all=warning:stderr"
  fi
}

build_cds_archive() {
  local jsa
  jsa="$(cds_archive)"
  [[ -f "$jsa" || -f "$jsa.failed" ]] && return 0
  command -v kcat >/dev/null 2>&1 || { log "no kcat: skipping the class-data-sharing archive"; return 0; }
  log "recording a class-data-sharing archive for faster starts (once per JDK)"
  local d self="$HERE/kafka-broker.sh" b
  d="$(mktemp -d /tmp/agentmem-kafka-cds.XXXXXX)"
  if b="$(AGENTMEM_KAFKA_CDS=0 KAFKA_OPTS="-XX:ArchiveClassesAtExit=$d/broker.jsa" \
          "$self" start --dir "$d/broker" --partitions 2 2>"$d/start.err" 9>&-)"; then
    seq 1 20 | kcat -P -b "$b" -t cds.warmup 2>/dev/null || true
    timeout 30 kcat -b "$b" -G cds-warmup -X auto.offset.reset=earliest -e -q \
      cds.warmup >/dev/null 2>&1 || true
    # The JVM writes the archive as it exits (SIGTERM included).
    "$self" stop --dir "$d/broker" 2>/dev/null || true
  fi
  mkdir -p "$LIBS/.cds"
  if [[ -s "$d/broker.jsa" ]]; then
    mv -f "$d/broker.jsa" "$jsa"
    log "class-data-sharing archive: $jsa"
  else
    log "warning: could not record a class-data-sharing archive (starts are slower):"
    cat "$d/start.err" >&2 || true
    touch "$jsa.failed"
  fi
  rm -rf "$d"
}

require_installed() {
  is_installed || die "Kafka $KAFKA_VERSION not installed: run $0 install"
}

# ---------------------------------------------------------------- helpers

# Runs a Kafka tool class in the foreground; log4j warnings go to stderr.
kafka_java() {
  # shellcheck disable=SC2046
  "$JAVA" -Xmx256m $(cds_opts) -Dlog4j.configuration="file:$TOOLS_LOG4J" \
    -cp "$LIBS/*" "$@"
}

# Prints two free loopback TCP ports (held open together so they differ).
free_ports() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
    return
  fi
  local found=() p
  while [[ ${#found[@]} -lt 2 ]]; do
    p=$((20000 + RANDOM % 40000))
    port_free "$p" && [[ " ${found[*]-} " != *" $p "* ]] && found+=("$p")
  done
  echo "${found[@]}"
}

# A new cluster id: what `kafka.tools.StorageTool random-uuid` prints (a v4
# UUID, base64url without padding, never starting with '-'), made without a
# JVM start when python3 is there.
random_cluster_id() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
  else
    kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null
  fi
}

# True when nothing listens on 127.0.0.1:$1 (a connect is refused).
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints the broker PID of DIR when that process is alive and is the broker
# of DIR (guards against a reused PID); else fails.
running_pid() {
  local dir="$1" pid
  [[ -f "$dir/broker.pid" ]] || return 1
  pid="$(cat "$dir/broker.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  local cmdline
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *kafka.Kafka*"$dir/server.properties"* ]] || return 1
  echo "$pid"
}

# True when the broker on $1 answers a metadata request listing broker 1.
broker_ready() {
  local bootstrap="$1"
  # The PLAINTEXT listener accepts only once the broker is unfenced; check
  # that first, as kcat waits its whole -m timeout on a refused connection.
  if port_free "${bootstrap##*:}"; then return 1; fi
  if command -v kcat >/dev/null 2>&1; then
    kcat -L -b "$bootstrap" -m 2 2>/dev/null | grep -q ' broker 1 at '
  fi
}

abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd)
}

# ---------------------------------------------------------------- start

cmd_start() {
  local dir="$DEFAULT_DIR" port="" partitions="" timeout=60
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      --port) port="${2:?--port needs a value}"; shift 2 ;;
      --partitions) partitions="${2:?--partitions needs a value}"; shift 2 ;;
      --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -z "$port" || "$port" =~ ^[0-9]+$ ]] || die "--port must be a number"
  [[ -z "$partitions" || "$partitions" =~ ^[1-9][0-9]*$ ]] || die "--partitions must be a positive number"
  require_installed
  dir="$(abs_dir "$dir")"

  local pid
  if pid="$(running_pid "$dir")"; then
    log "already running in $dir (pid $pid)"
    cat "$dir/bootstrap"
    return 0
  fi

  # State kept across restarts: ports, default partitions, cluster id.
  local PORT="" CONTROLLER_PORT="" PARTITIONS=""
  if [[ -f "$dir/broker.env" ]]; then
    # shellcheck disable=SC1091
    source "$dir/broker.env"
  fi
  [[ -n "$partitions" ]] && PARTITIONS="$partitions"
  PARTITIONS="${PARTITIONS:-4}"
  local auto_ports=1
  if [[ -n "$port" ]]; then
    auto_ports=0
    if [[ "$port" != "$PORT" ]]; then PORT="$port"; CONTROLLER_PORT=""; fi
  fi

  local attempt
  for attempt in 1 2 3; do
    # Pick (new) ports when none are stored or a stored one is taken.
    if [[ -z "$PORT" ]] || { [[ $auto_ports == 1 ]] && ! port_free "$PORT"; }; then
      [[ -n "$PORT" ]] && log "stored port $PORT is in use; picking another"
      read -r PORT CONTROLLER_PORT < <(free_ports)
    fi
    if [[ -z "$CONTROLLER_PORT" ]] || ! port_free "$CONTROLLER_PORT" \
       || [[ "$CONTROLLER_PORT" == "$PORT" ]]; then
      local a b
      read -r a b < <(free_ports)
      if [[ "$a" != "$PORT" ]]; then CONTROLLER_PORT="$a"; else CONTROLLER_PORT="$b"; fi
    fi
    [[ $auto_ports == 1 ]] || port_free "$PORT" || die "port $PORT is in use"

    start_once "$dir" "$PORT" "$CONTROLLER_PORT" "$PARTITIONS" "$timeout" && return 0
    local rc=$?
    # 2: a port was taken between choosing and binding; retry if ours.
    if [[ $rc -eq 2 && $auto_ports == 1 && $attempt -lt 3 ]]; then
      log "port race (attempt $attempt); retrying with new ports"
      PORT=""; CONTROLLER_PORT=""
      continue
    fi
    return 1
  done
}

# Writes the config, formats storage if new, starts the JVM and waits.
# Returns 0 when ready, 2 when a port could not be bound, 1 otherwise.
start_once() {
  local dir="$1" port="$2" cport="$3" partitions="$4" timeout="$5"
  local data="$dir/data" bootstrap="127.0.0.1:$2"

  printf 'PORT=%s\nCONTROLLER_PORT=%s\nPARTITIONS=%s\n' \
    "$port" "$cport" "$partitions" >"$dir/broker.env"
  sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
      -e "s|@PARTITIONS@|$partitions|g" -e "s|@DATA_DIR@|$data|g" \
      "$PROPS_TEMPLATE" >"$dir/server.properties"
  cp "$LOG4J_TEMPLATE" "$dir/log4j.properties"

  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    if [[ -s "$dir/cluster.id" ]]; then
      cluster_id="$(cat "$dir/cluster.id")"
    else
      cluster_id="$(random_cluster_id)"
      [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "StorageTool random-uuid failed"
      echo "$cluster_id" >"$dir/cluster.id"
    fi
    mkdir -p "$data"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" --ignore-formatted >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "storage format failed"; }
  fi

  [[ -f "$dir/broker.log" ]] && mv -f "$dir/broker.log" "$dir/broker.log.1"
  rm -f "$dir/bootstrap" "$dir/broker.pid"
  # setsid: the broker outlives the caller's process group (ctest, a
  # terminal's Ctrl-C); the inner shell records its own PID, then becomes java.
  # shellcheck disable=SC2086,SC2016,SC2046
  setsid bash -c 'echo $$ >"$1/broker.pid"; shift; exec "$@"' _ "$dir" \
    "$JAVA" $HEAP_OPTS $JVM_OPTS $(cds_opts) ${KAFKA_OPTS:-} \
    -Dlog4j.configuration="file:$dir/log4j.properties" \
    -Dkafka.logs.dir="$dir" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/broker.log" 2>&1 &
  local launcher=$!

  local deadline=$((SECONDS + timeout)) pid=""
  while ((SECONDS < deadline)); do
    [[ -z "$pid" && -s "$dir/broker.pid" ]] && pid="$(cat "$dir/broker.pid")"
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      wait "$launcher" 2>/dev/null || true
      rm -f "$dir/broker.pid"
      if grep -q 'Address already in use' "$dir/broker.log"; then
        log "broker could not bind its ports"
        return 2
      fi
      log "broker exited during start; last lines of $dir/broker.log:"
      tail -n 30 "$dir/broker.log" >&2
      return 1
    fi
    if [[ -n "$pid" ]] && broker_ready "$bootstrap"; then
      echo "$bootstrap" >"$dir/bootstrap"
      log "broker ready at $bootstrap (pid $pid, dir $dir, $((timeout - deadline + SECONDS)) s)"
      echo "$bootstrap"
      return 0
    fi
    sleep 0.3
  done
  log "broker not ready after $timeout s; stopping it. Last lines of $dir/broker.log:"
  tail -n 30 "$dir/broker.log" >&2
  stop_pid "$dir" "${pid:-}"
  return 1
}

# ---------------------------------------------------------------- stop/status

# SIGTERM (Kafka shuts down cleanly), up to 30 s, then SIGKILL.
stop_pid() {
  local dir="$1" pid="$2"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 300; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker (pid $pid) still running after 30 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$dir/broker.pid" "$dir/bootstrap"
}

cmd_stop() {
  local dir="$DEFAULT_DIR" clean=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      --clean) clean=1; shift ;;
      *) usage ;;
    esac
  done
  [[ -d "$dir" ]] || { log "no broker dir $dir"; return 0; }
  dir="$(abs_dir "$dir")"
  local pid
  if pid="$(running_pid "$dir")"; then
    stop_pid "$dir" "$pid"
    log "stopped broker (pid $pid) in $dir"
  else
    rm -f "$dir/broker.pid" "$dir/bootstrap"
    log "no broker running in $dir"
  fi
  if [[ $clean == 1 ]]; then
    # Remove only a folder this script made.
    if rmdir "$dir" 2>/dev/null; then log "removed $dir"; return 0; fi
    [[ "$dir" != / && -f "$dir/broker.env" ]] || die "$dir is not a broker dir; not removing it"
    rm -rf "$dir"
    log "removed $dir"
  fi
}

# Exit 0 and "running ..." when up and answering, 3 when stopped, 1 when the
# process is alive but does not answer.
cmd_status() {
  local dir="$DEFAULT_DIR"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -d "$dir" ]] && dir="$(abs_dir "$dir")"
  local pid
  if ! pid="$(running_pid "$dir")"; then
    echo "stopped (dir $dir)"
    return 3
  fi
  local PORT=""
  # shellcheck disable=SC1091
  source "$dir/broker.env"
  if broker_ready "127.0.0.1:$PORT"; then
    echo "running pid=$pid bootstrap=127.0.0.1:$PORT dir=$dir version=$KAFKA_VERSION"
    return 0
  fi
  echo "not answering pid=$pid bootstrap=127.0.0.1:$PORT dir=$dir"
  return 1
}

# Creates a topic through org.apache.kafka.tools.TopicCommand (kafka-topics).
cmd_create_topic() {
  local dir="$DEFAULT_DIR" partitions="" topic=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      --partitions) partitions="${2:?--partitions needs a value}"; shift 2 ;;
      -*) usage ;;
      *) [[ -z "$topic" ]] || usage; topic="$1"; shift ;;
    esac
  done
  [[ -n "$topic" ]] || usage
  require_installed
  [[ -s "$dir/bootstrap" ]] || die "no running broker in $dir"
  local PARTITIONS=4
  # shellcheck disable=SC1091
  source "$dir/broker.env"
  local err
  err="$(mktemp)"
  if ! kafka_java org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$(cat "$dir/bootstrap")" --create --if-not-exists \
      --topic "$topic" --partitions "${partitions:-$PARTITIONS}" \
      --replication-factor 1 2>"$err"; then
    cat "$err" >&2
    rm -f "$err"
    die "could not create topic $topic"
  fi
  rm -f "$err"
}

# ---------------------------------------------------------------- main

[[ $# -ge 1 ]] || usage
sub="$1"; shift
case "$sub" in
  install) cmd_install "$@" ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  create-topic) cmd_create_topic "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
