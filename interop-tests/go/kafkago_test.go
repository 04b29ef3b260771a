// segmentio/kafka-go (pinned in go.mod) against Sluice.
//
//	SLUICE_BIN=/path/to/sluice go test -run '^TestKafkaGo' .
package interop

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func kafkaGoCreate(t *testing.T, topic string, partitions int) {
	t.Helper()
	conn, err := kafka.Dial("tcp", bootstrap)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	controller, err := conn.Controller()
	if err != nil {
		t.Fatalf("controller: %v", err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		t.Fatalf("dial controller: %v", err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
}

// A Writer (keys, values, headers, hash balancer over 3 partitions) and a Reader in a consumer
// group: every record comes back exactly once with its key, value and headers, in order
// within its partition, and the group's commits reach the partitions' ends.
func TestKafkaGoWriterReader(t *testing.T) {
	topic, group := unique("kafkago-keys"), unique("kafkago-group")
	const partitions, count = 3, 300
	kafkaGoCreate(t, topic, partitions)

	w := &kafka.Writer{
		Addr:         kafka.TCP(bootstrap),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		BatchSize:    100,
	}
	var msgs []kafka.Message
	for i := 0; i < count; i++ {
		msgs = append(msgs, kafka.Message{
			Key:   []byte(fmt.Sprintf("key-%d", i%17)),
			Value: []byte(fmt.Sprintf("value-%d", i)),
			Headers: []kafka.Header{
				{Key: "seq", Value: []byte(strconv.Itoa(i))},
				{Key: "dup", Value: []byte("a")},
				{Key: "dup", Value: []byte("b")},
			},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{bootstrap},
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           100 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    sessionTimeout,
		HeartbeatInterval: heartbeatInterval,
		CommitInterval:    0, // synchronous commits
	})
	defer r.Close()
	// Read until every seq header was seen once; the checks on what was read follow.
	var read []kafka.Message
	seqs := map[int]bool{}
	for len(seqs) < count {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("ReadMessage after %d: %v", len(read), err)
		}
		read = append(read, m)
		if len(m.Headers) > 0 {
			if seq, err := strconv.Atoi(string(m.Headers[0].Value)); err == nil {
				seqs[seq] = true
			}
		}
		if len(read) > 2*count {
			t.Fatalf("read %d records for %d distinct seq headers", len(read), len(seqs))
		}
	}
	quietCtx, quietCancel := context.WithTimeout(context.Background(), quiet)
	defer quietCancel()
	if m, err := r.FetchMessage(quietCtx); err == nil {
		t.Fatalf("unexpected extra record %s/%d@%d", m.Topic, m.Partition, m.Offset)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close reader: %v", err)
	}

	t.Run("keys and headers, exact", func(t *testing.T) {
		seen := map[int]bool{}
		lastSeq := map[int]int{}
		for _, m := range read {
			if len(m.Headers) != 3 || m.Headers[0].Key != "seq" || m.Headers[1].Key != "dup" || string(m.Headers[1].Value) != "a" ||
				m.Headers[2].Key != "dup" || string(m.Headers[2].Value) != "b" {
				t.Fatalf("headers of %s/%d@%d: %v", m.Topic, m.Partition, m.Offset, m.Headers)
			}
			seq, err := strconv.Atoi(string(m.Headers[0].Value))
			if err != nil || seq < 0 || seq >= count {
				t.Fatalf("seq header %q", m.Headers[0].Value)
			}
			want := msgs[seq]
			if string(m.Key) != string(want.Key) || string(m.Value) != string(want.Value) {
				t.Fatalf("record %d: key %q value %q, want %q %q", seq, m.Key, m.Value, want.Key, want.Value)
			}
			if seen[seq] {
				t.Fatalf("record %d read twice", seq)
			}
			if last, ok := lastSeq[m.Partition]; ok && seq <= last {
				t.Fatalf("partition %d: record %d after %d", m.Partition, seq, last)
			}
			lastSeq[m.Partition] = seq
			seen[seq] = true
		}
		if len(read) != count || len(lastSeq) != partitions {
			t.Fatalf("%d records from %d partitions, want %d from %d (hash balancer over 17 keys)", len(read), len(lastSeq), count, partitions)
		}
	})

	t.Run("group commits at the end offsets", func(t *testing.T) {
		// The commits equal the end offsets: OffsetFetch through kafka-go's Client.
		client := &kafka.Client{Addr: kafka.TCP(bootstrap), Timeout: timeout}
		ps := []int{0, 1, 2}
		fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
		if err != nil || fetched.Error != nil {
			t.Fatalf("OffsetFetch: %v / %v", err, fetched.Error)
		}
		var ends []kafka.OffsetRequest
		for _, p := range ps {
			ends = append(ends, kafka.LastOffsetOf(p))
		}
		listed, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: ends}})
		if err != nil {
			t.Fatalf("ListOffsets: %v", err)
		}
		endOf := map[int]int64{}
		var total int64
		for _, po := range listed.Topics[topic] {
			if po.Error != nil {
				t.Fatalf("ListOffsets %d: %v", po.Partition, po.Error)
			}
			endOf[po.Partition] = po.LastOffset
			total += po.LastOffset
		}
		if total != count {
			t.Fatalf("end offsets %v sum to %d, want %d", endOf, total, count)
		}
		for _, po := range fetched.Topics[topic] {
			if po.Error != nil || po.CommittedOffset != endOf[po.Partition] {
				t.Fatalf("partition %d: committed %d (%v), end %d", po.Partition, po.CommittedOffset, po.Error, endOf[po.Partition])
			}
		}
		if len(fetched.Topics[topic]) != partitions {
			t.Fatalf("OffsetFetch answered %d partitions", len(fetched.Topics[topic]))
		}
	})
}
