//! The accept loops, one per listener: a permit per connection (shared by every listener), a
//! task per connection, TLS on the SSL listeners, and graceful shutdown — stop accepting, let
//! each connection finish its request in flight, then return.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::broker::Broker;
use crate::config::SecurityProtocol;
use crate::connection::Connection;
use crate::security::tls;
use crate::session::{Principal, Session};

/// A bound listener and what runs on its connections.
pub struct Listener {
    pub socket: TcpListener,
    pub protocol: SecurityProtocol,
    /// Set on SSL and SASL_SSL listeners.
    pub tls: Option<TlsAcceptor>,
}

pub async fn run(listener: Listener, permits: Arc<Semaphore>, broker: Arc<Broker>) {
    let Listener {
        socket: listener,
        protocol,
        tls,
    } = listener;
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
        let tls = tls.clone();
        connections.spawn(serve(socket, peer, protocol, tls, broker, permit));
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!(listener = protocol.name(), "listener stopped");
}

async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    protocol: SecurityProtocol,
    tls: Option<TlsAcceptor>,
    broker: Arc<Broker>,
    permit: OwnedSemaphorePermit,
) {
    let mut session = Session::new(protocol.name(), peer);
    match tls {
        None => Connection::new(socket, session, broker).run().await,
        Some(acceptor) => {
            // A peer that never finishes its handshake is bounded like a slow request.
            let limit = Duration::from_millis(broker.config().request_read_timeout_ms);
            let stream = match tokio::time::timeout(limit, acceptor.accept(socket)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::info!(%peer, listener = protocol.name(), reason = %e, "TLS handshake failed");
                    if protocol == SecurityProtocol::Ssl && broker.config().tls_client_ca.is_some()
                    {
                        broker
                            .metrics()
                            .authentication(protocol.name(), "SSL", false);
                    }
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, listener = protocol.name(), reason = %format!("not done within {} ms (request_read_timeout_ms)", limit.as_millis()), "TLS handshake failed");
                    return;
                }
            };
            // With a client CA the peer has a verified certificate: its subject is who it is
            // (SASL, on SASL_SSL, then says who it is instead).
            if let Some(subject) = tls::peer_subject(&stream) {
                let principal = Principal::user(&subject);
                tracing::info!(%peer, listener = protocol.name(), %principal, "TLS client certificate accepted");
                broker
                    .metrics()
                    .authentication(protocol.name(), "SSL", true);
                session.set_principal(principal);
            }
            Connection::new(stream, session, broker).run().await
        }
    }
    drop(permit);
}
