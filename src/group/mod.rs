//! Consumer groups: the classic rebalance protocol and committed offsets.
//!
//! [`state::Coordinator`] is a pure state machine; [`GroupCoordinator`] runs it on the
//! coordinator runtime ([`crate::coordinator`]), which journals its records to the group log
//! before any answer leaves. Parked JoinGroup and SyncGroup requests are answered when the
//! machine says so, and nothing here blocks a tokio worker: a long-polling fetch on another
//! connection never delays a heartbeat or a join.

#[cfg(test)]
mod journal_faults;
pub mod records;
pub mod state;
pub mod types;

#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::coordinator::journal::Opened;
use crate::coordinator::{self, Addressed, Context, Runtime, StateMachine};
use records::{GroupLog, GroupRecord, GROUP_LOG_FILE};
pub use state::{Coordinator, Effects, GroupConfig};
pub use types::*;

impl Addressed for Reply {
    fn reply_id(&self) -> ReplyId {
        match self {
            Reply::Join(id, _) | Reply::Sync(id, _) => *id,
        }
    }
}

impl StateMachine for Coordinator {
    type Record = GroupRecord;
    type Reply = Reply;
    type Config = GroupConfig;

    fn restore(config: GroupConfig, records: Vec<GroupRecord>, now_ms: i64) -> Coordinator {
        Coordinator::restore(config, records, now_ms)
    }

    fn snapshot_records(&self) -> Vec<GroupRecord> {
        Coordinator::snapshot_records(self)
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        Coordinator::next_deadline_ms(self)
    }

    fn tick(&mut self, now_ms: i64) -> Effects {
        Coordinator::tick(self, now_ms)
    }
}

/// A group operation's changes that could not be journaled are gone: clients retry.
impl From<coordinator::NotJournaled> for GroupError {
    fn from(_: coordinator::NotJournaled) -> GroupError {
        GroupError::CoordinatorNotAvailable
    }
}

impl From<coordinator::Stopped> for GroupError {
    fn from(_: coordinator::Stopped) -> GroupError {
        GroupError::CoordinatorNotAvailable
    }
}

/// The handle connections use to reach the group coordinator.
pub struct GroupCoordinator {
    runtime: Runtime<Coordinator>,
}

impl GroupCoordinator {
    /// Starts the coordinator; with a directory, state is replayed from and journaled to
    /// `<dir>/groups.log`.
    pub fn start(
        config: GroupConfig,
        dir: Option<&Path>,
        clock: Clock,
    ) -> io::Result<GroupCoordinator> {
        let journal = match dir {
            Some(dir) => Some(GroupLog::open(dir, GROUP_LOG_FILE)?),
            None => None,
        };
        GroupCoordinator::start_with(config, journal, clock)
    }

    /// Starts the coordinator on a group log opened with faults injected at its I/O seam.
    #[cfg(test)]
    pub(crate) fn start_faulty(
        config: GroupConfig,
        dir: &Path,
        faults: std::sync::Arc<coordinator::JournalFaults>,
        clock: Clock,
    ) -> io::Result<GroupCoordinator> {
        let journal = GroupLog::open_faulty(dir, GROUP_LOG_FILE, faults)?;
        GroupCoordinator::start_with(config, Some(journal), clock)
    }

    fn start_with(
        config: GroupConfig,
        journal: Option<Opened<GroupRecord>>,
        clock: Clock,
    ) -> io::Result<GroupCoordinator> {
        Ok(GroupCoordinator {
            runtime: Runtime::start("sluice-groups", config, journal, clock)?,
        })
    }

    /// Runs `f` on the coordinator's thread and returns its result.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Context<Coordinator>, i64) -> T + Send + 'static,
    ) -> Result<T, GroupError> {
        Ok(self.runtime.call(f).await?)
    }

    pub async fn join(&self, request: JoinRequest) -> JoinResult {
        let member_id = request.member_id.clone();
        let unavailable =
            move || JoinResult::failed(&member_id, GroupError::CoordinatorNotAvailable);
        let (tx, rx) = oneshot::channel();
        let fallback = unavailable.clone();
        let sent = self.runtime.send(move |cx, now_ms| {
            let reply = cx.park(move |reply| {
                let _ = tx.send(match reply {
                    Some(Reply::Join(_, result)) => result,
                    _ => fallback(),
                });
            });
            let fx = cx.machine().join(request, reply, now_ms);
            // A failure has released the parked join already.
            let _ = cx.apply(fx, now_ms);
        });
        if sent.is_err() {
            return unavailable();
        }
        rx.await.unwrap_or_else(|_| unavailable())
    }

    pub async fn sync(&self, request: SyncRequest) -> SyncResult {
        let unavailable = || SyncResult::failed(GroupError::CoordinatorNotAvailable);
        let (tx, rx) = oneshot::channel();
        let sent = self.runtime.send(move |cx, now_ms| {
            let reply = cx.park(move |reply| {
                let _ = tx.send(match reply {
                    Some(Reply::Sync(_, result)) => result,
                    _ => unavailable(),
                });
            });
            let fx = cx.machine().sync(request, reply, now_ms);
            // A failure has released the parked sync already.
            let _ = cx.apply(fx, now_ms);
        });
        if sent.is_err() {
            return unavailable();
        }
        rx.await.unwrap_or_else(|_| unavailable())
    }

    pub async fn heartbeat(
        &self,
        group_id: String,
        generation_id: i32,
        member: MemberRef,
    ) -> Result<(), GroupError> {
        self.call(move |cx, now| {
            cx.machine()
                .heartbeat(&group_id, generation_id, &member, now)
        })
        .await?
    }

    pub async fn leave(
        &self,
        group_id: String,
        members: Vec<MemberRef>,
    ) -> Result<Vec<Option<GroupError>>, GroupError> {
        self.call(move |cx, now| {
            let (outcomes, fx) = cx.machine().leave(&group_id, &members, now)?;
            cx.apply(fx, now)?;
            Ok(outcomes)
        })
        .await?
    }

    pub async fn commit(
        &self,
        group_id: String,
        generation_id: i32,
        member: MemberRef,
        offsets: Vec<OffsetToCommit>,
    ) -> Result<(), GroupError> {
        self.call(move |cx, now| {
            let fx = cx
                .machine()
                .commit(&group_id, generation_id, &member, offsets, now)?;
            Ok(cx.apply(fx, now)?)
        })
        .await?
    }

    pub async fn fetch_offsets(
        &self,
        group_id: String,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<Vec<(String, i32, Option<CommittedOffset>)>, GroupError> {
        self.call(move |cx, _| cx.machine().fetch_offsets(&group_id, partitions.as_deref()))
            .await
    }

    pub async fn describe(
        &self,
        group_ids: Vec<String>,
    ) -> Result<Vec<GroupDescription>, GroupError> {
        self.call(move |cx, _| group_ids.iter().map(|g| cx.machine().describe(g)).collect())
            .await
    }

    /// TxnOffsetCommit: offsets held for `producer_id`'s open transaction, visible to
    /// OffsetFetch once its commit marker arrives ([`GroupCoordinator::end_txn`]).
    pub async fn txn_commit(
        &self,
        group_id: String,
        producer_id: i64,
        generation_id: i32,
        member: MemberRef,
        offsets: Vec<OffsetToCommit>,
    ) -> Result<(), GroupError> {
        self.call(move |cx, now| {
            let fx = cx.machine().txn_commit(
                &group_id,
                producer_id,
                generation_id,
                &member,
                offsets,
                now,
            )?;
            Ok(cx.apply(fx, now)?)
        })
        .await?
    }

    /// A transaction marker for `group_id`: what `producer_id` held commits or goes.
    pub async fn end_txn(
        &self,
        group_id: String,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), GroupError> {
        self.call(move |cx, now| {
            let fx = cx.machine().end_txn(&group_id, producer_id, commit);
            Ok(cx.apply(fx, now)?)
        })
        .await?
    }

    /// Partitions of `group_id` with offsets an open transaction holds.
    pub async fn unstable_partitions(
        &self,
        group_id: String,
    ) -> Result<Vec<(String, i32)>, GroupError> {
        self.call(move |cx, _| cx.machine().unstable_partitions(&group_id))
            .await
    }

    /// Drops every group's committed offsets of a deleted topic.
    pub async fn forget_topic(&self, topic: String) -> Result<(), GroupError> {
        self.call(move |cx, now| {
            let fx = cx.machine().forget_topic(&topic);
            Ok(cx.apply(fx, now)?)
        })
        .await?
    }

    pub async fn all_offsets(&self) -> Result<Vec<(String, String, i32, i64)>, GroupError> {
        self.call(|cx, _| cx.machine().all_offsets()).await
    }

    pub async fn list(&self) -> Result<Vec<GroupListing>, GroupError> {
        self.call(|cx, _| cx.machine().list()).await
    }

    pub async fn delete_groups(
        &self,
        group_ids: Vec<String>,
    ) -> Result<Vec<Option<GroupError>>, GroupError> {
        self.call(move |cx, now| {
            group_ids
                .iter()
                .map(|g| match cx.machine().delete_group(g) {
                    Ok(fx) => cx.apply(fx, now).err().map(GroupError::from),
                    Err(e) => Some(e),
                })
                .collect()
        })
        .await
    }

    pub async fn delete_offsets(
        &self,
        group_id: String,
        partitions: Vec<(String, i32)>,
    ) -> Result<(), GroupError> {
        self.call(move |cx, now| {
            let fx = cx.machine().delete_offsets(&group_id, &partitions)?;
            Ok(cx.apply(fx, now)?)
        })
        .await?
    }

    /// Deletes every group, members and committed offsets included (the admin reset), durably;
    /// returns how many groups there were. Members still polling learn it from their next
    /// heartbeat (UNKNOWN_MEMBER_ID) and join again.
    pub async fn reset(&self) -> Result<usize, GroupError> {
        self.call(|cx, now| {
            let groups = cx.machine().list().len();
            match cx.reset(now) {
                Ok(()) => Ok(groups),
                Err(e) => {
                    tracing::error!(error = %e, "cannot empty the group log");
                    Err(GroupError::CoordinatorNotAvailable)
                }
            }
        })
        .await?
    }

    /// Stops the coordinator after the commands already sent, and flushes the group log.
    pub fn stop(&self) {
        self.runtime.stop();
    }
}
