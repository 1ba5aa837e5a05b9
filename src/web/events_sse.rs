//! `GET /api/v1/events`: Server-Sent Events. Each recorded event (transition, run
//! started or finished, tracker write, ...) and each bit of live agent activity is sent
//! as an SSE event named by its kind with the JSON of `LiveEvent` as data. A subscriber
//! that falls behind gets a `lagged` event (and should re-read `/api/v1/state`): the
//! store keeps the record, the feed is only for watching. Each new read model is
//! announced as a `view` event (`{"generated_at"}`) once published: it follows the
//! recorded events it includes, so a page that re-renders on it never keeps a view
//! read between an event and its publish (the events alone would leave it stale: none
//! may come after the last one). Streams end when the daemon
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
    let mut views = st.handle.watch_status();
    let shown = views.borrow_and_update().generated_at;
    let stream = futures::stream::unfold(
        (rx, views, shown, st),
        |(mut rx, mut views, mut shown, st)| async move {
            let event = loop {
                tokio::select! {
                    () = st.shutdown.cancelled() => return None,
                    r = rx.recv() => break match r {
                        Ok(ev) => {
                            // Scrub the data, then blank any escaped copy left in the text.
                            let data = st
                                .redactor
                                .scrub(&*ev)
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
                    r = views.changed() => {
                        if r.is_err() {
                            return None;
                        }
                        // A publish (a new read model), not an activity patch of the
                        // running rows, which keeps its `generated_at`.
                        let at = views.borrow_and_update().generated_at;
                        if at == shown {
                            continue;
                        }
                        shown = at;
                        break Event::default().event("view").data(
                            serde_json::json!({ "generated_at": at }).to_string(),
                        );
                    }
                }
            };
            Some((Ok(event), (rx, views, shown, st)))
        },
    );
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
