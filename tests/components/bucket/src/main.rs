//! An app using its bucket add-on with plain S3 over `wasi:http`, as an app
//! with no AWS SDK would: each request is forwarded to the add-on's endpoint
//! (`BUCKETEER_AWS_ENDPOINT_URL`), path-style, signed with SigV4 by hand with
//! the add-on's `BUCKETEER_AWS_ACCESS_KEY_ID` and `…_SECRET_ACCESS_KEY`.
//!
//! - `PUT /own/KEY` (the body), `GET /own/KEY`, `DELETE /own/KEY`: on the
//!   app's own bucket (`BUCKETEER_BUCKET_NAME`);
//! - `METHOD /BUCKET/KEY`: the same on another bucket, with the same keys.
//!
//! It answers the endpoint's status and body (S3's XML error on a refusal).

use sha2::{Digest as _, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};
use wstd::http::{Body, Client, Error, Request, Response};

#[wstd::http_server]
async fn main(mut request: Request<Body>) -> Result<Response<Body>, Error> {
    let var = |name: &str| std::env::var(format!("BUCKETEER_{name}")).unwrap_or_default();
    let path = request.uri().path().trim_start_matches('/').to_string();
    let (bucket, key) = path.split_once('/').unwrap_or((&path, ""));
    let bucket = match bucket {
        "own" => var("BUCKET_NAME"),
        other => other.to_string(),
    };
    let method = request.method().clone();
    let body = request.body_mut().contents().await?.to_vec();

    let endpoint = var("AWS_ENDPOINT_URL");
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let region = var("AWS_REGION");
    let uri_path = format!("/{bucket}/{key}");
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (amz_date, date) = timestamp(seconds);
    let payload_hash = hex(&Sha256::digest(&body));
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request = format!(
        "{method}\n{uri_path}\n\nhost:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n\n{signed_headers}\n{payload_hash}"
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut signing_key = format!("AWS4{}", var("AWS_SECRET_ACCESS_KEY")).into_bytes();
    for part in [date.as_str(), region.as_str(), "s3", "aws4_request"] {
        signing_key = hmac(&signing_key, part.as_bytes());
    }
    let signature = hex(&hmac(&signing_key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        var("AWS_ACCESS_KEY_ID")
    );

    let upstream = Request::builder()
        .method(method)
        .uri(format!("{}{uri_path}", endpoint.trim_end_matches('/')))
        // wasi:http sends the URI's authority as `Host`, which is what was signed.
        .header("x-amz-date", &amz_date)
        // S3 needs the length of a put up front.
        .header("content-length", body.len())
        .header("x-amz-content-sha256", &payload_hash)
        .header("authorization", authorization)
        .body(Body::from(body))?;
    let (status, text) = match Client::new().send(upstream).await {
        Ok(mut reply) => (
            reply.status().as_u16(),
            reply.body_mut().contents().await?.to_vec(),
        ),
        Err(e) => (502, format!("error: {e}\n").into_bytes()),
    };
    Ok(Response::builder().status(status).body(Body::from(text))?)
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `20260102T030405Z` and `20260102` for a Unix time.
fn timestamp(seconds: u64) -> (String, String) {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let time = format!("{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    (format!("{date}T{time}Z"), date)
}
