//! The thread that drives one coordinator: commands arrive as closures over a channel, run
//! one at a time against the state machine, and whatever they change is journaled before any
//! answer leaves. The thread sleeps until the machine's next deadline, so a coordinator costs
//! nothing while idle and never blocks a tokio worker.

use std::collections::HashMap;
use std::io;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::journal::{AppendError, Journal, Opened};
use super::{Addressed, Effects, ReplyId, StateMachine};
use crate::clock::Clock;

/// A parked request's way back to its client: called with the machine's reply, or with
/// `None` when the machine went back to its journal and no longer knows the request.
type Waiter<P> = Box<dyn FnOnce(Option<P>) + Send>;

type Job<M> = Box<dyn FnOnce(&mut Context<M>, i64) + Send>;

enum Command<M: StateMachine> {
    Run(Job<M>),
    Stop,
}

/// What the coordinator's thread owns: the machine, its journal and the parked requests.
pub struct Context<M: StateMachine> {
    machine: M,
    /// What the machine is rebuilt with when it goes back to its journal.
    config: M::Config,
    journal: Option<Journal<M::Record>>,
    next_reply: ReplyId,
    parked: HashMap<ReplyId, Waiter<M::Reply>>,
}

/// The runtime could not journal what a command changed: the machine is back at what the
/// journal holds, and the command's changes are gone.
#[derive(Debug, thiserror::Error)]
#[error("the coordinator could not journal its records")]
pub struct NotJournaled(#[source] pub AppendError);

impl<M: StateMachine> Context<M> {
    pub fn machine(&mut self) -> &mut M {
        &mut self.machine
    }

    /// Parks a request until the machine answers the returned id in some [`Effects`].
    pub fn park(&mut self, waiter: impl FnOnce(Option<M::Reply>) + Send + 'static) -> ReplyId {
        self.next_reply += 1;
        self.parked.insert(self.next_reply, Box::new(waiter));
        self.next_reply
    }

    /// Journals the records of `fx`, then releases its replies: nothing is answered before
    /// what it reports is written. When the records cannot be written (a full disk, a record
    /// over the limit), the machine goes back to what the journal holds, every parked request
    /// is released with `None`, and the error is returned for the command that made them.
    pub fn apply(
        &mut self,
        fx: Effects<M::Record, M::Reply>,
        now_ms: i64,
    ) -> Result<(), NotJournaled> {
        if let Some(journal) = &mut self.journal {
            if let Err(e) = journal.append(&fx.records) {
                tracing::error!(error = %e, "cannot journal coordinator records; the coordinator goes back to its journal");
                self.fall_back_to_the_journal(now_ms);
                return Err(NotJournaled(e));
            }
            if journal.wants_compaction() {
                if let Err(e) = journal.compact(&self.machine.snapshot_records()) {
                    tracing::error!(error = %e, "cannot compact a coordinator journal");
                }
            }
        }
        for reply in fx.replies {
            // A client that went away no longer waits for its answer; nothing to do then.
            if let Some(waiter) = self.parked.remove(&reply.reply_id()) {
                waiter(Some(reply));
            }
        }
        Ok(())
    }

    /// Forgets everything (the admin reset): the machine starts again empty, the journal is
    /// emptied durably first, and every parked request is released with `None` (the new
    /// machine does not know it). On a journal error the machine is left as it was.
    pub fn reset(&mut self, now_ms: i64) -> io::Result<()> {
        if let Some(journal) = &mut self.journal {
            journal.clear()?;
        }
        self.machine = M::restore(self.config.clone(), Vec::new(), now_ms);
        for (_, waiter) in self.parked.drain() {
            waiter(None);
        }
        Ok(())
    }

    /// Rebuilds the machine from the journal, so its state is what a restart would find, and
    /// releases every parked request (the rebuilt machine does not know them).
    fn fall_back_to_the_journal(&mut self, now_ms: i64) {
        let Some(journal) = &self.journal else { return };
        match journal.replay() {
            Ok(records) => self.machine = M::restore(self.config.clone(), records, now_ms),
            Err(e) => tracing::error!(error = %e, "cannot read a coordinator journal back"),
        }
        for (_, waiter) in self.parked.drain() {
            waiter(None);
        }
    }
}

/// The handle requests use to reach a coordinator's thread.
pub struct Runtime<M: StateMachine> {
    commands: Mutex<mpsc::Sender<Command<M>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The command channel is closed: the coordinator stopped.
#[derive(Debug, thiserror::Error)]
#[error("the coordinator is not running")]
pub struct Stopped;

impl<M: StateMachine> Runtime<M> {
    /// Starts the machine on its own thread named `name`: restored from `journal` (compacted
    /// to the live state first), or empty without one (memory mode).
    pub fn start(
        name: &str,
        config: M::Config,
        journal: Option<Opened<M::Record>>,
        clock: Clock,
    ) -> io::Result<Runtime<M>> {
        let now_ms = clock.now_ms();
        let (machine, journal) = match journal {
            Some((mut journal, records)) => {
                let machine = M::restore(config.clone(), records, now_ms);
                journal.compact(&machine.snapshot_records())?;
                (machine, Some(journal))
            }
            None => (M::restore(config.clone(), Vec::new(), now_ms), None),
        };
        let mut context = Context {
            machine,
            config,
            journal,
            next_reply: 0,
            parked: HashMap::new(),
        };
        let (tx, rx) = mpsc::channel::<Command<M>>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&mut context, rx, clock))?;
        Ok(Runtime {
            commands: Mutex::new(tx),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `job` for the coordinator's thread.
    pub fn send(
        &self,
        job: impl FnOnce(&mut Context<M>, i64) + Send + 'static,
    ) -> Result<(), Stopped> {
        let commands = self.commands.lock().unwrap_or_else(|p| p.into_inner());
        commands
            .send(Command::Run(Box::new(job)))
            .map_err(|_| Stopped)
    }

    /// Runs `f` on the coordinator's thread and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Context<M>, i64) -> T + Send + 'static,
    ) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.send(move |context, now_ms| {
            let _ = tx.send(f(context, now_ms));
        })?;
        rx.await.map_err(|_| Stopped)
    }

    /// Stops the thread after the commands already sent, and flushes the journal.
    pub fn stop(&self) {
        let sent = {
            let commands = self.commands.lock().unwrap_or_else(|p| p.into_inner());
            commands.send(Command::Stop).is_ok()
        };
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let (true, Some(thread)) = (sent, thread) {
            if thread.join().is_err() {
                tracing::error!("a coordinator thread panicked");
            }
        }
    }
}

impl<M: StateMachine> Drop for Runtime<M> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<M: StateMachine>(
    context: &mut Context<M>,
    commands: mpsc::Receiver<Command<M>>,
    clock: Clock,
) {
    loop {
        let now_ms = clock.now_ms();
        let command = match context.machine.next_deadline_ms() {
            Some(deadline) if deadline <= now_ms => Err(mpsc::RecvTimeoutError::Timeout),
            Some(deadline) => {
                commands.recv_timeout(Duration::from_millis((deadline - now_ms) as u64))
            }
            None => commands
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match command {
            Ok(Command::Run(job)) => job(context, clock.now_ms()),
            Ok(Command::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now_ms = clock.now_ms();
        if context
            .machine
            .next_deadline_ms()
            .is_some_and(|d| d <= now_ms)
        {
            let fx = context.machine.tick(now_ms);
            // A failure is logged and the machine is back at its journal.
            let _ = context.apply(fx, now_ms);
        }
    }
    if let Some(journal) = &mut context.journal {
        if let Err(e) = journal.flush() {
            tracing::error!(error = %e, "cannot flush a coordinator journal");
        }
    }
}
