//! Authentication: TLS on the SSL listeners ([`tls`]), SASL on the SASL listeners ([`sasl`]:
//! the state machine each session holds, with [`plain`], [`scram`] and [`oauthbearer`]), and
//! the users' SCRAM credentials ([`credentials`]). What an authenticated connection may do
//! is the authorizer's business; this module only says who it is.

pub mod credentials;
pub mod oauthbearer;
pub mod plain;
pub mod sasl;
pub mod scram;
pub mod tls;
