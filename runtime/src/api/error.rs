//! The API's one error type on the wire: `{"id": "...", "message": "..."}` with
//! Heroku's ids, converted from state errors in one place.

use crate::state::StateError;
use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub id: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, id: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            id,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn no_app() -> ApiError {
        ApiError::not_found("Couldn't find that app.")
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid credentials provided.",
        )
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_params", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 413: the request body is over `limit` bytes; `advice` says what to do.
    pub fn too_large(limit: usize, advice: &str) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is over the limit of {} MB: {advice}",
                limit >> 20
            ),
        )
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::NotFound(m) => ApiError::not_found(m),
            StateError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StateError::Invalid(m) => ApiError::invalid(m),
            StateError::Database(e) => {
                tracing::error!(error = %format!("{e:#}"), "state error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_server_error",
                    "Internal server error.",
                )
            }
        }
    }
}

/// The most bytes a JSON request body may have: axum's default limit.
pub const MAX_JSON_BYTES: usize = 2 << 20;

/// A body that cannot be used as JSON: broken JSON is a 400 `bad_request`,
/// well-formed JSON of the wrong shape or types a 422 `invalid_params` (as
/// Heroku answers a schema violation), and a body over the limit a 413.
impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        match e {
            JsonRejection::JsonDataError(e) => {
                ApiError::invalid(format!("invalid params: {}", e.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::bad_request(
                "invalid JSON body: send it with `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e) => ApiError::from(e),
            e => ApiError::bad_request(format!("invalid JSON body: {}", e.body_text())),
        }
    }
}

/// A request body that could not be read: over the limit (413), or cut off.
impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(MAX_JSON_BYTES, "send a smaller request")
        } else {
            ApiError::bad_request(format!(
                "reading the request body failed: {}",
                e.body_text()
            ))
        }
    }
}

/// Parses a JSON body read as bytes, with the same answers as [`JsonRejection`].
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let (path, inner) = (e.path().to_string(), e.into_inner());
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::invalid(format!("invalid params: {path}: {inner}"))
            }
            _ => ApiError::bad_request(format!("invalid JSON body: {inner}")),
        }
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "id": self.id, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
