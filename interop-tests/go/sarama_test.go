// Sarama (github.com/IBM/sarama, a Go module pinned in go.mod) against Sluice.
//
//	SLUICE_BIN=/path/to/sluice go test -run '^TestSarama' .
//
// The client is configured as Version V4_0_0_0 (Kafka 4.0, which Sluice follows). Sarama asks
// ApiVersions first and clamps each request's version to the broker's advertised range
// (restrictApiVersion; an API the broker does not list fails with ErrUnsupportedVersion
// without being sent), so a newer Version never sends a version Sluice does not serve: the
// tests pass with sarama.MaxVersion (V4_3_1_0) too.
package interop

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = "sluice-interop-sarama"
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Group.Session.Timeout = sessionTimeout
	c.Consumer.Group.Heartbeat.Interval = heartbeatInterval
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	return c
}

type header struct{ key, value string }

type record struct {
	key     []byte
	value   []byte
	headers []header
}

func (r record) String() string {
	return fmt.Sprintf("{key:%q value:%q headers:%q}", r.key, r.value, r.headers)
}

func producerMessages(topic string, partition int32, records []record) []*sarama.ProducerMessage {
	msgs := make([]*sarama.ProducerMessage, 0, len(records))
	for _, r := range records {
		m := &sarama.ProducerMessage{Topic: topic, Partition: partition}
		if r.key != nil {
			m.Key = sarama.ByteEncoder(r.key)
		}
		if r.value != nil {
			m.Value = sarama.ByteEncoder(r.value)
		}
		for _, h := range r.headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.key), Value: []byte(h.value)})
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func produce(t *testing.T, cfg *sarama.Config, topic string, partition int32, records []record) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	defer p.Close()
	if err := p.SendMessages(producerMessages(topic, partition, records)); err != nil {
		if errs, ok := err.(sarama.ProducerErrors); ok && len(errs) > 0 {
			t.Fatalf("produce: %d errors, first: %v", len(errs), errs[0].Err)
		}
		t.Fatalf("produce: %v", err)
	}
}

// readPartition reads exactly count records from the start of one partition, then stays quiet.
func readPartition(t *testing.T, topic string, partition int32, count int) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer([]string{bootstrap}, config())
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume partition: %v", err)
	}
	defer pc.Close()
	var got []*sarama.ConsumerMessage
	deadline := time.After(timeout)
	for len(got) < count {
		select {
		case m := <-pc.Messages():
			got = append(got, m)
		case err := <-pc.Errors():
			t.Fatalf("after %d records: %v", len(got), err)
		case <-deadline:
			t.Fatalf("read %d of %d records within %v", len(got), count, timeout)
		}
	}
	select {
	case m := <-pc.Messages():
		t.Fatalf("unexpected extra record at offset %d", m.Offset)
	case err := <-pc.Errors():
		t.Fatalf("after the expected records: %v", err)
	case <-time.After(quiet):
	}
	return got
}

func received(msgs []*sarama.ConsumerMessage) []record {
	out := make([]record, 0, len(msgs))
	for _, m := range msgs {
		r := record{key: m.Key, value: m.Value}
		for _, h := range m.Headers {
			r.headers = append(r.headers, header{string(h.Key), string(h.Value)})
		}
		out = append(out, r)
	}
	return out
}

func sameRecords(t *testing.T, want, got []record) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("expected %d records, got %d: %v", len(want), len(got), got)
	}
	for i := range want {
		w, g := want[i], got[i]
		// Sarama reads a null key or value as nil and an empty one as an empty slice.
		if (w.key == nil) != (g.key == nil) || !bytes.Equal(w.key, g.key) ||
			(w.value == nil) != (g.value == nil) || !bytes.Equal(w.value, g.value) ||
			!reflect.DeepEqual(w.headers, g.headers) {
			t.Fatalf("record %d: expected %v, got %v", i, w, g)
		}
	}
}

func createTopic(t *testing.T, topic string, partitions int32) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, config())
	if err != nil {
		t.Fatalf("new cluster admin: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
}

func keyedRecords() []record {
	all := make([]byte, 256)
	rev := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
		rev[i] = byte(255 - i)
	}
	return []record{
		{[]byte("key-0"), []byte("value-0"), []header{{"trace-id", "abc-123"}, {"attempt", "1"}}},
		{[]byte("key-1"), []byte("value-1"), []header{{"dup", "first"}, {"dup", "second"}, {"dup", "third"}}},
		{append([]byte{0x00, 0xff}, "binary-key"...), all, []header{{"bin", string(rev)}}},
		{[]byte("key-3"), []byte{}, []header{{"empty", ""}}},
		{[]byte("ключ-ü"), []byte("значение-€"), []header{{"ünïcode-name", "välue-✓"}}},
		{nil, []byte("no key"), []header{{"only-header", "x"}}},
		{[]byte("tombstone-key"), nil, []header{{"deleted", "yes"}}},
		{[]byte("key-7"), []byte("no headers"), nil},
	}
}

func TestSaramaProduceConsumeKeysAndHeaders(t *testing.T) {
	topic := unique("sarama-keys")
	want := keyedRecords()
	produce(t, config(), topic, 0, want)
	msgs := readPartition(t, topic, 0, len(want))
	for i, m := range msgs {
		if m.Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, m.Offset)
		}
	}
	sameRecords(t, want, received(msgs))
}

// groupMember consumes in a group until its context ends, recording what it owns and reads.
type groupMember struct {
	mu       sync.Mutex
	claims   []int32
	received [][2]string // partition, value
	topic    string
}

func (g *groupMember) Setup(s sarama.ConsumerGroupSession) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.claims = append([]int32(nil), s.Claims()[g.topic]...)
	sort.Slice(g.claims, func(i, j int) bool { return g.claims[i] < g.claims[j] })
	return nil
}

func (g *groupMember) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (g *groupMember) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		g.mu.Lock()
		g.received = append(g.received, [2]string{fmt.Sprint(m.Partition), string(m.Value)})
		g.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func (g *groupMember) snapshot() ([]int32, [][2]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int32(nil), g.claims...), append([][2]string(nil), g.received...)
}

// runMember joins the group and consumes until stop() returns (after the group is closed,
// which commits the marked offsets).
func runMember(t *testing.T, group, topic string) (*groupMember, func()) {
	t.Helper()
	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, group, config())
	if err != nil {
		t.Fatalf("new consumer group: %v", err)
	}
	m := &groupMember{topic: topic}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				t.Errorf("group %s: Consume: %v", group, err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	go func() {
		for err := range cg.Errors() {
			t.Errorf("group %s: %v", group, err)
		}
	}()
	return m, func() {
		cancel()
		<-done
		if err := cg.Close(); err != nil {
			t.Errorf("close group member: %v", err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func round(tag string, per int) map[int32][]string {
	out := map[int32][]string{}
	for p := int32(0); p < groupPartitions; p++ {
		for i := 0; i < per; i++ {
			out[p] = append(out[p], fmt.Sprintf("%s-p%d-%d", tag, p, i))
		}
	}
	return out
}

func produceRound(t *testing.T, topic string, r map[int32][]string) {
	t.Helper()
	for p, values := range r {
		var recs []record
		for _, v := range values {
			recs = append(recs, record{value: []byte(v)})
		}
		produce(t, config(), topic, p, recs)
	}
}

func byPartition(recs [][2]string) map[int32][]string {
	out := map[int32][]string{}
	for _, r := range recs {
		var p int32
		fmt.Sscan(r[0], &p)
		out[p] = append(out[p], r[1])
	}
	return out
}

func isSplit(a, b []int32) bool {
	if len(a) == 0 || len(b) == 0 || len(a)+len(b) != groupPartitions {
		return false
	}
	seen := map[int32]bool{}
	for _, p := range append(append([]int32(nil), a...), b...) {
		if seen[p] {
			return false
		}
		seen[p] = true
	}
	return true
}

func TestSaramaConsumerGroupSplitCommitResume(t *testing.T) {
	topic, group := unique("sarama-group"), unique("sarama-group")
	createTopic(t, topic, groupPartitions)

	a, stopA := runMember(t, group, topic)
	b, stopB := runMember(t, group, topic)
	stopped := false
	stopBoth := func() {
		if !stopped {
			stopped = true
			stopA()
			stopB()
		}
	}
	defer stopBoth()
	waitFor(t, "both members to share the partitions", func() bool {
		ca, _ := a.snapshot()
		cb, _ := b.snapshot()
		return isSplit(ca, cb)
	})
	claimsA, recA := a.snapshot()
	claimsB, recB := b.snapshot()
	if len(recA)+len(recB) != 0 {
		t.Fatalf("records before anything was produced: %v %v", recA, recB)
	}

	first := round("round1", firstPerPartition)
	produceRound(t, topic, first)
	waitFor(t, "the first round", func() bool {
		_, ra := a.snapshot()
		_, rb := b.snapshot()
		return len(ra)+len(rb) >= groupPartitions*firstPerPartition
	})
	time.Sleep(quiet)
	for i, m := range []*groupMember{a, b} {
		claims, recs := m.snapshot()
		got := byPartition(recs)
		for p := range got {
			owned := false
			for _, c := range claims {
				owned = owned || c == p
			}
			if !owned {
				t.Fatalf("member %d read partition %d but owns %v", i, p, claims)
			}
		}
		for _, p := range claims {
			if !reflect.DeepEqual(got[p], first[p]) {
				t.Fatalf("member %d partition %d: expected %q, got %q", i, p, first[p], got[p])
			}
		}
	}
	t.Logf("split: %v / %v", claimsA, claimsB)
	stopBoth() // closing the sessions commits the marked offsets

	// The commits are there: OffsetFetch for the group.
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, config())
	if err != nil {
		t.Fatalf("new cluster admin: %v", err)
	}
	offsets, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2, 3}})
	admin.Close()
	if err != nil {
		t.Fatalf("ListConsumerGroupOffsets: %v", err)
	}
	for p := int32(0); p < groupPartitions; p++ {
		block := offsets.GetBlock(topic, p)
		if block == nil || block.Err != sarama.ErrNoError || block.Offset != firstPerPartition {
			t.Fatalf("committed offset of partition %d: %+v (want %d)", p, block, firstPerPartition)
		}
	}

	second := round("round2", secondPerPartition)
	produceRound(t, topic, second)
	c, stopC := runMember(t, group, topic)
	defer stopC()
	waitFor(t, "the second round", func() bool {
		_, rc := c.snapshot()
		return len(rc) >= groupPartitions*secondPerPartition
	})
	time.Sleep(quiet)
	claims, recs := c.snapshot()
	if !reflect.DeepEqual(claims, []int32{0, 1, 2, 3}) {
		t.Fatalf("restarted member owns %v", claims)
	}
	if got := byPartition(recs); !reflect.DeepEqual(got, second) {
		t.Fatalf("after restart expected exactly %q, got %q", second, got)
	}
}

func TestSaramaAdminCreateTopicAndMetadata(t *testing.T) {
	topic := unique("sarama-admin")
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, config())
	if err != nil {
		t.Fatalf("new cluster admin: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	meta, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		t.Fatalf("DescribeTopics: %v", err)
	}
	if len(meta) != 1 || meta[0].Name != topic || meta[0].Err != sarama.ErrNoError {
		t.Fatalf("metadata for %s: %+v", topic, meta)
	}
	var ids []int32
	for _, p := range meta[0].Partitions {
		ids = append(ids, p.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if !reflect.DeepEqual(ids, []int32{0, 1, 2}) {
		t.Fatalf("partitions of %s: %v", topic, ids)
	}
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false)
	if err == nil || !strings.Contains(err.Error(), sarama.ErrTopicAlreadyExists.Error()) {
		t.Fatalf("creating %s again: %v (want %v)", topic, err, sarama.ErrTopicAlreadyExists)
	}
}

func TestSaramaCompression(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec sarama.CompressionCodec
	}{
		{"gzip", sarama.CompressionGZIP},
		{"snappy", sarama.CompressionSnappy},
		{"lz4", sarama.CompressionLZ4},
		{"zstd", sarama.CompressionZSTD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := unique("sarama-" + tc.name)
			want := compressible(tc.name)
			produce(t, compressedConfig(tc.codec), topic, 0, want)
			sameRecords(t, want, received(readPartition(t, topic, 0, len(want))))
		})
	}
}

func compressedConfig(codec sarama.CompressionCodec) *sarama.Config {
	cfg := config()
	cfg.Producer.Compression = codec
	cfg.Producer.Flush.Messages = 200
	cfg.Producer.Flush.Frequency = 50 * time.Millisecond
	cfg.Producer.Retry.Max = 0
	return cfg
}

func compressible(codec string) []record {
	var out []record
	for i := 0; i < 200; i++ {
		out = append(out, record{
			key:     []byte(fmt.Sprintf("k%d", i)),
			value:   []byte(fmt.Sprintf("message %05d %s", i, strings.Repeat("sluice ", 40))),
			headers: []header{{"codec", codec}},
		})
	}
	return out
}

func TestSaramaIdempotentProducer(t *testing.T) {
	topic := unique("sarama-idem")
	cfg := config()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 5
	cfg.Net.MaxOpenRequests = 1
	var want []record
	for i := 0; i < 500; i++ {
		want = append(want, record{value: []byte(fmt.Sprintf("idempotent-%d", i))})
	}
	produce(t, cfg, topic, 0, want)
	msgs := readPartition(t, topic, 0, len(want))
	for i, m := range msgs {
		if m.Offset != int64(i) || string(m.Value) != string(want[i].value) {
			t.Fatalf("record %d: offset %d value %q", i, m.Offset, m.Value)
		}
	}
}

// Sarama's ClusterAdmin as tools use it: DescribeCluster (the DescribeCluster API, v2 for
// Version V4_0_0_0), DescribeLogDirs (v4) and ListPartitionReassignments (v0).
func TestSaramaClusterAdminDescribeClusterLogDirsReassignments(t *testing.T) {
	topic := unique("sarama-logdirs")
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, config())
	if err != nil {
		t.Fatalf("new cluster admin: %v", err)
	}
	defer admin.Close()

	brokers, controllerID, err := admin.DescribeCluster()
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	if len(brokers) != 1 || brokers[0].ID() != 0 || brokers[0].Addr() != bootstrap || controllerID != 0 {
		t.Fatalf("DescribeCluster: %d brokers (first %d at %s), controller %d; want node 0 at %s",
			len(brokers), brokers[0].ID(), brokers[0].Addr(), controllerID, bootstrap)
	}

	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	producer, err := sarama.NewSyncProducer([]string{bootstrap}, config())
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 1, Value: sarama.StringEncoder("value")}); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	producer.Close()

	dirs, err := admin.DescribeLogDirs([]int32{0})
	if err != nil {
		t.Fatalf("DescribeLogDirs: %v", err)
	}
	if len(dirs[0]) != 1 {
		t.Fatalf("DescribeLogDirs: %+v, want one log dir", dirs)
	}
	dir := dirs[0][0]
	// In memory (the harness runs --memory) the dir is /memory and its space unknown (-1).
	if dir.ErrorCode != sarama.ErrNoError || dir.Path != "/memory" || dir.TotalBytes != -1 || dir.UsableBytes != -1 {
		t.Fatalf("log dir: %+v", dir)
	}
	sizes := map[int32]int64{}
	for _, tp := range dir.Topics {
		if tp.Topic != topic {
			continue
		}
		for _, p := range tp.Partitions {
			if p.OffsetLag != 0 || p.IsTemporary {
				t.Fatalf("partition %d: lag %d, future %v", p.PartitionID, p.OffsetLag, p.IsTemporary)
			}
			sizes[p.PartitionID] = p.Size
		}
	}
	if len(sizes) != 2 || sizes[0] != 0 || sizes[1] <= 0 {
		t.Fatalf("sizes of %s: %v, want partition 0 empty and 1 holding its records", topic, sizes)
	}

	status, err := admin.ListPartitionReassignments(topic, []int32{0, 1})
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	if len(status) != 0 {
		t.Fatalf("ListPartitionReassignments: %+v, want none in progress", status)
	}
}
