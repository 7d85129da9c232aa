//! The endpoint from a plain HTTP client (reqwest, SigV4 signed here by
//! hand): two add-ons' buckets on one in-memory store, each key reaching
//! only its own; ranges, listings, batch deletes, the plan's limit; and a
//! deprovision that leaves nothing.

use super::keys::{BucketKeys, GrantedBucket};
use super::objects::Objects;
use super::provider::BucketProvider;
use crate::addons::Provider;
use crate::addons::Resource;
use crate::addons::catalog;
use async_trait::async_trait;
use object_store::memory::InMemory;
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex};

/// The ledger's keys, in memory.
#[derive(Default)]
struct Ledger(Mutex<Vec<(String, GrantedBucket)>>);

#[async_trait]
impl BucketKeys for Ledger {
    async fn bucket_of(&self, access_key: &str) -> anyhow::Result<Option<GrantedBucket>> {
        let keys = self.0.lock().unwrap();
        Ok(keys
            .iter()
            .find(|(k, _)| k == access_key)
            .map(|(_, g)| g.clone()))
    }
}

struct Creds {
    endpoint: String,
    bucket: String,
    key: String,
    secret: String,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// `method path?query` signed with `creds` (the query's pairs in canonical order).
async fn send(creds: &Creds, method: &str, path: &str, query: &str, body: &[u8]) -> Reply {
    send_with(creds, method, path, query, body, &[]).await
}

async fn send_with(
    creds: &Creds,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Reply {
    let host = creds.endpoint.trim_start_matches("http://");
    let now = time::OffsetDateTime::now_utc();
    let date = format!(
        "{:04}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let amz_date = format!(
        "{date}T{:02}{:02}{:02}Z",
        now.hour(),
        now.minute(),
        now.second()
    );
    let payload = hex::encode(Sha256::digest(body));
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n\n{signed}\n{payload}"
    );
    let scope = format!("{date}/us-east-1/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut k = format!("AWS4{}", creds.secret).into_bytes();
    for part in [date.as_str(), "us-east-1", "s3", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let signature = hex::encode(hmac(&k, to_sign.as_bytes()));
    let url = match query {
        "" => format!("{}{path}", creds.endpoint),
        q => format!("{}{path}?{q}", creds.endpoint),
    };
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .header("x-amz-date", &amz_date)
        .header("x-amz-content-sha256", &payload)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                creds.key
            ),
        )
        .body(body.to_vec());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let reply = request.send().await.unwrap();
    Reply {
        status: reply.status().as_u16(),
        headers: reply.headers().clone(),
        body: reply.text().await.unwrap(),
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Provisions `addon` and records its keys in the ledger, with `limit`.
async fn provision(provider: &BucketProvider, ledger: &Ledger, addon: &str, limit: u64) -> Creds {
    let (_, plan) = catalog::resolve("kumo-bucket").unwrap();
    let Resource::Bucket {
        endpoint,
        bucket,
        access_key_id,
        secret_access_key,
    } = provider.provision(addon, plan).await.unwrap()
    else {
        panic!("not a bucket")
    };
    ledger.0.lock().unwrap().push((
        access_key_id.clone(),
        GrantedBucket {
            addon: addon.to_string(),
            bucket: bucket.clone(),
            secret_access_key: secret_access_key.clone(),
            limit,
        },
    ));
    Creds {
        endpoint,
        bucket,
        key: access_key_id,
        secret: secret_access_key,
    }
}

#[tokio::test]
async fn each_key_reaches_its_own_bucket_only() {
    let objects = Objects::new(Arc::new(InMemory::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let ledger = Arc::new(Ledger::default());
    tokio::spawn(super::serve(listener, objects.clone(), ledger.clone()));
    let provider = BucketProvider::new(objects.clone(), &endpoint);
    let one = provision(&provider, &ledger, "bucket-one-10001", 1 << 30).await;
    let two = provision(&provider, &ledger, "bucket-two-10002", 20).await;
    assert_ne!(one.key, two.key);
    assert_eq!(one.secret.len(), 40);

    let b1 = format!("/{}", one.bucket);
    assert_eq!(send(&one, "HEAD", &b1, "", b"").await.status, 200);
    for (key, body) in [
        ("a.txt", "0123456789"),
        ("dir/b", "b"),
        ("dir/c", "c"),
        ("e", "e"),
    ] {
        let reply = send(&one, "PUT", &format!("{b1}/{key}"), "", body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{key}: {}", reply.body);
    }
    let reply = send(&one, "GET", &format!("{b1}/a.txt"), "", b"").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "0123456789"));
    let reply = send_with(
        &one,
        "GET",
        &format!("{b1}/a.txt"),
        "",
        b"",
        &[("range", "bytes=2-4")],
    )
    .await;
    assert_eq!((reply.status, reply.body.as_str()), (206, "234"));
    assert_eq!(reply.headers["content-range"], "bytes 2-4/10");
    let reply = send(&one, "HEAD", &format!("{b1}/a.txt"), "", b"").await;
    assert_eq!(
        (reply.status, &reply.headers["content-length"]),
        (200, &"10".parse().unwrap())
    );
    let reply = send(&one, "GET", &format!("{b1}/nope"), "", b"").await;
    assert!(
        reply.status == 404 && reply.body.contains("NoSuchKey"),
        "{}",
        reply.body
    );

    // Listings: grouped by the delimiter, a page at a time.
    let reply = send(&one, "GET", &b1, "delimiter=%2F&list-type=2", b"").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains("<Key>a.txt</Key>") && reply.body.contains("<Prefix>dir/</Prefix>"),
        "{}",
        reply.body
    );
    assert!(!reply.body.contains("<Key>dir/b</Key>"), "{}", reply.body);
    let reply = send(&one, "GET", &b1, "list-type=2&max-keys=2", b"").await;
    assert!(
        reply.body.contains("<IsTruncated>true</IsTruncated>"),
        "{}",
        reply.body
    );
    let token = reply
        .body
        .split("<NextContinuationToken>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    let reply = send(
        &one,
        "GET",
        &b1,
        &format!("continuation-token={token}&list-type=2&max-keys=2"),
        b"",
    )
    .await;
    assert!(
        reply.body.contains("<Key>dir/c</Key>") && reply.body.contains("<Key>e</Key>"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("<IsTruncated>false</IsTruncated>"),
        "{}",
        reply.body
    );

    // Another add-on's key reaches none of it, whatever the operation.
    let b2 = format!("/{}", two.bucket);
    for (method, path) in [
        ("GET", format!("{b1}/a.txt")),
        ("PUT", format!("{b1}/a.txt")),
        ("DELETE", format!("{b1}/a.txt")),
        ("HEAD", b1.clone()),
        ("GET", b1.clone()),
        ("GET", "/".to_string()),
    ] {
        let reply = send(
            &two,
            method,
            &path,
            if path == b1 && method == "GET" {
                "list-type=2"
            } else {
                ""
            },
            b"x",
        )
        .await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
    }
    // A wrong secret is refused too.
    let forged = Creds {
        secret: "0".repeat(40),
        ..Creds { ..two }
    };
    let reply = send(&forged, "GET", &format!("{b2}/x"), "", b"").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let two = Creds {
        secret: ledger.0.lock().unwrap()[1].1.secret_access_key.clone(),
        ..forged
    };

    // The plan's limit (20 bytes here): past it, EntityTooLarge.
    let reply = send(&two, "PUT", &format!("{b2}/x"), "", &[b'x'; 15]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = send(&two, "PUT", &format!("{b2}/y"), "", &[b'y'; 10]).await;
    assert!(
        reply.status == 400 && reply.body.contains("EntityTooLarge"),
        "{}",
        reply.body
    );
    // Replacing an object counts its new size only.
    let reply = send(&two, "PUT", &format!("{b2}/x"), "", &[b'x'; 20]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Batch delete, then info and a deprovision that leaves nothing.
    let delete =
        "<Delete><Object><Key>dir/b</Key></Object><Object><Key>dir/c</Key></Object></Delete>";
    let reply = send(&one, "POST", &b1, "delete=", delete.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let info = provider
        .info("bucket-one-10001", &resource(&one))
        .await
        .unwrap();
    assert_eq!(info[1], ("Objects".to_string(), "2".to_string()));
    provider.deprovision("bucket-one-10001").await.unwrap();
    assert_eq!(objects.usage(&one.bucket).await.unwrap(), (0, 0));
    assert_eq!(objects.usage(&two.bucket).await.unwrap(), (1, 20));
}

fn resource(creds: &Creds) -> Resource {
    Resource::Bucket {
        endpoint: creds.endpoint.clone(),
        bucket: creds.bucket.clone(),
        access_key_id: creds.key.clone(),
        secret_access_key: creds.secret.clone(),
    }
}
