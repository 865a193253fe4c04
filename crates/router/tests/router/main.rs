//! The router against real upstream servers on 127.0.0.1: routing, proxying, health,
//! drains, streaming, WebSockets and TLS.

mod common;
mod health;
mod proxy;
mod streaming;
mod tls;
