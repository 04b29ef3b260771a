// franz-go's GroupTransactSession against Sluice: consume-transform-produce in a consumer
// group, exactly once. Sluice finalizes transaction.version 2 by default, so kgo runs
// KIP-890 part 2: partitions and the group join the transaction implicitly and every
// EndTxn bumps the producer epoch.
//
//	SLUICE_BIN=/path/to/sluice go test -run '^TestFranzGroupTransactSession' -v .
package interop

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFranzGroupTransactSession(t *testing.T) {
	const perPartition = 30
	adm := franzAdmin(t)
	in, out := unique("franz-txn-in"), unique("franz-txn-out")
	group, txnID := unique("franz-txn-group"), unique("franz-txn-id")
	franzCreate(t, adm, in, 2, nil)
	franzCreate(t, adm, out, 1, nil)

	input := franzClient(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var want []string
	for i := 0; i < 2*perPartition; i++ {
		value := fmt.Sprintf("v%02d", i)
		want = append(want, "t-"+value)
		r := &kgo.Record{Topic: in, Partition: int32(i % 2), Value: []byte(value)}
		if err := input.ProduceSync(ctxTimeout(t), r).FirstErr(); err != nil {
			t.Fatalf("produce input %d: %v", i, err)
		}
	}

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(bootstrap),
		kgo.ClientID("sluice-interop-franz-go-txn"),
		kgo.TransactionalID(txnID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(heartbeatInterval),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// At most 7 records a round: several transactions, each with some of both partitions.
		kgo.FetchMaxPartitionBytes(200),
	)
	if err != nil {
		t.Fatalf("NewGroupTransactSession: %v", err)
	}
	defer sess.Close()

	// The first round aborts: its output is dropped and the session rewinds to the
	// committed offsets, so the same input is transformed again.
	consumed, ends, aborted := 0, 0, false
	deadline := time.Now().Add(2 * timeout)
	for consumed < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("transformed %d of %d records in %v", consumed, len(want), 2*timeout)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := sess.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if err != context.DeadlineExceeded {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatalf("Begin: %v", err)
		}
		ctx = ctxTimeout(t)
		aborting := !aborted
		for _, r := range recs {
			transformed := &kgo.Record{Topic: out, Partition: 0, Value: append([]byte("t-"), r.Value...)}
			sess.Produce(ctx, transformed, func(_ *kgo.Record, err error) {
				// An abort fails the records still buffered; only then is that expected.
				if err != nil && !aborting {
					t.Errorf("produce output: %v", err)
				}
			})
		}
		how := kgo.TryCommit
		if !aborted {
			how = kgo.TryAbort
		}
		committed, err := sess.End(ctx, how)
		if err != nil {
			t.Fatalf("End after %d records: %v", consumed, err)
		}
		ends++
		if !aborted {
			aborted = true
			if committed {
				t.Fatalf("the aborted round committed")
			}
			continue
		}
		if committed {
			consumed += len(recs)
		}
	}
	if ends < 3 {
		t.Fatalf("%d transactions: the test wants an abort and several commits", ends)
	}

	// Exactly the transformed input, once each, is committed output.
	reader := franzClient(t, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for _, r := range franzPoll(t, reader, len(want)) {
		got = append(got, string(r.Value))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("committed output:\n%v\nwant\n%v", got, want)
	}
	// The group's offsets committed with the transactions: all input, per partition.
	offsets, err := adm.FetchOffsets(ctxTimeout(t), group)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	for p := int32(0); p < 2; p++ {
		o, ok := offsets.Lookup(in, p)
		if !ok || o.Err != nil || o.At != perPartition {
			t.Fatalf("committed offset of %s/%d: %+v (found %v), want %d", in, p, o, ok, perPartition)
		}
	}
	// Transaction version 2: every end bumped the epoch once from InitProducerId's 0.
	described, err := adm.DescribeTransactions(ctxTimeout(t), txnID)
	if err != nil {
		t.Fatalf("DescribeTransactions: %v", err)
	}
	d, err := described.On(txnID, func(*kadm.DescribedTransaction) error { return nil })
	if err != nil || d.ProducerEpoch != int16(ends) || d.State != "CompleteCommit" {
		t.Fatalf("transactional id after %d ends: %+v (%v), want CompleteCommit at epoch %d", ends, d, err, ends)
	}
	t.Logf("%d records in %d transactions; producer %d at epoch %d", consumed, ends, d.ProducerID, d.ProducerEpoch)
}
