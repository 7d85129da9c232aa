//! Heroku's `Range` pagination for list endpoints.
//!
//! `Range: <field> [<start>]..[<end>][; max=<n>][, order=asc|desc]`, where a
//! start written `]value` excludes that value. A page holds 200 items unless
//! `max` says otherwise (at most 1000). A list with more items after the page
//! answers `206 Partial Content` with a `Next-Range` to send for the next one.

use super::ApiError;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::cmp::Ordering;

pub const DEFAULT_MAX: usize = 200;
pub const MAX_MAX: usize = 1000;

/// A parsed `Range` header.
#[derive(Debug, PartialEq)]
struct Range {
    field: String,
    start: Option<String>,
    start_exclusive: bool,
    end: Option<String>,
    max: usize,
    descending: bool,
}

fn unsatisfiable(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "requested_range_not_satisfiable",
        message,
    )
}

fn parse(header: &str, fields: &[&str]) -> Result<Range, ApiError> {
    let bad = || {
        unsatisfiable(format!(
            "invalid Range `{header}`: use `<field> [start]..[end][; max=N][, order=asc|desc]` with a field of {}",
            fields.join(", ")
        ))
    };
    let (head, options) = header.split_once(';').unwrap_or((header, ""));
    let head = head.trim();
    let (field, bounds) = head.split_once(' ').unwrap_or((head, ".."));
    // A field this list cannot be ordered by (heroku3 sends `Range: domain ..`
    // for domains): the default order, its bounds ignored, as Heroku answers.
    let (field, bounds) = if fields.contains(&field) {
        (field, bounds)
    } else {
        (fields[0], "..")
    };
    let (start, end) = bounds.trim().split_once("..").ok_or_else(bad)?;
    let (start, start_exclusive) = match start.strip_prefix(']') {
        Some(rest) => (rest, true),
        None => (start, false),
    };
    let mut range = Range {
        field: field.to_string(),
        start: Some(start.to_string()).filter(|s| !s.is_empty()),
        start_exclusive,
        end: Some(end.to_string()).filter(|s| !s.is_empty()),
        max: DEFAULT_MAX,
        descending: false,
    };
    for option in options.split([',', ';']) {
        let option = option.trim();
        if option.is_empty() {
            continue;
        }
        let (key, value) = option.split_once('=').ok_or_else(bad)?;
        match (key.trim(), value.trim()) {
            ("max", n) => {
                range.max = n.parse().map_err(|_| bad())?;
                if !(1..=MAX_MAX).contains(&range.max) {
                    return Err(unsatisfiable(format!(
                        "invalid Range `{header}`: max must be between 1 and {MAX_MAX}"
                    )));
                }
            }
            ("order", "asc") => range.descending = false,
            ("order", "desc") => range.descending = true,
            _ => return Err(bad()),
        }
    }
    Ok(range)
}

/// Compares a field's JSON value with a bound written in a header.
fn compare(value: &Value, bound: &str) -> Ordering {
    match (value, bound.parse::<f64>()) {
        (Value::Number(n), Ok(b)) => n.as_f64().unwrap_or(0.0).total_cmp(&b),
        _ => key(value).as_str().cmp(bound),
    }
}

fn key(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn order(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => key(a).cmp(&key(b)),
    }
}

/// Answers a list request with the page its `Range` header asks for.
/// `fields` are the fields it may be ranged on; the first is the default.
pub fn page(headers: &HeaderMap, mut items: Vec<Value>, fields: &[&str]) -> Response {
    match page_of(headers, &mut items, fields) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn page_of(
    headers: &HeaderMap,
    items: &mut Vec<Value>,
    fields: &[&str],
) -> Result<Response, ApiError> {
    let range = match headers.get(axum::http::header::RANGE) {
        Some(value) => parse(
            value
                .to_str()
                .map_err(|_| unsatisfiable("the Range header is not text"))?,
            fields,
        )?,
        None => Range {
            field: fields[0].to_string(),
            start: None,
            start_exclusive: false,
            end: None,
            max: DEFAULT_MAX,
            descending: false,
        },
    };
    let field = range.field.as_str();
    items.sort_by(|a, b| order(&a[field], &b[field]));
    if range.descending {
        items.reverse();
    }
    // In descending order "after the start" means smaller.
    let towards = if range.descending {
        Ordering::Less
    } else {
        Ordering::Greater
    };
    let selected: Vec<Value> = items
        .drain(..)
        .filter(|item| {
            let value = &item[field];
            let after_start = range.start.as_deref().is_none_or(|start| {
                let c = compare(value, start);
                c == towards || (c == Ordering::Equal && !range.start_exclusive)
            });
            let before_end = range
                .end
                .as_deref()
                .is_none_or(|end| compare(value, end) != towards);
            after_start && before_end
        })
        .collect();
    let more = selected.len() > range.max;
    let page: Vec<Value> = selected.into_iter().take(range.max).collect();
    let order_suffix = if range.descending { ", order=desc" } else { "" };
    let mut response = if more {
        (
            StatusCode::PARTIAL_CONTENT,
            Json(Value::Array(page.clone())),
        )
            .into_response()
    } else {
        Json(Value::Array(page.clone())).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&fields.join(", ")) {
        headers.insert(axum::http::header::ACCEPT_RANGES, v);
    }
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        let content = format!(
            "{field} {}..{}; max={}{order_suffix}",
            key(&first[field]),
            key(&last[field]),
            range.max
        );
        if let Ok(v) = HeaderValue::from_str(&content) {
            headers.insert(axum::http::header::CONTENT_RANGE, v);
        }
        if more {
            let next = format!(
                "{field} ]{}..; max={}{order_suffix}",
                key(&last[field]),
                range.max
            );
            if let Ok(v) = HeaderValue::from_str(&next) {
                headers.insert("next-range", v);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn numbers(n: i64) -> Vec<Value> {
        (1..=n)
            .rev()
            .map(|v| json!({"version": v, "id": format!("id{v:03}")}))
            .collect()
    }

    async fn body(response: Response) -> (StatusCode, Vec<i64>, Option<String>) {
        let status = response.status();
        let next = response
            .headers()
            .get("next-range")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let items: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        let versions = items
            .iter()
            .map(|i| i["version"].as_i64().unwrap())
            .collect();
        (status, versions, next)
    }

    fn with_range(range: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("range", HeaderValue::from_str(range).unwrap());
        headers
    }

    #[tokio::test]
    async fn pages_follow_next_range_to_the_end() {
        let fields = ["version", "id"];
        let (status, got, next) = body(page(&HeaderMap::new(), numbers(5), &fields)).await;
        assert_eq!(
            (status, got, next),
            (StatusCode::OK, vec![1, 2, 3, 4, 5], None)
        );

        let (status, got, next) =
            body(page(&with_range("version ..; max=2"), numbers(5), &fields)).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(got, vec![1, 2]);
        assert_eq!(next.as_deref(), Some("version ]2..; max=2"));
        let (_, got, next) = body(page(
            &with_range("version ]2..; max=2"),
            numbers(5),
            &fields,
        ))
        .await;
        assert_eq!(got, vec![3, 4]);
        let (status, got, next) =
            body(page(&with_range(&next.unwrap()), numbers(5), &fields)).await;
        assert_eq!((status, got, next), (StatusCode::OK, vec![5], None));
    }

    #[tokio::test]
    async fn descending_and_bounds() {
        let fields = ["version"];
        let (status, got, next) = body(page(
            &with_range("version ..; max=2, order=desc"),
            numbers(5),
            &fields,
        ))
        .await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(got, vec![5, 4]);
        assert_eq!(next.as_deref(), Some("version ]4..; max=2, order=desc"));
        let (_, got, _) = body(page(
            &with_range("version ]4..; max=2, order=desc"),
            numbers(5),
            &fields,
        ))
        .await;
        assert_eq!(got, vec![3, 2]);
        let (_, got, _) = body(page(&with_range("version 2..4"), numbers(5), &fields)).await;
        assert_eq!(got, vec![2, 3, 4]);
    }

    #[tokio::test]
    async fn an_unknown_field_falls_back_to_the_default_order() {
        let fields = ["version", "id"];
        let (status, got, _) =
            body(page(&with_range("color red..; max=2"), numbers(3), &fields)).await;
        assert_eq!((status, got), (StatusCode::PARTIAL_CONTENT, vec![1, 2]));
        let (_, got, _) = body(page(
            &with_range("domain ..; order=desc"),
            numbers(3),
            &fields,
        ))
        .await;
        assert_eq!(got, vec![3, 2, 1]);
    }

    #[tokio::test]
    async fn bad_ranges_are_416_and_name_the_fields() {
        for bad in [
            "version ..; max=0",
            "version ..; max=1001",
            "version ..; max=x",
            "version 1",
        ] {
            let response = page(&with_range(bad), numbers(3), &["version", "id"]);
            assert_eq!(
                response.status(),
                StatusCode::RANGE_NOT_SATISFIABLE,
                "{bad}"
            );
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let error: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(error["id"], "requested_range_not_satisfiable");
            let message = error["message"].as_str().unwrap();
            assert!(
                message.contains("version, id")
                    || message.contains("max must be between 1 and 1000"),
                "{error}"
            );
        }
    }
}
