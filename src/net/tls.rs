//! TLS on a connection (`tls-port`): what is read from the socket is opened
//! into the request buffer, and a batch's replies are sealed into records
//! written with one write, as plain replies are. The handshake needs no step
//! of its own: its records are what the link has to send after the first
//! reads. The rustls configuration comes from `config::tls`.

use bytes::BytesMut;
use rustls::{ServerConfig, ServerConnection};
use std::io::{Read, Write};
use std::sync::Arc;

pub use crate::config::tls::current;

/// One connection's TLS session.
pub struct TlsLink {
    conn: ServerConnection,
    /// Records sealed for the socket, reused between writes.
    records: Vec<u8>,
}

impl TlsLink {
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsLink, String> {
        let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        Ok(TlsLink {
            conn,
            records: Vec::new(),
        })
    }

    /// Takes bytes read from the socket and appends the requests they
    /// carried to `plain`. `Ok(true)`: the client closed the session.
    /// An error ends the connection (a bad record, a failed handshake,
    /// a certificate refused).
    pub fn open(&mut self, mut read: &[u8], plain: &mut BytesMut) -> Result<bool, String> {
        let mut closed = false;
        while !read.is_empty() {
            self.conn.read_tls(&mut read).map_err(|e| e.to_string())?;
            let state = self.conn.process_new_packets().map_err(|e| e.to_string())?;
            closed |= state.peer_has_closed();
            let mut waiting = state.plaintext_bytes_to_read();
            while waiting > 0 {
                let start = plain.len();
                plain.resize(start + waiting, 0);
                let got = self.conn.reader().read(&mut plain[start..]).unwrap_or(0);
                plain.truncate(start + got);
                if got == 0 {
                    break;
                }
                waiting -= got;
            }
        }
        Ok(closed)
    }

    /// Seals `plain` into records and returns them with any record of the
    /// session's own before them (the handshake's, a key update, an alert).
    pub fn seal(&mut self, mut plain: &[u8]) -> &[u8] {
        self.records.clear();
        // Given back past the plain reply buffer's bound, as that one is.
        if self.records.capacity() > super::KEEP_OUT_BUFFER_BYTES {
            self.records = Vec::new();
        }
        loop {
            // rustls buffers at most a limited amount of plaintext before it
            // is sealed: hand it over a piece at a time.
            let taken = self.conn.writer().write(plain).unwrap_or(0);
            plain = &plain[taken..];
            while self.conn.wants_write() {
                if self.conn.write_tls(&mut self.records).is_err() {
                    break;
                }
            }
            if plain.is_empty() || taken == 0 {
                break;
            }
        }
        &self.records
    }
}
