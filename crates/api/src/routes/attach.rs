//! `GET /v1/apps/{id}/run/attach`: the attachable run, a WebSocket (an extension; the
//! protocol is in `docs/API.md`, "Extensions").
//!
//! The handshake is authenticated like every request and answers 404 for an app the caller
//! cannot see. The first message names the command and the terminal; from then on binary
//! messages are standard input, text messages resize or end it, and the server sends what the
//! command prints (a first byte 1 for stdout, 2 for stderr) and finally `{"exit_code": N}`.
//! A client that leaves, or closes, kills the command and its container is removed.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use deis_domain::{Error, JsonMap, Platform, RunEvent, RunInput, TtySize, User};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;

/// How long the server waits for the first message.
const FIRST_MESSAGE: Duration = Duration::from_secs(30);

/// Input messages buffered for a command that reads slowly; the client waits beyond it.
const INPUT_BUFFER: usize = 32;

/// The stream byte before standard output.
pub const STDOUT: u8 = 1;

/// The stream byte before standard error.
pub const STDERR: u8 = 2;

/// `GET /v1/apps/{id}/run/attach` with a WebSocket upgrade.
pub async fn attach(
    state: web::Data<ApiState>,
    req: HttpRequest,
    Authed(user): Authed,
    id: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    state.platform.visible_app(&user, &id).await?;
    let (response, session, messages) = actix_ws::handle(&req, payload)
        .map_err(|e| ApiError::BadRequest(format!("a WebSocket upgrade is needed: {e}")))?;
    let platform = state.platform.clone();
    actix_web::rt::spawn(async move {
        serve(platform, user, id.into_inner(), session, messages).await;
    });
    Ok(response)
}

/// The first message: what to run, and the client's terminal.
struct Start {
    body: JsonMap,
    tty: Option<TtySize>,
}

/// Reads `{"command", "tty", "cols", "rows"}`.
fn start(text: &str) -> Result<Start, String> {
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(text) else {
        return Err("the first message must be a JSON object with a command".into());
    };
    let tty = match body.get("tty") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => None,
        Some(Value::Bool(true)) => Some(size(&body).unwrap_or(TtySize { cols: 80, rows: 24 })),
        Some(_) => return Err("tty must be true or false".into()),
    };
    Ok(Start { body, tty })
}

/// `cols` and `rows` of a JSON object, when both are sizes.
fn size(object: &JsonMap) -> Option<TtySize> {
    let dimension = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
    };
    Some(TtySize {
        cols: dimension("cols")?,
        rows: dimension("rows")?,
    })
}

/// What a text message after the first asks for.
fn control(text: &str) -> Option<RunInput> {
    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    if let Some(Value::Object(resize)) = message.get("resize") {
        return size(resize).map(RunInput::Resize);
    }
    (message.get("eof") == Some(&Value::Bool(true))).then_some(RunInput::CloseStdin)
}

/// The error message of a refused or failed run: the status and detail the HTTP run would
/// have answered.
fn refusal(e: Error) -> String {
    let error = ApiError::from(e);
    let status = error.status_code();
    let detail = match &error {
        ApiError::Domain(Error::Fields(fields)) => serde_json::to_value(fields)
            .ok()
            .and_then(|v| {
                v.as_object().map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}: {}", v[0].as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            })
            .unwrap_or_default(),
        ApiError::Domain(Error::Store(deis_domain::StoreError::Unavailable(_))) => {
            "database unavailable, try again".to_owned()
        }
        _ if status.is_server_error() && status.as_u16() != 503 => {
            "internal server error".to_owned()
        }
        _ => error.to_string(),
    };
    json!({ "status": status.as_u16(), "detail": detail }).to_string()
}

/// Sends a last text message and closes.
async fn finish(mut session: Session, text: String, code: CloseCode) {
    let _ = session.text(text).await;
    let _ = session
        .close(Some(CloseReason {
            code,
            description: None,
        }))
        .await;
}

/// The next text message, answering pings; `None` when the client closed or sent another kind.
async fn first_text(session: &mut Session, messages: &mut MessageStream) -> Option<String> {
    while let Some(Ok(message)) = messages.next().await {
        match message {
            Message::Text(text) => return Some(text.to_string()),
            Message::Ping(bytes) => {
                let _ = session.pong(&bytes).await;
            }
            Message::Pong(_) | Message::Nop => {}
            _ => return None,
        }
    }
    None
}

/// One attached run, from the first message to the exit code.
async fn serve(
    platform: Platform,
    user: User,
    id: String,
    mut session: Session,
    mut messages: MessageStream,
) {
    let first = tokio::time::timeout(FIRST_MESSAGE, first_text(&mut session, &mut messages)).await;
    let Ok(Some(first)) = first else {
        let detail = "the first message must be a JSON object with a command";
        let text = json!({ "status": 400, "detail": detail }).to_string();
        return finish(session, text, CloseCode::Policy).await;
    };
    let start = match start(&first) {
        Ok(start) => start,
        Err(detail) => {
            let text = json!({ "status": 400, "detail": detail }).to_string();
            return finish(session, text, CloseCode::Policy).await;
        }
    };
    let (input, given) = mpsc::channel::<RunInput>(INPUT_BUFFER);
    let given = futures_util::stream::unfold(given, |mut given| async move {
        given.recv().await.map(|input| (input, given))
    })
    .boxed();
    let mut events = match platform
        .run_attached(&user, &id, &start.body, start.tty, given)
        .await
    {
        Ok(events) => events,
        Err(e) => return finish(session, refusal(e), CloseCode::Policy).await,
    };
    let mut pending: Option<RunInput> = None;
    loop {
        tokio::select! {
            permit = input.reserve(), if pending.is_some() => {
                // When the command no longer reads its input, what the client sends is dropped.
                if let (Ok(permit), Some(given)) = (permit, pending.take()) {
                    permit.send(given);
                }
            }
            message = messages.next(), if pending.is_none() => match message {
                Some(Ok(Message::Binary(bytes))) => pending = Some(RunInput::Stdin(bytes.to_vec())),
                Some(Ok(Message::Text(text))) => pending = control(&text),
                Some(Ok(Message::Ping(bytes))) => {
                    let _ = session.pong(&bytes).await;
                }
                Some(Ok(Message::Pong(_) | Message::Nop | Message::Continuation(_))) => {}
                // Closed or gone: dropping the events kills the command and removes it.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
            event = events.next() => {
                let frame = |stream: u8, bytes: Vec<u8>| {
                    let mut frame = Vec::with_capacity(bytes.len() + 1);
                    frame.push(stream);
                    frame.extend_from_slice(&bytes);
                    frame
                };
                let sent = match event {
                    Some(Ok(RunEvent::Stdout(bytes))) => session.binary(frame(STDOUT, bytes)).await,
                    Some(Ok(RunEvent::Stderr(bytes))) => session.binary(frame(STDERR, bytes)).await,
                    Some(Ok(RunEvent::Exit(code))) => {
                        let text = json!({ "exit_code": code }).to_string();
                        return finish(session, text, CloseCode::Normal).await;
                    }
                    Some(Err(e)) => return finish(session, refusal(e), CloseCode::Error).await,
                    None => {
                        let text = json!({ "status": 503, "detail": "the run ended without an exit code" });
                        return finish(session, text.to_string(), CloseCode::Error).await;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}
