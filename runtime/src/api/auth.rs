//! Who is calling: `Authorization: Bearer <token>` (or Basic with the token as
//! password, as Heroku's clients send from `~/.netrc`).

use super::{ApiError, Platform};
use crate::state::{Account, Authorization, TokenCheck};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use std::sync::Arc;

/// The authenticated account of a request, and the authorization its token
/// belongs to (what the request opens, such as a log session, lasts only as
/// long as that). Extracting it counts the request against the account's API
/// rate limit (`rate_limit.rs`).
pub struct Caller(pub Account, pub Authorization);

impl Caller {
    /// Refuses (403, `message`) a caller that is not an admin.
    pub fn admin_only(&self, message: &str) -> Result<(), ApiError> {
        if self.0.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(message))
        }
    }
}

impl FromRequestParts<Arc<Platform>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Arc<Platform>,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized());
        };
        let token = header
            .to_str()
            .ok()
            .and_then(token_from)
            .ok_or_else(malformed)?;
        match platform.state.check_token(&token).await? {
            TokenCheck::Valid(account, authorization) => {
                // Counted here, before the handler runs, so a refused request changes nothing.
                platform.rate_limit.count(parts, &account.id)?;
                Ok(Caller(account, authorization))
            }
            TokenCheck::Expired(at) => Err(expired(&at)),
            TokenCheck::Unknown => Err(ApiError::unauthorized()),
        }
    }
}

/// A 401 for a token past its expiry, saying how to get a new one.
pub(super) fn expired(at: &str) -> ApiError {
    let mut error = ApiError::unauthorized();
    error.message = format!(
        "Invalid credentials provided: this API token expired at {at}. Create a new one with `kumo authorizations:create` (signed in with a token that still works), or run `kumo login` with a new API key."
    );
    error
}

/// A 401 for an `Authorization` header that holds no token Kumo can read.
fn malformed() -> ApiError {
    let mut error = ApiError::unauthorized();
    error.message = "Invalid credentials provided: send `Authorization: Bearer <token>` (or Basic with the token as password); `kumo login` stores one".to_string();
    error
}

/// The token in an `Authorization` header value.
pub(super) fn token_from(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(rest.trim().to_string()).filter(|t| !t.is_empty()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (_, password) = text.split_once(':')?;
            Some(password.to_string()).filter(|t| !t.is_empty())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(token_from("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token_from("bearer  abc ").as_deref(), Some("abc"));
        // "me@example.com:abc"
        assert_eq!(
            token_from("Basic bWVAZXhhbXBsZS5jb206YWJj").as_deref(),
            Some("abc")
        );
        assert_eq!(token_from("Bearer ").as_deref(), None);
        assert_eq!(token_from("Token abc").as_deref(), None);
        assert_eq!(token_from("Basic !!!").as_deref(), None);
    }
}
