//! Counting what the reviewer API serves of each ciphertext file to each credential, so that
//! an ack is accepted only for what the credential fetched in full ([`crate::store::Served`]
//! keeps the counts and says what "contiguous" means).
//!
//! The file route's response body (tower-http's `ServeFile`, which answers Range requests) is
//! wrapped in [`Counted`]: each chunk is counted at the moment it is handed to the connection,
//! at the offset the response started from (0 for a 200, the `Content-Range` start for a 206).
//! Counts are made durable every 8 MiB (`store::fetched`) and when the body ends or is
//! dropped (a client gone mid-file) on the blocking pool, and synchronously before the chunk
//! that completes a file is handed out (one small fsync per file fetched).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use futures_util::Stream;

use crate::store::{Served, Store};

/// A response body that counts what it hands out.
struct Counted {
    inner: BodyDataStream,
    store: Arc<Store>,
    key: Served,
    /// The file offset of the next byte.
    at: u64,
    /// The file's size.
    size: u64,
    /// Whether counts not yet durable are pending.
    dirty: bool,
}

/// Where a response starts in the file, if it serves file bytes: 0 for a whole file, the
/// `Content-Range` start for one range (`bytes a-b/n`). Anything else counts for nothing.
fn start_of(resp: &Response) -> Option<u64> {
    match resp.status() {
        StatusCode::OK => Some(0),
        StatusCode::PARTIAL_CONTENT => {
            let value = resp.headers().get(header::CONTENT_RANGE)?.to_str().ok()?;
            let range = value.strip_prefix("bytes ")?;
            range.split_once('-')?.0.parse().ok()
        }
        _ => None,
    }
}

/// Wraps `resp`'s body so that what it serves of a file of `size` bytes counts for `key`.
pub(super) fn count(resp: Response, store: Arc<Store>, key: Served, size: u64) -> Response {
    let Some(start) = start_of(&resp) else {
        return resp;
    };
    let (parts, body) = resp.into_parts();
    let counted = Counted {
        inner: body.into_data_stream(),
        store,
        key,
        at: start,
        size,
        dirty: false,
    };
    Response::from_parts(parts, Body::from_stream(counted))
}

impl Counted {
    /// Makes the counts durable on the blocking pool, without waiting.
    fn persist_later(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let (store, key) = (self.store.clone(), self.key.clone());
        let persist = move || {
            if let Err(e) = store.persist_served(&key) {
                tracing::warn!(error = %e, "could not record what a workstation fetched");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(persist)),
            Err(_) => persist(),
        }
    }
}

impl Stream for Counted {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let end = this.at.saturating_add(chunk.len() as u64);
                let (count, checkpoint) = this.store.note_served(&this.key, this.at, end);
                this.at = end;
                this.dirty = true;
                if count >= this.size {
                    // Durable before the last bytes leave: a workstation holding the whole
                    // file always finds it counted, even after a crash. One small write.
                    this.dirty = false;
                    if let Err(e) = this.store.persist_served(&this.key) {
                        tracing::warn!(error = %e, "could not record what a workstation fetched");
                    }
                } else if checkpoint {
                    this.persist_later();
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                this.persist_later();
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.persist_later();
    }
}
