#!/usr/bin/env bash
# Runs one of Kafka's command-line tools (Apache Kafka 4.4.0, the kafka-tools artifact) against a
# broker, with the classpath of the Maven project in interop-tests/java; no Kafka install needed.
#
#   interop-tests/kafka-cli.sh kafka-topics --bootstrap-server 127.0.0.1:9092 --list
#   interop-tests/kafka-cli.sh kafka-console-consumer --bootstrap-server 127.0.0.1:9092 \
#       --topic t --from-beginning --max-messages 10
#   interop-tests/kafka-cli.sh org.apache.kafka.tools.TransactionsCommand --help
#
# The first argument is a tool's script name as in Kafka's bin/ (listed by --help), or a main
# class. The classpath comes from `mvn dependency:build-classpath` (test scope; the first run
# downloads the jars into ~/.m2) and is kept in interop-tests/java/target/kafka-cli.classpath
# until pom.xml changes. Needs java (17+) and mvn.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="$HERE/java"
CP_FILE="$PROJECT/target/kafka-cli.classpath"

tools() {
  cat <<'EOF'
kafka-topics                org.apache.kafka.tools.TopicCommand
kafka-console-producer      org.apache.kafka.tools.ConsoleProducer
kafka-console-consumer      org.apache.kafka.tools.consumer.ConsoleConsumer
kafka-consumer-groups       org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
kafka-groups                org.apache.kafka.tools.GroupsCommand
kafka-get-offsets           org.apache.kafka.tools.GetOffsetShell
kafka-configs               org.apache.kafka.tools.ConfigCommand
kafka-producer-perf-test    org.apache.kafka.tools.ProducerPerformance
kafka-consumer-perf-test    org.apache.kafka.tools.ConsumerPerformance
kafka-delete-records        org.apache.kafka.tools.DeleteRecordsCommand
kafka-transactions          org.apache.kafka.tools.TransactionsCommand
kafka-broker-api-versions   org.apache.kafka.tools.BrokerApiVersionsCommand
kafka-log-dirs              org.apache.kafka.tools.LogDirsCommand
kafka-leader-election       org.apache.kafka.tools.LeaderElectionCommand
kafka-acls                  org.apache.kafka.tools.AclCommand
EOF
}

usage() {
  echo "usage: $0 TOOL [ARGS...]   (TOOL: a name below, or a main class)" >&2
  tools | sed 's/^/  /' >&2
  exit 2
}

[ $# -ge 1 ] || usage
case "$1" in
  -h | --help) usage ;;
esac
tool="$1"
shift
main="$(tools | awk -v t="$tool" '$1 == t { print $2 }')"
if [ -z "$main" ]; then
  case "$tool" in
    *.*) main="$tool" ;;
    *) echo "unknown tool: $tool" >&2; usage ;;
  esac
fi

command -v java >/dev/null || { echo "kafka-cli.sh needs java (17+)" >&2; exit 2; }
if [ ! -s "$CP_FILE" ] || [ "$PROJECT/pom.xml" -nt "$CP_FILE" ]; then
  command -v mvn >/dev/null || { echo "kafka-cli.sh needs mvn for the classpath" >&2; exit 2; }
  mkdir -p "$PROJECT/target"
  (cd "$PROJECT" && mvn -B -q -ntp -Dstyle.color=never dependency:build-classpath -Dmdep.includeScope=test \
    -Dmdep.outputFile="$CP_FILE.tmp" >&2)
  mv "$CP_FILE.tmp" "$CP_FILE"
fi

# src/test/resources holds the client logging settings (warnings and errors only).
exec java -cp "$PROJECT/src/test/resources:$(cat "$CP_FILE")" "$main" "$@"
