//! Request bodies too large to buffer blindly (source archives, slugs): a
//! declared `Content-Length` over the limit is refused before a byte is read,
//! and a body that turns out longer is cut off at the limit.

use super::ApiError;
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;

/// Reads `body` whole if it is at most `limit` bytes; else a 413 whose
/// message ends with `advice`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    advice: &str,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit, advice));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut too_long = false;
        while let Some(c) = cause {
            too_long |= c.is::<http_body_util::LengthLimitError>();
            cause = c.source();
        }
        if too_long {
            ApiError::too_large(limit, advice)
        } else {
            ApiError::bad_request(format!("reading the request body failed: {e}"))
        }
    })
}
