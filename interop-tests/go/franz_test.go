// franz-go (github.com/twmb/franz-go: kgo and kadm, pinned in go.mod) against Sluice.
//
//	SLUICE_BIN=/path/to/sluice go test -run '^TestFranz' .
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func franzClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("sluice-interop-franz-go"),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("new kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func franzAdmin(t *testing.T) *kadm.Client {
	t.Helper()
	return kadm.NewClient(franzClient(t))
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func franzCreate(t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopics(ctxTimeout(t), partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
	if err := resp.Error(); err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
}

// franzPoll reads exactly count records, then checks nothing more arrives for `quiet`.
func franzPoll(t *testing.T, cl *kgo.Client, count int) []*kgo.Record {
	t.Helper()
	var got []*kgo.Record
	ctx := ctxTimeout(t)
	for len(got) < count {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records within %v", len(got), count, timeout)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d after %d records: %v", topic, p, len(got), err)
		})
		got = append(got, fs.Records()...)
	}
	qctx, cancel := context.WithTimeout(context.Background(), quiet)
	defer cancel()
	if extra := cl.PollFetches(qctx).Records(); len(extra) > 0 {
		t.Fatalf("%d unexpected extra records, first at offset %d", len(extra), extra[0].Offset)
	}
	return got
}

func kgoRecord(topic string, r record) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Partition: 0, Key: r.key, Value: r.value}
	for _, h := range r.headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.key, Value: []byte(h.value)})
	}
	return rec
}

func fromKgo(recs []*kgo.Record) []record {
	out := make([]record, 0, len(recs))
	for _, m := range recs {
		r := record{key: m.Key, value: m.Value}
		for _, h := range m.Headers {
			r.headers = append(r.headers, header{h.Key, string(h.Value)})
		}
		out = append(out, r)
	}
	return out
}

// sameKgoRecords compares as sameRecords does, except that franz-go reads an empty value as
// an empty slice and a null one as nil, and an empty header value as nil.
func sameKgoRecords(t *testing.T, want, got []record) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("expected %d records, got %d", len(want), len(got))
	}
	for i := range want {
		w, g := want[i], got[i]
		if (w.key == nil) != (g.key == nil) || !bytes.Equal(w.key, g.key) ||
			(w.value == nil) != (g.value == nil) || !bytes.Equal(w.value, g.value) ||
			!reflect.DeepEqual(w.headers, g.headers) {
			t.Fatalf("record %d: expected %v, got %v", i, w, g)
		}
	}
}

func manyKeyedRecords(n int) []record {
	base := keyedRecords()
	out := make([]record, 0, n)
	for i := 0; i < n; i++ {
		r := base[i%len(base)]
		rec := record{headers: append([]header{{"seq", fmt.Sprint(i)}}, r.headers...)}
		if r.key != nil {
			rec.key = append(append([]byte{}, r.key...), fmt.Sprintf("#%d", i)...)
		}
		if r.value != nil {
			rec.value = append(append([]byte{}, r.value...), fmt.Sprintf("#%d", i)...)
		}
		out = append(out, rec)
	}
	return out
}

// 1000 records with keys and headers through the default (idempotent) producer: contiguous
// offsets from 0 and an exact round trip.
func TestFranzProduce1000Records(t *testing.T) {
	adm := franzAdmin(t)
	topic := unique("franz-keys")
	franzCreate(t, adm, topic, 1, nil)
	want := manyKeyedRecords(1000)
	cl := franzClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for _, r := range want {
		recs = append(recs, kgoRecord(topic, r))
	}
	if err := cl.ProduceSync(ctxTimeout(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	consumer := franzClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	got := franzPoll(t, consumer, len(want))

	t.Run("idempotent, contiguous offsets", func(t *testing.T) {
		for i, r := range recs {
			if r.Offset != int64(i) || r.Partition != 0 {
				t.Fatalf("record %d acknowledged at %d/%d", i, r.Partition, r.Offset)
			}
			if r.ProducerID < 0 {
				t.Fatalf("record %d: no producer id (%d): the producer is not idempotent", i, r.ProducerID)
			}
		}
		for i, r := range got {
			if r.Offset != int64(i) || r.ProducerID != recs[0].ProducerID {
				t.Fatalf("record %d read at offset %d, producer id %d (want %d)", i, r.Offset, r.ProducerID, recs[0].ProducerID)
			}
		}
	})
	t.Run("keys and headers, exact", func(t *testing.T) {
		sameKgoRecords(t, want, fromKgo(got))
	})
}

func TestFranzCompression(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := unique("franz-" + tc.name)
			franzCreate(t, franzAdmin(t), topic, 1, nil)
			want := compressible(tc.name)
			var seen sync.Map
			cl := franzClient(t, kgo.ProducerBatchCompression(tc.codec),
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.WithHooks(batchCodecHook{&seen}))
			var recs []*kgo.Record
			for _, r := range want {
				recs = append(recs, kgoRecord(topic, r))
			}
			if err := cl.ProduceSync(ctxTimeout(t), recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			consumer := franzClient(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
				kgo.WithHooks(batchCodecHook{&seen}))
			sameKgoRecords(t, want, fromKgo(franzPoll(t, consumer, len(want))))
			if _, ok := seen.Load(tc.name); !ok {
				var codecs []string
				seen.Range(func(k, _ any) bool { codecs = append(codecs, k.(string)); return true })
				t.Fatalf("no batch was read with codec %s (seen %v)", tc.name, codecs)
			}
		})
	}
}

// batchCodecHook records the codecs of the batches fetched, so a test knows the data really
// travelled compressed.
type batchCodecHook struct{ seen *sync.Map }

func (h batchCodecHook) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	names := map[uint8]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
	h.seen.Store(names[m.CompressionType], true)
}

// Two kgo members (cooperative-sticky, franz-go's default) split a 4-partition topic; every
// record is consumed exactly once across them, and the group's commits equal the end offsets.
func TestFranzConsumerGroupCooperative(t *testing.T) {
	adm := franzAdmin(t)
	topic, group := unique("franz-group"), unique("franz-group")
	franzCreate(t, adm, topic, groupPartitions, nil)

	const perPartition = 50
	producer := franzClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	want := map[string]bool{}
	for p := int32(0); p < groupPartitions; p++ {
		for i := 0; i < perPartition; i++ {
			v := fmt.Sprintf("p%d-%d", p, i)
			want[v] = true
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
		}
	}
	if err := producer.ProduceSync(ctxTimeout(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	type member struct {
		mu       sync.Mutex
		assigned map[int32]bool
		values   []string
		cl       *kgo.Client
	}
	members := []*member{{assigned: map[int32]bool{}}, {assigned: map[int32]bool{}}}
	for _, m := range members {
		m := m
		m.cl = franzClient(t,
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(sessionTimeout), kgo.HeartbeatInterval(heartbeatInterval),
			kgo.AutoCommitInterval(200*time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
				m.mu.Lock()
				defer m.mu.Unlock()
				for _, p := range a[topic] {
					m.assigned[p] = true
				}
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
				m.mu.Lock()
				defer m.mu.Unlock()
				for _, p := range r[topic] {
					delete(m.assigned, p)
				}
			}),
		)
	}
	// Only the second member polls until both have joined: the first waits for its share.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var pollErr sync.Map
	for i, m := range members {
		wg.Add(1)
		go func(i int, m *member) {
			defer wg.Done()
			for ctx.Err() == nil {
				fs := m.cl.PollFetches(ctx)
				if ctx.Err() != nil {
					return
				}
				fs.EachError(func(tp string, p int32, err error) { pollErr.Store(fmt.Sprintf("member %d %s/%d", i, tp, p), err) })
				m.mu.Lock()
				fs.EachRecord(func(r *kgo.Record) { m.values = append(m.values, string(r.Value)) })
				m.mu.Unlock()
			}
		}(i, m)
	}
	stop := func() { cancel(); wg.Wait() }
	defer stop()
	waitFor(t, "both members to own partitions and all records to be read", func() bool {
		total := 0
		owners := 0
		for _, m := range members {
			m.mu.Lock()
			total += len(m.values)
			if len(m.assigned) > 0 {
				owners++
			}
			m.mu.Unlock()
		}
		return owners == 2 && total >= len(want)
	})
	time.Sleep(quiet)
	stop()
	pollErr.Range(func(k, v any) bool { t.Fatalf("%s: %v", k, v); return false })

	seen := map[string]int{}
	assigned := map[int32]int{}
	for _, m := range members {
		m.mu.Lock()
		for _, v := range m.values {
			seen[v]++
		}
		for p := range m.assigned {
			assigned[p]++
		}
		m.mu.Unlock()
	}
	if len(assigned) != groupPartitions {
		t.Fatalf("assignment across the members: %v", assigned)
	}
	for v, n := range seen {
		if n != 1 || !want[v] {
			t.Fatalf("value %q consumed %d times (expected: %v)", v, n, want[v])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("consumed %d distinct values, want %d", len(seen), len(want))
	}
	for _, m := range members {
		if err := m.cl.CommitUncommittedOffsets(ctxTimeout(t)); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}

	committed, err := adm.FetchOffsets(ctxTimeout(t), group)
	if err != nil || committed.Error() != nil {
		t.Fatalf("FetchOffsets: %v / %v", err, committed.Error())
	}
	ends, err := adm.ListEndOffsets(ctxTimeout(t), topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("ListEndOffsets: %v / %v", err, ends.Error())
	}
	for p := int32(0); p < groupPartitions; p++ {
		c, ok := committed.Lookup(topic, p)
		e, _ := ends.Lookup(topic, p)
		if !ok || c.At != perPartition || e.Offset != perPartition {
			t.Fatalf("partition %d: committed %+v, end %+v, want both %d", p, c, e, perPartition)
		}
	}
}

func TestFranzAdmin(t *testing.T) {
	adm := franzAdmin(t)
	ctx := ctxTimeout(t)
	topic := unique("franz-admin")
	retention := "3600000"
	cleanup := "delete"
	franzCreate(t, adm, topic, 2, map[string]*string{"retention.ms": &retention, "cleanup.policy": &cleanup})

	t.Run("CreateTopics again: TOPIC_ALREADY_EXISTS", func(t *testing.T) {
		resp, err := adm.CreateTopics(ctx, 2, 1, nil, topic)
		if err != nil {
			t.Fatalf("CreateTopics: %v", err)
		}
		if r, _ := resp.On(topic, nil); !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			t.Fatalf("second CreateTopics: %v, want %v", r.Err, kerr.TopicAlreadyExists)
		}
	})

	t.Run("ListTopics and Metadata", func(t *testing.T) {
		topics, err := adm.ListTopics(ctx)
		if err != nil || !topics.Has(topic) {
			t.Fatalf("ListTopics: %v, has %s: %v", err, topic, topics.Has(topic))
		}
		meta, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatalf("Metadata: %v", err)
		}
		d := meta.Topics[topic]
		if d.Err != nil || len(d.Partitions) != 2 || len(meta.Brokers) != 1 {
			t.Fatalf("metadata of %s: err %v, %d partitions, brokers %v", topic, d.Err, len(d.Partitions), meta.Brokers)
		}
		for p, pd := range d.Partitions {
			if pd.Leader != meta.Brokers[0].NodeID || !reflect.DeepEqual(pd.Replicas, []int32{pd.Leader}) || pd.Err != nil {
				t.Fatalf("partition %d: %+v", p, pd)
			}
		}
	})

	t.Run("DescribeTopicConfigs", func(t *testing.T) {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatalf("DescribeTopicConfigs: %v", err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("configs of %s: %v / %v", topic, err, rc.Err)
		}
		values := map[string]string{}
		sources := map[string]kmsg.ConfigSource{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				values[c.Key] = *c.Value
			}
			sources[c.Key] = c.Source
		}
		if values["retention.ms"] != retention || values["cleanup.policy"] != cleanup ||
			sources["retention.ms"] != kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatalf("retention.ms %q (source %v), cleanup.policy %q", values["retention.ms"], sources["retention.ms"], values["cleanup.policy"])
		}
	})

	t.Run("CreatePartitions", func(t *testing.T) {
		resp, err := adm.CreatePartitions(ctx, 2, topic)
		if err != nil || resp.Error() != nil {
			t.Fatalf("CreatePartitions: %v / %v", err, resp.Error())
		}
		meta, err := adm.Metadata(ctx, topic)
		if err != nil || len(meta.Topics[topic].Partitions) != 4 {
			t.Fatalf("after CreatePartitions(+2): %v, %d partitions", err, len(meta.Topics[topic].Partitions))
		}
	})

	// Ten records in partition 0 with known timestamps, for the offset listings below.
	producer := franzClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	t.Run("ListOffsetsAfterMilli", func(t *testing.T) {
		at := base.Add(4*time.Second + 500*time.Millisecond).UnixMilli()
		listed, err := adm.ListOffsetsAfterMilli(ctx, at, topic)
		if err != nil || listed.Error() != nil {
			t.Fatalf("ListOffsetsAfterMilli: %v / %v", err, listed.Error())
		}
		o, _ := listed.Lookup(topic, 0)
		if o.Offset != 5 || o.Timestamp != base.Add(5*time.Second).UnixMilli() {
			t.Fatalf("first offset at or after %d: %+v, want offset 5 at %d", at, o, base.Add(5*time.Second).UnixMilli())
		}
		// After the last record: the end offset (Kafka answers -1; kadm maps it to the end).
		late, err := adm.ListOffsetsAfterMilli(ctx, base.Add(time.Minute).UnixMilli(), topic)
		if err != nil {
			t.Fatalf("ListOffsetsAfterMilli (late): %v", err)
		}
		if o, _ := late.Lookup(topic, 0); o.Offset != 10 {
			t.Fatalf("after the last record: %+v, want the end offset 10", o)
		}
	})

	t.Run("DeleteRecords and ListStartOffsets/ListEndOffsets", func(t *testing.T) {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
		resp, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		r, _ := resp.Lookup(topic, 0)
		if r.Err != nil || r.LowWatermark != 4 {
			t.Fatalf("DeleteRecords to 4: %+v", r)
		}
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil || starts.Error() != nil {
			t.Fatalf("ListStartOffsets: %v / %v", err, starts.Error())
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil || ends.Error() != nil {
			t.Fatalf("ListEndOffsets: %v / %v", err, ends.Error())
		}
		got := map[int32][2]int64{}
		for p := int32(0); p < 4; p++ {
			s, _ := starts.Lookup(topic, p)
			e, _ := ends.Lookup(topic, p)
			got[p] = [2]int64{s.Offset, e.Offset}
		}
		want := map[int32][2]int64{0: {4, 10}, 1: {0, 0}, 2: {0, 0}, 3: {0, 0}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("start/end offsets: %v, want %v", got, want)
		}
	})

	t.Run("DescribeGroups and DeleteGroups", func(t *testing.T) {
		group := unique("franz-admin-group")
		member := franzClient(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(sessionTimeout), kgo.HeartbeatInterval(heartbeatInterval))
		got := 0
		for got < 6 {
			fs := member.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("group member read %d of 6 records", got)
			}
			got += len(fs.Records())
		}
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("DescribeGroups: %v", err)
		}
		d, _ := described.On(group, nil)
		if d.Err != nil || d.State != "Stable" || d.Protocol != "cooperative-sticky" || d.ProtocolType != "consumer" || len(d.Members) != 1 {
			t.Fatalf("described %s: err %v state %q protocol %q/%q, %d members", group, d.Err, d.State, d.ProtocolType, d.Protocol, len(d.Members))
		}
		assigned := d.AssignedPartitions()[topic]
		var ps []int32
		for p := range assigned {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		if !reflect.DeepEqual(ps, []int32{0, 1, 2, 3}) {
			t.Fatalf("assigned: %v", ps)
		}
		// A group with a member cannot be deleted.
		del, err := adm.DeleteGroups(ctx, group)
		if err != nil {
			t.Fatalf("DeleteGroups: %v", err)
		}
		if !errors.Is(del[group].Err, kerr.NonEmptyGroup) {
			t.Fatalf("DeleteGroups of a live group: %v, want %v", del[group].Err, kerr.NonEmptyGroup)
		}
		member.Close()
		del, err = adm.DeleteGroups(ctx, group)
		if err != nil || del[group].Err != nil {
			t.Fatalf("DeleteGroups of the left group: %v / %v", err, del[group].Err)
		}
		described, err = adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("DescribeGroups after delete: %v", err)
		}
		if d, _ := described.On(group, nil); d.State != "Dead" {
			t.Fatalf("after DeleteGroups: state %q err %v, want Dead", d.State, d.Err)
		}
	})

	t.Run("ApiVersions", func(t *testing.T) {
		vs, err := adm.ApiVersions(ctx)
		if err != nil || len(vs) != 1 {
			t.Fatalf("ApiVersions: %v, %d brokers", err, len(vs))
		}
		for _, v := range vs {
			if v.Err != nil {
				t.Fatalf("ApiVersions of %d: %v", v.NodeID, v.Err)
			}
			var missing []string
			for _, key := range []int16{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 37, 42, 43, 44, 45, 46, 47, 50, 51, 60, 61, 65, 66, 75} {
				if _, ok := v.KeyMaxVersion(key); !ok {
					missing = append(missing, kmsg.NameForKey(key))
				}
			}
			// Not implemented by Sluice (yet): moving log dirs (AlterReplicaLogDirs).
			var present []string
			for _, key := range []int16{34} {
				if _, ok := v.KeyMaxVersion(key); ok {
					present = append(present, kmsg.NameForKey(key))
				}
			}
			if len(present) > 0 {
				t.Errorf("now advertised (update this test and the findings): %s", strings.Join(present, ", "))
			}
			// Transaction version 2 (KIP-890) needs these versions; kgo opts in by them and
			// by the finalized transaction.version feature.
			for key, want := range map[int16]int16{0: 12, 10: 6, 22: 5, 24: 5, 26: 5, 28: 5} {
				if max, ok := v.KeyMaxVersion(key); !ok || max != want {
					t.Errorf("%s: max version %d (advertised %v), want %d", kmsg.NameForKey(key), max, ok, want)
				}
			}
			var all []string
			v.EachKeySorted(func(key, min, max int16) { all = append(all, fmt.Sprintf("%s %d-%d", kmsg.NameForKey(key), min, max)) })
			t.Logf("advertised: %s", strings.Join(all, ", "))
			if len(missing) > 0 {
				t.Fatalf("not advertised: %s", strings.Join(missing, ", "))
			}
		}
	})

	t.Run("AlterTopicConfigs (IncrementalAlterConfigs)", func(t *testing.T) {
		v := "7200000"
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &v}}, topic)
		if err != nil || len(resp) != 1 || resp[0].Err != nil {
			t.Fatalf("AlterTopicConfigs: %v / %+v", err, resp)
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatalf("DescribeTopicConfigs: %v", err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("configs of %s: %v / %v", topic, err, rc.Err)
		}
		found := false
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" {
				found = true
				if c.Value == nil || *c.Value != v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					t.Fatalf("retention.ms after the change: %+v", c)
				}
			}
		}
		if !found {
			t.Fatalf("retention.ms not described: %+v", rc.Configs)
		}
		bad := "soon"
		resp, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &bad}}, topic)
		if err != nil || len(resp) != 1 || !errors.Is(resp[0].Err, kerr.InvalidConfig) {
			t.Fatalf("a bad value: %v / %+v, want %v", err, resp, kerr.InvalidConfig)
		}
	})

	t.Run("DeleteTopics", func(t *testing.T) {
		resp, err := adm.DeleteTopics(ctx, topic)
		if err != nil || resp.Error() != nil {
			t.Fatalf("DeleteTopics: %v / %v", err, resp.Error())
		}
		// A new client: kgo answers a Metadata request from its cache for a moment.
		meta, err := franzAdmin(t).Metadata(ctx, topic)
		if err != nil {
			t.Fatalf("Metadata: %v", err)
		}
		if d, ok := meta.Topics[topic]; !ok || !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("metadata of the deleted topic (listed %v): %+v, want %v", ok, d, kerr.UnknownTopicOrPartition)
		}
	})
}
