//! A tiny authoritative DNS server for the image test: answers A queries for names under
//! [`ZONE`] with 127.0.0.1 and records every name asked, so a test can prove that a binary
//! resolved a host name through DNS (the image has no libc resolver to fall back on).
//! Test infrastructure only: one question per query, no compression in questions, UDP.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

/// Names under this zone resolve to 127.0.0.1; anything else is NXDOMAIN.
pub const ZONE: &str = "pms-sync.test";

pub struct DnsServer {
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

impl DnsServer {
    /// Serves on `addr` (port 53 when a resolv.conf must name it: that needs root) on a thread.
    pub fn start(addr: &str) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        let addr = socket.local_addr()?;
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                if let Some((name, reply)) = answer(&buf[..n]) {
                    log.lock().unwrap().push(name);
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        Ok(Self { addr, asked })
    }

    /// Every name asked so far, lowercase, without the final dot.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// The reply to one query, and the name it asked for.
fn answer(query: &[u8]) -> Option<(String, Vec<u8>)> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let name = labels.join(".");
    let ours = name == ZONE || name.ends_with(&format!(".{ZONE}"));
    let a_record = ours && qtype == 1;
    let mut reply = Vec::with_capacity(question_end + 16);
    reply.extend_from_slice(&query[..2]);
    // QR, opcode 0, AA, RD copied; RA; RCODE 0 (or 3: NXDOMAIN for names not ours).
    reply.push(0x84 | (query[2] & 0x01));
    reply.push(0x80 | if ours { 0 } else { 3 });
    reply.extend_from_slice(&[0, 1, 0, u8::from(a_record), 0, 0, 0, 0]);
    reply.extend_from_slice(query.get(12..question_end)?);
    if a_record {
        // Name: a pointer to the question's; type A, class IN, TTL 5 s, 4 bytes: 127.0.0.1.
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, 1]);
    }
    Some((name, reply))
}
