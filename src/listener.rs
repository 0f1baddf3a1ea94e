//! Binding the listening sockets (the service's and the emulator's).

use std::net::{SocketAddr, TcpListener};

/// Binds `addr`; a port in use names the variable that picks another.
pub fn bind(addr: SocketAddr, port_variable: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).map_err(|err| match err.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "port {} is already in use on {}: stop the other process or set {port_variable} to a free port",
            addr.port(),
            addr.ip()
        ),
        _ => anyhow::Error::new(err).context(format!("binding {addr}")),
    })
}
