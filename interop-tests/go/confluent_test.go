// confluent-kafka-go (pinned in go.mod; librdkafka bundled with it, built with cgo) against
// Sluice.
//
//	SLUICE_BIN=/path/to/sluice go test -run '^TestConfluent' .
package interop

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func confluentAdmin(t *testing.T) *kafka.AdminClient {
	t.Helper()
	a, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	t.Cleanup(a.Close)
	return a
}

func confluentCreate(t *testing.T, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	results, err := confluentAdmin(t).CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
	}})
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	if len(results) != 1 || results[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("CreateTopics %s: %v", topic, results)
	}
}

func confluentProducer(t *testing.T, extra kafka.ConfigMap) *kafka.Producer {
	t.Helper()
	config := kafka.ConfigMap{
		"bootstrap.servers":     bootstrap,
		"broker.address.family": "v4",
		"linger.ms":             5,
		"message.timeout.ms":    20000,
	}
	for k, v := range extra {
		config[k] = v
	}
	p, err := kafka.NewProducer(&config)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func confluentConsumer(t *testing.T, extra kafka.ConfigMap) *kafka.Consumer {
	t.Helper()
	config := kafka.ConfigMap{
		"bootstrap.servers":     bootstrap,
		"broker.address.family": "v4",
		"group.id":              unique("confluent-reader"),
		"auto.offset.reset":     "earliest",
		"enable.auto.commit":    false,
	}
	for k, v := range extra {
		config[k] = v
	}
	c, err := kafka.NewConsumer(&config)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// produceAll sends every message and waits for each delivery report: all must succeed.
func produceAll(t *testing.T, p *kafka.Producer, msgs []*kafka.Message) []kafka.TopicPartition {
	t.Helper()
	reports := make(chan kafka.Event, len(msgs))
	for _, m := range msgs {
		if err := p.Produce(m, reports); err != nil {
			t.Fatalf("Produce: %v", err)
		}
	}
	var delivered []kafka.TopicPartition
	deadline := time.After(timeout)
	for len(delivered) < len(msgs) {
		select {
		case e := <-reports:
			m := e.(*kafka.Message)
			if m.TopicPartition.Error != nil {
				t.Fatalf("delivery failed: %v", m.TopicPartition.Error)
			}
			delivered = append(delivered, m.TopicPartition)
		case <-deadline:
			t.Fatalf("%d of %d deliveries reported", len(delivered), len(msgs))
		}
	}
	return delivered
}

// readExactly reads count messages, then checks that nothing more comes within `quiet`.
func readExactly(t *testing.T, c *kafka.Consumer, count int) []*kafka.Message {
	t.Helper()
	var got []*kafka.Message
	deadline := time.Now().Add(timeout)
	for len(got) < count {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d messages", len(got), count)
		}
		m, err := c.ReadMessage(500 * time.Millisecond)
		if err != nil {
			if kerr, ok := err.(kafka.Error); ok && kerr.Code() == kafka.ErrTimedOut {
				continue
			}
			t.Fatalf("ReadMessage: %v", err)
		}
		got = append(got, m)
	}
	if m, err := c.ReadMessage(quiet); err == nil {
		t.Fatalf("a message past the %d expected: %s", count, m.Value)
	}
	return got
}

func message(topic string, key, value string, headers ...kafka.Header) *kafka.Message {
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            []byte(key),
		Value:          []byte(value),
		Headers:        headers,
	}
}

// Keys, values and headers come back exactly: repeated header names in order, binary bytes, an
// empty value, a null value and a record without a key.
func TestConfluentKeysAndHeaders(t *testing.T) {
	topic := unique("confluent-keys")
	confluentCreate(t, topic, 1)
	binary := []byte{0, 1, 2, 0xfe, 0xff}
	sent := []*kafka.Message{
		message(topic, "k0", "v0", kafka.Header{Key: "h", Value: []byte("1")}, kafka.Header{Key: "h", Value: []byte("2")}),
		message(topic, "k1", "", kafka.Header{Key: "empty", Value: []byte{}}),
		message(topic, "k2", string(binary), kafka.Header{Key: "bin", Value: binary}),
		{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Key: []byte("k3")},
		{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("no key")},
	}
	produceAll(t, confluentProducer(t, nil), sent)
	c := confluentConsumer(t, nil)
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	got := readExactly(t, c, len(sent))
	for i, m := range got {
		want := sent[i]
		if int(m.TopicPartition.Offset) != i || string(m.Key) != string(want.Key) || string(m.Value) != string(want.Value) {
			t.Fatalf("record %d: offset %d key %q value %q", i, m.TopicPartition.Offset, m.Key, m.Value)
		}
		if (m.Key == nil) != (want.Key == nil) || (m.Value == nil) != (want.Value == nil) {
			t.Fatalf("record %d: null key %v (want %v), null value %v (want %v)", i, m.Key == nil, want.Key == nil, m.Value == nil, want.Value == nil)
		}
		if len(m.Headers) != len(want.Headers) {
			t.Fatalf("record %d: headers %v, want %v", i, m.Headers, want.Headers)
		}
		for j, h := range m.Headers {
			if h.Key != want.Headers[j].Key || string(h.Value) != string(want.Headers[j].Value) {
				t.Fatalf("record %d header %d: %v, want %v", i, j, h, want.Headers[j])
			}
		}
	}
}

// The admin client creates a topic with a config (Metadata then shows its 3 partitions, a second
// creation gets TOPIC_ALREADY_EXISTS), describes the config with its source, changes it
// incrementally and deletes the topic.
func TestConfluentAdmin(t *testing.T) {
	topic := unique("confluent-admin")
	a := confluentAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	spec := []kafka.TopicSpecification{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		Config: map[string]string{"retention.ms": "123456"}}}
	created, err := a.CreateTopics(ctx, spec)
	if err != nil || created[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("CreateTopics: %v %v", created, err)
	}
	again, err := a.CreateTopics(ctx, spec)
	if err != nil || again[0].Error.Code() != kafka.ErrTopicAlreadyExists {
		t.Fatalf("a second CreateTopics: %v %v", again, err)
	}
	metadata, err := a.GetMetadata(&topic, false, 10000)
	if err != nil || len(metadata.Topics[topic].Partitions) != 3 {
		t.Fatalf("Metadata of %s: %v %v", topic, metadata, err)
	}

	describe := func() kafka.ConfigEntryResult {
		resource := kafka.ConfigResource{Type: kafka.ResourceTopic, Name: topic}
		described, err := a.DescribeConfigs(ctx, []kafka.ConfigResource{resource})
		if err != nil || described[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("DescribeConfigs: %v %v", described, err)
		}
		return described[0].Config["retention.ms"]
	}
	if e := describe(); e.Value != "123456" || e.Source != kafka.ConfigSourceDynamicTopic {
		t.Fatalf("retention.ms described as %q from %v", e.Value, e.Source)
	}
	altered, err := a.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{
		Type: kafka.ResourceTopic, Name: topic,
		Config: []kafka.ConfigEntry{{Name: "retention.ms", Value: "654321", IncrementalOperation: kafka.AlterConfigOpTypeSet}},
	}})
	if err != nil || altered[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("IncrementalAlterConfigs: %v %v", altered, err)
	}
	if e := describe(); e.Value != "654321" || e.Source != kafka.ConfigSourceDynamicTopic {
		t.Fatalf("after the change retention.ms is %q from %v", e.Value, e.Source)
	}

	deleted, err := a.DeleteTopics(ctx, []string{topic})
	if err != nil || deleted[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("DeleteTopics: %v %v", deleted, err)
	}
}

// An idempotent producer (acks=all) with each codec: every record comes back once with its key,
// value and headers (a repeated header key kept in order), at consecutive offsets within each
// of 3 partitions, and the delivery reports name those offsets.
func TestConfluentIdempotentProduceWithEveryCodec(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := unique("confluent-" + codec)
			const partitions, count = 3, 120
			confluentCreate(t, topic, partitions)
			p := confluentProducer(t, kafka.ConfigMap{
				"enable.idempotence": true,
				"acks":               "all",
				"compression.type":   codec,
			})
			var msgs []*kafka.Message
			for i := 0; i < count; i++ {
				msgs = append(msgs, message(topic, fmt.Sprintf("key-%d", i%11), fmt.Sprintf("value-%d-%s", i, codec),
					kafka.Header{Key: "seq", Value: []byte(strconv.Itoa(i))},
					kafka.Header{Key: "dup", Value: []byte("a")},
					kafka.Header{Key: "dup", Value: []byte("b")}))
			}
			delivered := produceAll(t, p, msgs)
			reported := map[string]bool{}
			for _, tp := range delivered {
				reported[fmt.Sprintf("%d/%d", tp.Partition, tp.Offset)] = true
			}

			c := confluentConsumer(t, nil)
			if err := c.Subscribe(topic, nil); err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			got := readExactly(t, c, count)
			next := map[int32]kafka.Offset{}
			seen := map[string]bool{}
			for _, m := range got {
				tp := m.TopicPartition
				if tp.Offset != next[tp.Partition] {
					t.Fatalf("partition %d: offset %d, expected %d", tp.Partition, tp.Offset, next[tp.Partition])
				}
				next[tp.Partition]++
				if !reported[fmt.Sprintf("%d/%d", tp.Partition, tp.Offset)] {
					t.Fatalf("read %d/%d, which no delivery report named", tp.Partition, tp.Offset)
				}
				if len(m.Headers) != 3 || m.Headers[0].Key != "seq" || string(m.Headers[1].Value) != "a" ||
					m.Headers[2].Key != "dup" || string(m.Headers[2].Value) != "b" {
					t.Fatalf("headers of %s: %v", m.Value, m.Headers)
				}
				i, err := strconv.Atoi(string(m.Headers[0].Value))
				if err != nil {
					t.Fatalf("seq header %q: %v", m.Headers[0].Value, err)
				}
				if string(m.Key) != fmt.Sprintf("key-%d", i%11) || string(m.Value) != fmt.Sprintf("value-%d-%s", i, codec) {
					t.Fatalf("record %d: key %q value %q", i, m.Key, m.Value)
				}
				if seen[string(m.Value)] {
					t.Fatalf("%s read twice", m.Value)
				}
				seen[string(m.Value)] = true
			}
			if len(next) != partitions {
				t.Fatalf("records in %d partitions, expected %d (keys spread over all)", len(next), partitions)
			}
		})
	}
}

// Two members of one group with the cooperative-sticky assignor split 4 partitions, read each
// record once between them, commit, and the committed offsets the admin client lists are the
// partitions' ends.
func TestConfluentGroupSplitsAndCommits(t *testing.T) {
	topic, group := unique("confluent-group"), unique("confluent-group")
	const count = 200
	confluentCreate(t, topic, groupPartitions)

	member := func() *kafka.Consumer {
		c := confluentConsumer(t, kafka.ConfigMap{
			"group.id":                      group,
			"partition.assignment.strategy": "cooperative-sticky",
			"session.timeout.ms":            int(sessionTimeout / time.Millisecond),
			"heartbeat.interval.ms":         int(heartbeatInterval / time.Millisecond),
		})
		if err := c.Subscribe(topic, nil); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		return c
	}
	a, b := member(), member()
	// The split settles before any record exists: a commit made with the generation before a
	// rebalance is refused (ILLEGAL_GENERATION), as Kafka refuses it.
	settled := time.Now().Add(timeout)
	for {
		for _, c := range []*kafka.Consumer{a, b} {
			if m, err := c.ReadMessage(100 * time.Millisecond); err == nil {
				t.Fatalf("a record before any was produced: %s", m.Value)
			}
		}
		assignedA, _ := a.Assignment()
		assignedB, _ := b.Assignment()
		if len(assignedA) == 2 && len(assignedB) == 2 {
			break
		}
		if time.Now().After(settled) {
			t.Fatalf("assignments %v and %v: expected 2 partitions each", assignedA, assignedB)
		}
	}
	var msgs []*kafka.Message
	for i := 0; i < count; i++ {
		msgs = append(msgs, message(topic, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)))
	}
	produceAll(t, confluentProducer(t, nil), msgs)

	seen := map[string]int{}
	ends := map[int32]kafka.Offset{}
	deadline := time.Now().Add(timeout)
	for len(seen) < count {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d records", len(seen), count)
		}
		for _, c := range []*kafka.Consumer{a, b} {
			m, err := c.ReadMessage(100 * time.Millisecond)
			if err != nil {
				continue
			}
			seen[string(m.Value)]++
			if end := m.TopicPartition.Offset + 1; end > ends[m.TopicPartition.Partition] {
				ends[m.TopicPartition.Partition] = end
			}
			if _, err := c.CommitMessage(m); err != nil {
				t.Fatalf("CommitMessage: %v", err)
			}
		}
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("%s read %d times", v, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wanted []kafka.TopicPartition
	for p := int32(0); p < groupPartitions; p++ {
		wanted = append(wanted, kafka.TopicPartition{Topic: &topic, Partition: p})
	}
	listed, err := confluentAdmin(t).ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: wanted}})
	if err != nil {
		t.Fatalf("ListConsumerGroupOffsets: %v", err)
	}
	offsets := listed.ConsumerGroupsTopicPartitions[0].Partitions
	sort.Slice(offsets, func(i, j int) bool { return offsets[i].Partition < offsets[j].Partition })
	total := kafka.Offset(0)
	for _, tp := range offsets {
		if tp.Error != nil || tp.Offset != ends[tp.Partition] {
			t.Fatalf("committed %v, partition ends %v", offsets, ends)
		}
		total += tp.Offset
	}
	if total != count {
		t.Fatalf("committed offsets sum to %d, expected %d", total, count)
	}
}

// A transactional producer commits 10 records and aborts 5: a read_committed consumer reads
// exactly the 10, a read_uncommitted one all 15; the aborted records' offsets lie between.
func TestConfluentTransactionsCommitAndAbort(t *testing.T) {
	topic := unique("confluent-txn")
	confluentCreate(t, topic, 1)
	p := confluentProducer(t, kafka.ConfigMap{"transactional.id": unique("confluent-txn-id")})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("InitTransactions: %v", err)
	}
	send := func(prefix string, n int) {
		if err := p.BeginTransaction(); err != nil {
			t.Fatalf("BeginTransaction: %v", err)
		}
		var msgs []*kafka.Message
		for i := 0; i < n; i++ {
			msgs = append(msgs, message(topic, "k", fmt.Sprintf("%s-%d", prefix, i)))
		}
		produceAll(t, p, msgs)
	}
	send("committed", 10)
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatalf("CommitTransaction: %v", err)
	}
	send("aborted", 5)
	if err := p.AbortTransaction(ctx); err != nil {
		t.Fatalf("AbortTransaction: %v", err)
	}

	read := func(isolation string, count int) []string {
		c := confluentConsumer(t, kafka.ConfigMap{"isolation.level": isolation})
		if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
			t.Fatalf("Assign: %v", err)
		}
		var values []string
		for _, m := range readExactly(t, c, count) {
			values = append(values, string(m.Value))
		}
		return values
	}
	committed := read("read_committed", 10)
	for i, v := range committed {
		if v != fmt.Sprintf("committed-%d", i) {
			t.Fatalf("read_committed record %d: %s", i, v)
		}
	}
	all := read("read_uncommitted", 15)
	if all[10] != "aborted-0" || all[14] != "aborted-4" {
		t.Fatalf("read_uncommitted: %v", all)
	}
}
