//! Who holds the connection slots of one listener, and who gives one up when they are all taken.
//!
//! A crowd of slow connections (slowloris heads, trickled bodies) must not shut the door on an
//! honest source. So at `max_connections` a newcomer is not refused: the connection that has
//! done least goes instead. First those with no request in progress (still sending a head, or
//! idle between requests), the one idle longest (nothing received or sent); only when every
//! connection is inside a request, the one idle longest among those. An honest client sends
//! its head at once and is then inside a request, and a download in progress keeps sending;
//! the attacker's connections are the idle ones. The request head's own
//! deadline (`header_timeout_secs`, hyper's `header_read_timeout`, which also runs while a
//! keep-alive connection waits for its next request) still ends each slow connection.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// What the table knows of one connection. Counts only: no address, nothing it sent.
pub struct Conn {
    /// Milliseconds from the table's start to the last byte received or sent.
    last_active: AtomicU64,
    /// Whether a request is being served (its head was complete).
    in_request: AtomicBool,
    /// Told when the connection must make room.
    evicted: Notify,
    start: Instant,
}

impl Conn {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(ms, Ordering::Relaxed);
    }

    /// Lowest goes first.
    fn keep_rank(&self) -> (bool, u64) {
        (
            self.in_request.load(Ordering::Relaxed),
            self.last_active.load(Ordering::Relaxed),
        )
    }

    /// Resolves once the table has chosen this connection to make room.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// Marks a request in progress until the returned guard is dropped (even if the request's
    /// future is dropped half-way).
    pub fn serving(self: &Arc<Self>) -> Serving {
        self.in_request.store(true, Ordering::Relaxed);
        Serving(self.clone())
    }
}

/// A request in progress on a connection.
pub struct Serving(Arc<Conn>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.in_request.store(false, Ordering::Relaxed);
        self.0.touch();
    }
}

/// The connections of one listener.
pub struct Table {
    conns: Mutex<(u64, HashMap<u64, Arc<Conn>>)>,
    max: usize,
    start: Instant,
}

/// A connection's place in the table; dropping it frees the place.
pub struct Entry {
    table: Arc<Table>,
    id: u64,
    pub conn: Arc<Conn>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.table.lock().1.remove(&self.id);
    }
}

impl Table {
    pub fn new(max: usize) -> Arc<Table> {
        Arc::new(Table {
            conns: Mutex::new((0, HashMap::new())),
            max: max.max(1),
            start: Instant::now(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, Arc<Conn>>)> {
        // Each update is a single insert or remove: a poisoned table is still consistent.
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a new connection, evicting the one that has done least if the table
    /// is full. Returns the place and whether someone was evicted.
    pub fn admit(self: &Arc<Self>) -> (Entry, bool) {
        let mut guard = self.lock();
        let (next, conns) = &mut *guard;
        let mut evicted = false;
        if conns.len() >= self.max {
            let victim = conns
                .iter()
                .min_by_key(|(_, c)| c.keep_rank())
                .map(|(id, _)| *id);
            if let Some(c) = victim.and_then(|id| conns.remove(&id)) {
                c.evicted.notify_one();
                evicted = true;
            }
        }
        *next += 1;
        let conn = Arc::new(Conn {
            last_active: AtomicU64::new(0),
            in_request: AtomicBool::new(false),
            evicted: Notify::new(),
            start: self.start,
        });
        conn.touch();
        conns.insert(*next, conn.clone());
        let entry = Entry {
            table: self.clone(),
            id: *next,
            conn,
        };
        (entry, evicted)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().1.len()
    }
}

/// A connection's byte stream, noting when bytes arrive or leave.
pub struct Tracked<T> {
    io: T,
    conn: Arc<Conn>,
}

impl<T> Tracked<T> {
    pub fn new(io: T, conn: Arc<Conn>) -> Tracked<T> {
        Tracked { io, conn }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At the cap, the idlest connection with no request in progress makes room; one inside a
    /// request goes only when there is no other, and a freed place is reused.
    #[tokio::test]
    async fn a_full_table_evicts_the_idlest_headless_connection() {
        let t = Table::new(3);
        let (busy, _) = t.admit();
        let _serving = busy.conn.serving();
        let (idle, _) = t.admit();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (fresh, _) = t.admit();
        fresh.conn.touch();
        let (newcomer, evicted) = t.admit();
        assert!(evicted);
        // The idlest headless one was told, and only it.
        tokio::time::timeout(std::time::Duration::from_secs(1), idle.conn.evicted())
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), busy.conn.evicted())
                .await
                .is_err()
        );
        assert_eq!(t.len(), 3);
        drop(idle);
        assert_eq!(
            t.len(),
            3,
            "an evicted entry's drop must not free another's place"
        );
        drop((fresh, newcomer));
        assert_eq!(t.len(), 1);
    }
}
