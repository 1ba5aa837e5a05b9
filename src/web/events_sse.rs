//! `GET /api/v1/events`: Server-Sent Events. Each recorded event (transition, run
//! started or finished, tracker write, ...) and each bit of live agent activity is sent
//! as an SSE event named by its kind with the JSON of `LiveEvent` as data. A subscriber
//! that falls behind gets a `lagged` event (and should re-read `/api/v1/state`): the
//! store keeps the record, the feed is only for watching. Streams end when the daemon
//! shuts down, so they never hold a graceful shutdown open. A `ping` event every 15 s
//! lets the page notice a stream that went silent without closing.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;

pub(crate) async fn events(
    State(st): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = st.handle.subscribe();
    let stream = futures::stream::unfold((rx, st), |(mut rx, st)| async move {
        let event = tokio::select! {
            () = st.shutdown.cancelled() => return None,
            r = rx.recv() => match r {
                Ok(ev) => {
                    // Scrub the data, then blank any escaped copy left in the text.
                    let data = st
                        .redactor
                        .scrub(&ev)
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    Event::default()
                        .event(ev.kind.clone())
                        .data(st.redactor.redact(&data))
                }
                Err(RecvError::Lagged(n)) => Event::default()
                    .event("lagged")
                    .data(format!("{{\"skipped\":{n}}}")),
                Err(RecvError::Closed) => return None,
            },
        };
        Some((Ok(event), (rx, st)))
    });
    let hello = futures::stream::once(async { Ok(Event::default().event("hello").data("{}")) });
    use futures::StreamExt;
    // The keep-alive is a named `ping` event, not a comment, so the page can tell a
    // silent stream (a dropped network path) from a quiet daemon.
    Sse::new(hello.chain(stream)).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .event(Event::default().event("ping").data("{}")),
    )
}
