//! UDP sockets with a large receive buffer: at a few hundred requests in
//! flight the default (about 200 KiB on Linux, a few hundred datagrams)
//! overflows in bursts and the kernel drops datagrams silently.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Bind a non-blocking UDP socket with (at least asking for) `buffer` bytes
/// of receive and send buffer. The kernel caps the request at
/// net.core.rmem_max / wmem_max; the socket works either way.
pub fn udp_socket(bind: SocketAddr, buffer: usize) -> io::Result<tokio::net::UdpSocket> {
    let sock = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    if buffer > 0 {
        let _ = sock.set_recv_buffer_size(buffer);
        let _ = sock.set_send_buffer_size(buffer);
    }
    sock.set_nonblocking(true)?;
    sock.bind(&bind.into())?;
    tokio::net::UdpSocket::from_std(sock.into())
}

/// The receive buffer the kernel actually granted (Linux reports twice the
/// usable size), for messages.
pub fn recv_buffer(sock: &tokio::net::UdpSocket) -> usize {
    socket2::SockRef::from(sock).recv_buffer_size().unwrap_or(0)
}
