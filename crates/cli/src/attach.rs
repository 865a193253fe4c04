//! `deis run` through the controller's attachable run (a WebSocket, `docs/API.md`): output
//! as it is printed, standard input passed on, a terminal in raw mode when standard input is
//! one, and the command's exit code.
//!
//! Blocking, like the rest of the client: one thread reads standard input, the main thread
//! moves messages both ways, reading the socket with a short timeout so that input and
//! terminal size changes (checked each turn, a cheap `ioctl`) go out promptly.

use std::io::{IsTerminal, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::client::Client;
use crate::error::{Result, other};

/// How long one read of the socket waits before input is looked at again.
const TURN: Duration = Duration::from_millis(20);

/// What came of trying the attachable run.
pub enum Attached {
    /// The command ran; this is its exit code.
    Exited(i64),
    /// The controller has no attachable run (an older server): use `POST /run`.
    Unsupported,
}

/// Puts the terminal back in its mode when dropped.
struct RawMode;

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Runs `command` in the app attached; the terminal is used when standard input is one.
pub fn run(client: &Client, app: &str, command: &str) -> Result<Attached> {
    let Some(mut socket) = connect(client, app)? else {
        return Ok(Attached::Unsupported);
    };
    let tty = std::io::stdin().is_terminal();
    let mut size = tty.then(terminal_size).flatten();
    let mut first = json!({ "command": command, "tty": tty });
    if let Some((cols, rows)) = size {
        first["cols"] = json!(cols);
        first["rows"] = json!(rows);
    }
    send(client, &mut socket, Message::text(first.to_string()))?;
    let _raw = if tty {
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| other(format!("cannot put the terminal in raw mode: {e}")))?;
        Some(RawMode)
    } else {
        None
    };
    let input = read_input();
    let mut input_open = true;
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    loop {
        if tty {
            let now = terminal_size();
            if now.is_some() && now != size {
                size = now;
                if let Some((cols, rows)) = now {
                    let resize = json!({ "resize": { "cols": cols, "rows": rows } });
                    send(client, &mut socket, Message::text(resize.to_string()))?;
                }
            }
        }
        while input_open {
            match input.try_recv() {
                Ok(Some(bytes)) => send(client, &mut socket, Message::binary(bytes))?,
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => {
                    input_open = false;
                    let eof = json!({ "eof": true }).to_string();
                    send(client, &mut socket, Message::text(eof))?;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        match socket.read() {
            Ok(Message::Binary(frame)) => match frame.split_first() {
                Some((1, bytes)) => {
                    let _ = stdout.write_all(bytes);
                    let _ = stdout.flush();
                }
                Some((2, bytes)) => {
                    let _ = stderr.write_all(bytes);
                    let _ = stderr.flush();
                }
                _ => {}
            },
            Ok(Message::Text(text)) => {
                let answer: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                if let Some(code) = answer.get("exit_code").and_then(Value::as_i64) {
                    let _ = socket.close(None);
                    return Ok(Attached::Exited(code));
                }
                let status = answer
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(500);
                return Err(client.refusal(status, text.as_str()));
            }
            Ok(Message::Close(_)) => {
                return Err(other("the controller ended the run without an exit code"));
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(client.unreachable(&format!("the run's connection broke: {e}"))),
        }
    }
}

/// Opens the socket; `None` when the controller has no such route.
fn connect(client: &Client, app: &str) -> Result<Option<WebSocket<MaybeTlsStream<TcpStream>>>> {
    let mut url = client.url(&["apps", app, "run", "attach"]);
    let scheme = match url.scheme() {
        "http" => "ws",
        // This client speaks plain HTTP only; a TLS controller keeps the plain run.
        _ => return Ok(None),
    };
    let _ = url.set_scheme(scheme);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| other(format!("cannot make the run's request: {e}")))?;
    if let Some(token) = client.token() {
        let value = HeaderValue::from_str(&format!("token {token}"))
            .map_err(|e| other(format!("the stored token is unusable: {e}")))?;
        request.headers_mut().insert("Authorization", value);
        request
            .headers_mut()
            .insert("X-Deis-Version", HeaderValue::from_static("1.0"));
    }
    match tungstenite::connect(request) {
        Ok((socket, _)) => {
            if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
                tcp.set_read_timeout(Some(TURN))
                    .map_err(|e| other(format!("cannot set up the run's connection: {e}")))?;
            }
            Ok(Some(socket))
        }
        Err(tungstenite::Error::Http(res)) => {
            let status = res.status().as_u16();
            // No such route (an older controller), or an app the user cannot see: the plain
            // run answers either case as it always did.
            if matches!(status, 404 | 405) {
                return Ok(None);
            }
            let body = String::from_utf8_lossy(res.body().as_deref().unwrap_or_default());
            Err(client.refusal(status, &body))
        }
        Err(e) => Err(client.unreachable(&e.to_string())),
    }
}

/// Sends one message, reporting a broken connection.
fn send(
    client: &Client,
    socket: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    message: Message,
) -> Result<()> {
    socket
        .send(message)
        .map_err(|e| client.unreachable(&format!("the run's connection broke: {e}")))
}

/// Standard input in chunks as it can be read; `None` at its end.
fn read_input() -> mpsc::Receiver<Option<Vec<u8>>> {
    let (chunks, received) = mpsc::channel();
    thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buffer = [0u8; 8192];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => {
                    let _ = chunks.send(None);
                    return;
                }
                Ok(n) => {
                    if chunks.send(Some(buffer[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    received
}

/// The terminal's columns and rows, when there is one.
fn terminal_size() -> Option<(u16, u16)> {
    crossterm::terminal::size()
        .ok()
        .filter(|(c, r)| *c > 0 && *r > 0)
}
