//! Who holds the connection slots of one listener, and who gives one up when they are all taken.
//!
//! A crowd of slow connections (slowloris heads, trickled bodies) must not shut the door on an
//! honest source. So at `max_connections` a newcomer is not refused: the connection that has
//! done least goes instead, in three classes ([`Class`]):
//! 1. first, one with no request in progress (still sending a head, or idle between requests)
//!    that has been silent for at least [`FRESH_MS`];
//! 2. then one waiting for its client (head or body not complete, or a keep-alive connection
//!    used a moment ago);
//! 3. last, one whose request arrived whole and that the server is working on (a login queued
//!    behind the KDF is silent for seconds, but the silence is the server's, not the client's).
//!
//! Within a class, the one idle longest (nothing received or sent) goes. An honest client sends
//! its head and body at once, and a download in progress keeps sending; the attacker's
//! connections are the idle ones. A browser's keep-alive connection is protected for
//! [`FRESH_MS`] after its last byte, so the request it sends next does not land on a connection
//! being closed (which would reset it). The request head's own
//! deadline (`header_timeout_secs`, hyper's `header_read_timeout`, which also runs while a
//! keep-alive connection waits for its next request) still ends each slow connection.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// What the table knows of one connection. Counts only: no address, nothing it sent.
pub struct Conn {
    /// Milliseconds from the table's start to the last byte received or sent.
    last_active: AtomicU64,
    /// Whether a request is being served (its head was complete).
    in_request: AtomicBool,
    /// Whether that request's body has been read to its end (the server is working on it).
    body_done: AtomicBool,
    /// Told when the connection must make room.
    evicted: Notify,
    start: Instant,
}

impl Conn {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(ms, Ordering::Relaxed);
    }

    /// Lowest goes first; `now` in the table's milliseconds.
    fn keep_rank(&self, now: u64) -> (Class, u64) {
        let last = self.last_active.load(Ordering::Relaxed);
        let class = if !self.in_request.load(Ordering::Relaxed) {
            if now.saturating_sub(last) >= FRESH_MS {
                Class::SilentBetweenRequests
            } else {
                Class::WaitingForClient
            }
        } else if self.body_done.load(Ordering::Relaxed) {
            Class::ServerWorking
        } else {
            Class::WaitingForClient
        };
        (class, last)
    }

    /// Resolves once the table has chosen this connection to make room.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// Marks a request in progress until the returned guard is dropped (even if the request's
    /// future is dropped half-way). `body_done` says whether it has no body to wait for; a
    /// body is otherwise marked done by [`Watched`] when it is read to its end.
    pub fn serving(self: &Arc<Self>, body_done: bool) -> Serving {
        self.body_done.store(body_done, Ordering::Relaxed);
        self.in_request.store(true, Ordering::Relaxed);
        Serving(self.clone())
    }
}

/// How long, in milliseconds, a connection counts as fresh after its last byte: a keep-alive
/// connection used this recently is about to carry its client's next request.
const FRESH_MS: u64 = 1000;

/// The eviction classes, in the order they give up their place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    SilentBetweenRequests,
    WaitingForClient,
    ServerWorking,
}

/// A request body that marks its connection's request as whole once it is read to its end.
pub struct Watched<B> {
    body: B,
    conn: Arc<Conn>,
}

impl<B> Watched<B> {
    pub fn new(body: B, conn: Arc<Conn>) -> Watched<B> {
        Watched { body, conn }
    }
}

impl<B: Body + Unpin> Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let r = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(r, Poll::Ready(None)) || self.body.is_end_stream() {
            self.conn.body_done.store(true, Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request in progress on a connection.
pub struct Serving(Arc<Conn>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.in_request.store(false, Ordering::Relaxed);
        self.0.body_done.store(false, Ordering::Relaxed);
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
            let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
            let victim = conns
                .iter()
                .min_by_key(|(_, c)| c.keep_rank(now))
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
            body_done: AtomicBool::new(false),
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

    /// A table whose clock started 10 s ago, so "long ago" (0 ms) and "now" are far apart.
    fn aged_table(max: usize) -> Arc<Table> {
        Arc::new(Table {
            conns: Mutex::new((0, HashMap::new())),
            max,
            start: Instant::now() - std::time::Duration::from_secs(10),
        })
    }

    async fn told(entry: &Entry) -> bool {
        tokio::time::timeout(std::time::Duration::from_millis(50), entry.conn.evicted())
            .await
            .is_ok()
    }

    /// At the cap: first a connection silent between requests, then the idlest one waiting for
    /// its client; never a keep-alive connection used a moment ago while another waited
    /// longer, and a request the server is working on only as a last resort.
    #[tokio::test]
    async fn a_full_table_evicts_in_class_order_then_by_idle_time() {
        let t = aged_table(4);
        let (silent, _) = t.admit();
        silent.conn.last_active.store(0, Ordering::Relaxed);
        let (trickling, _) = t.admit();
        let _body = trickling.conn.serving(false);
        trickling.conn.last_active.store(0, Ordering::Relaxed);
        let (working, _) = t.admit();
        let _work = working.conn.serving(true);
        working.conn.last_active.store(0, Ordering::Relaxed);
        let (kept_alive, _) = t.admit();
        kept_alive.conn.touch();

        let (_n1, evicted) = t.admit();
        assert!(evicted);
        assert!(told(&silent).await, "the silent headless one goes first");
        assert!(!told(&trickling).await && !told(&working).await && !told(&kept_alive).await);

        let (_n2, _) = t.admit();
        assert!(
            told(&trickling).await,
            "then the idlest one waiting for its client"
        );
        assert!(!told(&working).await && !told(&kept_alive).await);
        assert_eq!(t.len(), 4);
        drop(silent);
        assert_eq!(
            t.len(),
            4,
            "an evicted entry's drop must not free another's place"
        );
    }

    /// A body read to its end marks the request as the server's work; the mark ends with it.
    #[tokio::test]
    async fn a_body_read_to_its_end_marks_the_server_working() {
        let t = aged_table(2);
        let (e, _) = t.admit();
        let serving = e.conn.serving(false);
        let now = || u64::try_from(t.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        assert_eq!(e.conn.keep_rank(now()).0, Class::WaitingForClient);
        let mut body = Watched::new(axum::body::Body::from("x=1"), e.conn.clone());
        let mut got = Vec::new();
        while let Some(frame) =
            futures_util::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame.unwrap().into_data() {
                got.extend_from_slice(&data);
            }
        }
        assert_eq!(got, b"x=1");
        assert_eq!(e.conn.keep_rank(now()).0, Class::ServerWorking);
        drop(serving);
        assert_eq!(e.conn.keep_rank(now()).0, Class::WaitingForClient);
    }
}
