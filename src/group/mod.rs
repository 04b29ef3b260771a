//! Consumer groups: the classic rebalance protocol and committed offsets.
//!
//! [`state::Coordinator`] is a pure state machine. [`GroupCoordinator`] drives it from one
//! dedicated thread: requests arrive as closures over a channel, parked JoinGroup and
//! SyncGroup requests are answered through oneshot channels when the machine says so, and
//! the thread sleeps until the machine's next deadline. Nothing here blocks a tokio worker,
//! and a long-polling fetch on another connection never delays a heartbeat or a join.

mod journal_io;
pub mod state;
pub mod store;
pub mod types;

#[cfg(test)]
mod journal_faults;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clock::Clock;
pub use state::{Coordinator, Effects, GroupConfig};
use store::GroupStore;
pub use types::*;

type Job = Box<dyn FnOnce(&mut Driver, i64) + Send>;

enum Command {
    Run(Job),
    Stop,
}

/// What the coordinator thread owns.
pub struct Driver {
    coordinator: Coordinator,
    /// What the coordinator is rebuilt with when it goes back to the group log.
    config: GroupConfig,
    store: Option<GroupStore>,
    next_reply: ReplyId,
    joins: HashMap<ReplyId, oneshot::Sender<JoinResult>>,
    syncs: HashMap<ReplyId, oneshot::Sender<SyncResult>>,
}

impl Driver {
    fn park_join(&mut self, tx: oneshot::Sender<JoinResult>) -> ReplyId {
        self.next_reply += 1;
        self.joins.insert(self.next_reply, tx);
        self.next_reply
    }

    fn park_sync(&mut self, tx: oneshot::Sender<SyncResult>) -> ReplyId {
        self.next_reply += 1;
        self.syncs.insert(self.next_reply, tx);
        self.next_reply
    }

    /// Persists the records of `fx`, then sends its answers to parked requests: nothing is
    /// answered before what it reports is written. When the records cannot be written (a
    /// full disk, a record over the limit), the coordinator goes back to what the group log
    /// holds, every parked request is answered `COORDINATOR_NOT_AVAILABLE` (clients retry),
    /// and the error is returned for the request that made the records.
    fn apply(&mut self, fx: Effects, now_ms: i64) -> Result<(), GroupError> {
        if let Some(store) = &mut self.store {
            if let Err(e) = store.append(&fx.records) {
                tracing::error!(error = %e, "cannot persist group records; the coordinator goes back to the group log");
                self.fall_back_to_the_log(now_ms);
                return Err(GroupError::CoordinatorNotAvailable);
            }
            if store.wants_compaction() {
                if let Err(e) = store.compact(&self.coordinator.snapshot_records()) {
                    tracing::error!(error = %e, "cannot compact the group log");
                }
            }
        }
        for reply in fx.replies {
            // A client that went away no longer waits for its answer; nothing to do then.
            match reply {
                Reply::Join(id, result) => {
                    if let Some(tx) = self.joins.remove(&id) {
                        let _ = tx.send(result);
                    }
                }
                Reply::Sync(id, result) => {
                    if let Some(tx) = self.syncs.remove(&id) {
                        let _ = tx.send(result);
                    }
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the coordinator from the group log, so its state is what a restart would
    /// find, and fails every parked request (the rebuilt coordinator does not know them).
    fn fall_back_to_the_log(&mut self, now_ms: i64) {
        let Some(store) = &self.store else { return };
        match store.replay() {
            Ok(records) => {
                self.coordinator = Coordinator::restore(self.config.clone(), records, now_ms);
            }
            Err(e) => tracing::error!(error = %e, "cannot read the group log back"),
        }
        for (_, tx) in self.joins.drain() {
            let _ = tx.send(JoinResult::failed("", GroupError::CoordinatorNotAvailable));
        }
        for (_, tx) in self.syncs.drain() {
            let _ = tx.send(SyncResult::failed(GroupError::CoordinatorNotAvailable));
        }
    }
}

/// The handle connections use to reach the coordinator thread.
pub struct GroupCoordinator {
    commands: Mutex<mpsc::Sender<Command>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCoordinator {
    /// Starts the coordinator; with a directory, state is replayed from and persisted to
    /// `<dir>/groups.log`.
    pub fn start(
        config: GroupConfig,
        dir: Option<&Path>,
        clock: Clock,
    ) -> io::Result<GroupCoordinator> {
        let opened = match dir {
            Some(dir) => Some(GroupStore::open(dir)?),
            None => None,
        };
        GroupCoordinator::start_with(config, opened, clock)
    }

    /// Starts the coordinator on a group log opened with faults injected at its I/O seam.
    #[cfg(test)]
    pub(crate) fn start_faulty(
        config: GroupConfig,
        dir: &Path,
        faults: std::sync::Arc<journal_io::JournalFaults>,
        clock: Clock,
    ) -> io::Result<GroupCoordinator> {
        let opened = GroupStore::open_faulty(dir, faults)?;
        GroupCoordinator::start_with(config, Some(opened), clock)
    }

    fn start_with(
        config: GroupConfig,
        opened: Option<(GroupStore, Vec<store::GroupRecord>)>,
        clock: Clock,
    ) -> io::Result<GroupCoordinator> {
        let now_ms = clock.now_ms();
        let (coordinator, store) = match opened {
            Some((mut store, records)) => {
                let coordinator = Coordinator::restore(config.clone(), records, now_ms);
                store.compact(&coordinator.snapshot_records())?;
                (coordinator, Some(store))
            }
            None => (Coordinator::new(config.clone()), None),
        };
        let mut driver = Driver {
            coordinator,
            config,
            store,
            next_reply: 0,
            joins: HashMap::new(),
            syncs: HashMap::new(),
        };
        let (tx, rx) = mpsc::channel::<Command>();
        let thread = std::thread::Builder::new()
            .name("sluice-groups".into())
            .spawn(move || run(&mut driver, rx, clock))?;
        Ok(GroupCoordinator {
            commands: Mutex::new(tx),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, job: Job) -> bool {
        let commands = self.commands.lock().unwrap_or_else(|p| p.into_inner());
        commands.send(Command::Run(job)).is_ok()
    }

    /// Runs `f` on the coordinator thread and returns its result.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Driver, i64) -> T + Send + 'static,
    ) -> Result<T, GroupError> {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Box::new(move |driver, now_ms| {
            let _ = tx.send(f(driver, now_ms));
        }));
        if !sent {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        rx.await.map_err(|_| GroupError::CoordinatorNotAvailable)
    }

    pub async fn join(&self, request: JoinRequest) -> JoinResult {
        let member_id = request.member_id.clone();
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Box::new(move |driver, now_ms| {
            let reply = driver.park_join(tx);
            let fx = driver.coordinator.join(request, reply, now_ms);
            // A failure has answered the parked join already.
            let _ = driver.apply(fx, now_ms);
        }));
        let unavailable = || JoinResult::failed(&member_id, GroupError::CoordinatorNotAvailable);
        if !sent {
            return unavailable();
        }
        rx.await.unwrap_or_else(|_| unavailable())
    }

    pub async fn sync(&self, request: SyncRequest) -> SyncResult {
        let (tx, rx) = oneshot::channel();
        let sent = self.send(Box::new(move |driver, now_ms| {
            let reply = driver.park_sync(tx);
            let fx = driver.coordinator.sync(request, reply, now_ms);
            // A failure has answered the parked sync already.
            let _ = driver.apply(fx, now_ms);
        }));
        let unavailable = || SyncResult::failed(GroupError::CoordinatorNotAvailable);
        if !sent {
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
        self.call(move |d, now| {
            d.coordinator
                .heartbeat(&group_id, generation_id, &member, now)
        })
        .await?
    }

    pub async fn leave(
        &self,
        group_id: String,
        members: Vec<MemberRef>,
    ) -> Result<Vec<Option<GroupError>>, GroupError> {
        self.call(move |d, now| {
            let (outcomes, fx) = d.coordinator.leave(&group_id, &members, now)?;
            d.apply(fx, now)?;
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
        self.call(move |d, now| {
            let fx = d
                .coordinator
                .commit(&group_id, generation_id, &member, offsets, now)?;
            d.apply(fx, now)
        })
        .await?
    }

    pub async fn fetch_offsets(
        &self,
        group_id: String,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Result<Vec<(String, i32, Option<CommittedOffset>)>, GroupError> {
        self.call(move |d, _| {
            d.coordinator
                .fetch_offsets(&group_id, partitions.as_deref())
        })
        .await
    }

    pub async fn describe(
        &self,
        group_ids: Vec<String>,
    ) -> Result<Vec<GroupDescription>, GroupError> {
        self.call(move |d, _| {
            group_ids
                .iter()
                .map(|g| d.coordinator.describe(g))
                .collect()
        })
        .await
    }

    /// Drops every group's committed offsets of a deleted topic.
    pub async fn forget_topic(&self, topic: String) -> Result<(), GroupError> {
        self.call(move |d, now| {
            let fx = d.coordinator.forget_topic(&topic);
            d.apply(fx, now)
        })
        .await?
    }

    pub async fn all_offsets(&self) -> Result<Vec<(String, String, i32, i64)>, GroupError> {
        self.call(|d, _| d.coordinator.all_offsets()).await
    }

    pub async fn list(&self) -> Result<Vec<GroupListing>, GroupError> {
        self.call(|d, _| d.coordinator.list()).await
    }

    pub async fn delete_groups(
        &self,
        group_ids: Vec<String>,
    ) -> Result<Vec<Option<GroupError>>, GroupError> {
        self.call(move |d, now| {
            group_ids
                .iter()
                .map(|g| match d.coordinator.delete_group(g) {
                    Ok(fx) => d.apply(fx, now).err(),
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
        self.call(move |d, now| {
            let fx = d.coordinator.delete_offsets(&group_id, &partitions)?;
            d.apply(fx, now)
        })
        .await?
    }

    /// Stops the thread after the commands already sent, and flushes the group log.
    pub fn stop(&self) {
        let sent = {
            let commands = self.commands.lock().unwrap_or_else(|p| p.into_inner());
            commands.send(Command::Stop).is_ok()
        };
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let (true, Some(thread)) = (sent, thread) {
            if thread.join().is_err() {
                tracing::error!("group coordinator thread panicked");
            }
        }
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(driver: &mut Driver, commands: mpsc::Receiver<Command>, clock: Clock) {
    loop {
        let now_ms = clock.now_ms();
        let next = driver.coordinator.next_deadline_ms();
        let command = match next {
            Some(deadline) if deadline <= now_ms => Err(mpsc::RecvTimeoutError::Timeout),
            Some(deadline) => {
                commands.recv_timeout(Duration::from_millis((deadline - now_ms) as u64))
            }
            None => commands
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match command {
            Ok(Command::Run(job)) => job(driver, clock.now_ms()),
            Ok(Command::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now_ms = clock.now_ms();
        if driver
            .coordinator
            .next_deadline_ms()
            .is_some_and(|d| d <= now_ms)
        {
            let fx = driver.coordinator.tick(now_ms);
            // A failure is logged and the coordinator is back at the group log.
            let _ = driver.apply(fx, now_ms);
        }
    }
    if let Some(store) = &mut driver.store {
        if let Err(e) = store.flush() {
            tracing::error!(error = %e, "cannot flush the group log");
        }
    }
}
