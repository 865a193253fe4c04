//! Request bodies: JSON, form-encoded or multipart, an empty body being an empty object.
//!
//! The extractor reads the body but keeps a failure (too large, unsupported type, malformed)
//! until the handler asks for the value, so that authentication and the app lookup answer
//! first, whatever order actix polls the extractors in (§1.2).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::ApiState;

/// How a body was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Nothing, or whitespace only.
    Empty,
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded` or `multipart/form-data`.
    Form,
}

/// A request body, parsed or the reason it could not be.
#[derive(Debug)]
pub struct Body {
    parsed: Result<(Encoding, Value), ApiError>,
}

impl Body {
    /// The parsed value, or the failure to read it.
    pub fn value(self) -> Result<Value, ApiError> {
        self.parsed.map(|(_, v)| v)
    }

    /// The parsed value and how it was sent.
    pub fn encoded(self) -> Result<(Encoding, Value), ApiError> {
        self.parsed
    }

    /// The body as an object, or a 400 naming what was sent instead.
    pub fn object(self) -> Result<Map<String, Value>, ApiError> {
        into_object(self.value()?)
    }
}

/// A value as an object, or a 400 naming what was sent instead.
pub fn into_object(value: Value) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::BadRequest(format!(
            "JSON parse error - expected an object, got {}",
            kind(&other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn form(bytes: &[u8]) -> Result<Value, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Form parse error - {e}")))?;
    Ok(Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    ))
}

/// Reads a `multipart/form-data` body (already in memory) into an object of its text fields.
async fn multipart(content_type: &str, bytes: &[u8]) -> Result<Value, ApiError> {
    let bad = |e: multer::Error| ApiError::BadRequest(format!("Multipart form parse error - {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let data = web::Bytes::copy_from_slice(bytes);
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(data) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut out = Map::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().map(str::to_owned).ok_or_else(|| {
            ApiError::BadRequest("Multipart form parse error - part without a name".into())
        })?;
        out.insert(name, Value::String(field.text().await.map_err(bad)?));
    }
    Ok(Value::Object(out))
}

/// Whether any string or object key in the value holds a NUL character, which no field can
/// carry (environment, command lines, names) and some databases refuse to store.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Parses raw bytes by content type.
pub async fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, ApiError> {
    parse_encoded(content_type, bytes).await.map(|(_, v)| v)
}

/// Parses raw bytes by content type, telling how they were encoded.
pub async fn parse_encoded(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<(Encoding, Value), ApiError> {
    let empty = || Ok((Encoding::Empty, Value::Object(Map::new())));
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return empty();
    }
    let Some(content_type) = content_type.filter(|c| !c.trim().is_empty()) else {
        return empty();
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => serde_json::from_slice(bytes)
            .map(|v| (Encoding::Json, v))
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}"))),
        "application/x-www-form-urlencoded" => form(bytes).map(|v| (Encoding::Form, v)),
        "multipart/form-data" => multipart(content_type, bytes)
            .await
            .map(|v| (Encoding::Form, v)),
        _ => Err(ApiError::UnsupportedMediaType(content_type.to_owned())),
    }
}

impl FromRequest for Body {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<ApiState>>()
            .map_or(1 << 20, |s| s.settings.body_limit);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let deadline = req
            .app_data::<web::Data<crate::ServerLimits>>()
            .map_or(crate::ServerLimits::default().body_timeout, |l| {
                l.body_timeout
            });
        let mut payload = payload.take();
        Box::pin(async move {
            let parsed = async {
                if declared.is_some_and(|n| n > limit) {
                    return Err(ApiError::TooLarge);
                }
                let read = async {
                    let mut bytes = web::BytesMut::new();
                    while let Some(chunk) = payload.next().await {
                        let chunk = chunk.map_err(|e| {
                            ApiError::BadRequest(format!("could not read the body: {e}"))
                        })?;
                        if bytes.len() + chunk.len() > limit {
                            return Err(ApiError::TooLarge);
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(bytes)
                };
                let bytes = tokio::time::timeout(deadline, read).await.map_err(|_| {
                    tracing::info!(
                        timeout_s = deadline.as_secs(),
                        "request body not received in time"
                    );
                    ApiError::BodyTimeout
                })??;
                let parsed = parse_encoded(content_type.as_deref(), &bytes).await?;
                if has_nul(&parsed.1) {
                    return Err(ApiError::BadRequest(
                        "Null characters are not allowed.".into(),
                    ));
                }
                Ok(parsed)
            }
            .await;
            Ok(Body { parsed })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn parses_every_accepted_type() {
        assert_eq!(parse(None, b"").await.unwrap(), json!({}));
        assert_eq!(
            parse(Some("application/json"), b"").await.unwrap(),
            json!({})
        );
        assert_eq!(
            parse(Some("application/json; charset=utf-8"), b"{\"a\":1}")
                .await
                .unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            parse(Some("application/x-www-form-urlencoded"), b"a=1&b=x+y")
                .await
                .unwrap(),
            json!({"a": "1", "b": "x y"})
        );
        let mp =
            b"--XX\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n--XX--\r\n";
        assert_eq!(
            parse(Some("multipart/form-data; boundary=XX"), mp)
                .await
                .unwrap(),
            json!({"username": "bob"})
        );
        let mp = b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: text/plain\r\n\r\n1\r\n--XX--\r\n";
        assert_eq!(
            parse(Some("multipart/form-data; boundary=\"XX\""), mp)
                .await
                .unwrap(),
            json!({"a": "1"})
        );
        assert!(
            parse(Some("multipart/form-data; boundary="), mp)
                .await
                .is_err()
        );
        assert!(has_nul(&json!({"a": ["x\u{0}"]})));
        assert!(has_nul(&json!({"\u{0}": 1})));
        assert!(!has_nul(&json!({"a": [1, null, "ü"]})));
        assert!(matches!(
            parse(Some("text/plain"), b"x").await,
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            parse(Some("application/json"), b"{").await,
            Err(ApiError::BadRequest(_))
        ));
    }
}
