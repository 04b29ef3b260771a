#!/usr/bin/env bash
# Apache Kafka as the executable reference: a single-node KRaft broker (combined broker and
# controller, no ZooKeeper) on free loopback ports, from the kafka_2.13 artifact and its
# dependencies on Maven Central (resolved by Maven into ~/.m2 on first use).
#
#   interop-tests/kafka-reference/kafka.sh start DIR   # prints the bootstrap address; DIR holds
#                                                      # its config, data, log and pid
#   interop-tests/kafka-reference/kafka.sh stop DIR
#
# Needs java (17+) and mvn. The version is pom.xml's kafka.version.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
START_TIMEOUT_S="${KAFKA_START_TIMEOUT_S:-60}"

usage() {
  echo "usage: $0 start DIR | stop DIR" >&2
  exit 2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The broker's classpath, resolved once per pom.xml.
classpath() {
  local cache="$HERE/.classpath" stamp
  stamp="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
  if [ ! -s "$cache" ] || [ "$(head -1 "$cache")" != "$stamp" ]; then
    (cd "$HERE" && mvn -B -q dependency:build-classpath -Dmdep.outputFile="$cache.tmp" >&2)
    { echo "$stamp"; cat "$cache.tmp"; echo; } >"$cache"
    rm -f "$cache.tmp"
  fi
  sed -n 2p "$cache"
}

start() {
  local dir="$1" port controller_port cp cluster_id
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  port="$(free_port)"
  controller_port="$(free_port)"
  cp="$(classpath)"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  cat >"$dir/log4j2.properties" <<'LOG'
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=${sys:kafka.logs.dir}/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
LOG
  local java_opts=(-Xmx512m -XX:+UseSerialGC -Dkafka.logs.dir="$dir"
    -Dlog4j2.configurationFile="$dir/log4j2.properties")
  cluster_id="$(java "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid)"
  java "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$dir/server.properties" >"$dir/format.log" 2>&1
  nohup java "${java_opts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
  local deadline=$(($(date +%s) + START_TIMEOUT_S))
  # Ready when the server says it started (its client listener accepts from then on).
  until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; do
    if ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
      echo "kafka exited during start; see $dir/stdout.log and $dir/server.log" >&2
      tail -20 "$dir/stdout.log" >&2 || true
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "kafka did not start within ${START_TIMEOUT_S} s; see $dir/server.log" >&2
      stop "$dir"
      exit 1
    fi
    sleep 0.2
  done
  echo "127.0.0.1:$port" | tee "$dir/bootstrap"
}

stop() {
  local dir="$1" pid
  [ -f "$dir/kafka.pid" ] || return 0
  pid="$(cat "$dir/kafka.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/kafka.pid"
}

[ $# -eq 2 ] || usage
case "$1" in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
