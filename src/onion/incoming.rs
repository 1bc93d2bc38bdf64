//! The onion services' incoming streams, each tagged with its rendezvous circuit.
//!
//! arti hands the service one rendezvous request per client circuit; accepting it gives that
//! circuit's stream requests. Here each accepted rendezvous gets a fresh [`Circuit`] (the
//! per-circuit budgets of [`crate::web::circuit`]) shared by its streams, and the handle to
//! close the circuit comes from its first accepted stream. Only port 80 is answered.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};

use arti_client::DataStream;
use futures_util::future::{Either, FutureExt};
use futures_util::{Stream, StreamExt};
use tor_cell::relaycell::msg::Connected;
use tor_hsservice::{RendRequest, StreamRequest};
use tor_proto::client::stream::ClientStreamCtrl;
use tor_proto::stream::IncomingStreamRequest;
use tor_proto::ClientTunnel;

use super::PORT;
use crate::config::CircuitBudget;
use crate::web::{Accepted, Circuit, Incoming};

/// An onion service's incoming streams, as connections for [`crate::web::serve`], each with
/// the budgets of the rendezvous circuit it came on ([`Circuit`]).
pub struct OnionIncoming {
    requests: Pin<Box<dyn Stream<Item = (Circuit, TunnelSlot, StreamRequest)> + Send>>,
}

/// The circuit of a rendezvous, known from its first accepted stream; what [`Circuit`] closes.
type TunnelSlot = Arc<OnceLock<Weak<ClientTunnel>>>;

impl OnionIncoming {
    /// Accepts each rendezvous (one client's circuit) and tags its streams with a fresh
    /// [`Circuit`] holding `budget`.
    pub(super) fn new(
        rend_requests: impl Stream<Item = RendRequest> + Send + 'static,
        budget: CircuitBudget,
    ) -> OnionIncoming {
        let requests = rend_requests.flat_map_unordered(None, move |rend| {
            let budget = budget.clone();
            Box::pin(rend.accept())
                .map(move |outcome| match outcome {
                    Ok(streams) => {
                        let slot: TunnelSlot = Arc::default();
                        let tunnel = slot.clone();
                        let circuit = Circuit::new(&budget, move || {
                            if let Some(t) = tunnel.get().and_then(Weak::upgrade) {
                                t.terminate();
                            }
                        });
                        Either::Left(streams.map(move |r| (circuit.clone(), slot.clone(), r)))
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "a rendezvous failed");
                        Either::Right(futures_util::stream::empty())
                    }
                })
                .flatten_stream()
        });
        OnionIncoming {
            requests: Box::pin(requests),
        }
    }
}

impl Incoming for OnionIncoming {
    type Io = DataStream;

    async fn accept(&mut self) -> Option<io::Result<Accepted<DataStream>>> {
        loop {
            let (circuit, slot, request) = self.requests.next().await?;
            let port_ok =
                matches!(request.request(), IncomingStreamRequest::Begin(b) if b.port() == PORT);
            if !port_ok || circuit.is_closed() {
                // As C tor does for a port it does not serve: close the whole circuit. A
                // circuit closed for its budget gets no new stream either.
                let _ = request.shutdown_circuit();
                continue;
            }
            let stream = match request.accept(Connected::new_empty()).await {
                Ok(s) => s,
                Err(e) => return Some(Err(io::Error::other(e))),
            };
            if let Some(t) = stream.client_stream_ctrl().and_then(|c| c.tunnel()) {
                let _ = slot.set(Arc::downgrade(&t));
            }
            return Some(Ok(Accepted {
                io: stream,
                circuit: Some(circuit),
            }));
        }
    }
}
