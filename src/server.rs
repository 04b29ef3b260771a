//! The accept loop: a permit per connection, a task per connection, and graceful shutdown —
//! stop accepting, let each connection finish its request in flight, then return.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::connection::Connection;
use crate::session::{Session, PLAINTEXT_LISTENER};

pub async fn run(listener: TcpListener, broker: Arc<Broker>) {
    let permits = Arc::new(Semaphore::new(broker.config().max_connections));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = broker.shutting_down() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = broker.shutting_down() => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: keep serving the connections we have.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        let broker = broker.clone();
        connections.spawn(async move {
            Connection::new(socket, Session::new(PLAINTEXT_LISTENER, peer), broker)
                .run()
                .await;
            drop(permit);
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!("server stopped");
}
