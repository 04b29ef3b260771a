//! The group coordinator's cost per offset commit as the number of groups grows: one commit
//! through the coordinator runtime (the state machine, the group log append on disk, the
//! answer) with 10, 1,000 and 100,000 other groups holding offsets. The cost should not
//! depend on groups the commit does not touch. Run with `cargo bench --bench coordinator`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice::clock::Clock;
use sluice::group::{GroupConfig, GroupCoordinator, MemberRef, OffsetToCommit};

/// A simple consumer's commit (no generation, no member): what `commitSync` of an
/// unsubscribed consumer and `kafka-consumer-groups --reset-offsets` send.
fn standalone() -> MemberRef {
    MemberRef {
        member_id: String::new(),
        instance_id: None,
    }
}

fn offsets(offset: i64) -> Vec<OffsetToCommit> {
    (0..3)
        .map(|partition| OffsetToCommit {
            topic: "events".to_string(),
            partition,
            offset,
            leader_epoch: 0,
            metadata: String::new(),
        })
        .collect()
}

fn commit_with_many_groups(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("group_commit");
    for groups in [10usize, 1_000, 100_000] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let coordinator =
            GroupCoordinator::start(GroupConfig::default(), Some(dir.path()), Clock::System)
                .expect("the coordinator starts");
        runtime.block_on(async {
            for g in 0..groups {
                coordinator
                    .commit(format!("group-{g}"), -1, standalone(), offsets(1))
                    .await
                    .expect("a commit");
            }
        });
        let mut offset = 1;
        group.bench_with_input(BenchmarkId::new("groups", groups), &groups, |b, _| {
            b.iter(|| {
                offset += 1;
                runtime.block_on(async {
                    coordinator
                        .commit("group-0".to_string(), -1, standalone(), offsets(offset))
                        .await
                        .expect("a commit")
                })
            })
        });
        coordinator.stop();
    }
    group.finish();
}

criterion_group!(benches, commit_with_many_groups);
criterion_main!(benches);
