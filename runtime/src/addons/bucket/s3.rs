//! The S3 operations of the endpoint, on a bucket the access check granted
//! ([`super::access`]): objects put, read (whole or by range), headed,
//! deleted one by one or many at once, and listed (`ListObjectsV2`). A put
//! that would take the bucket past its plan's limit is `EntityTooLarge`.

use super::access::granted;
use super::listing::{self, MAX_KEYS, Query};
use super::objects::{Objects, UnsupportedKey};
use futures::StreamExt as _;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStoreExt as _, PutPayload, WriteMultipart};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// Bodies up to this size are stored with one request; larger ones stream
/// through a multipart upload of the store.
const INLINE_BYTES: u64 = 8 << 20;

/// The S3 service of every bucket add-on.
#[derive(Clone)]
pub struct BucketService {
    objects: Objects,
}

impl BucketService {
    pub fn new(objects: Objects) -> BucketService {
        BucketService { objects }
    }
}

#[async_trait::async_trait]
impl S3 for BucketService {
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        granted(&req.extensions)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some("us-east-1".to_string()),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let grant = granted(&req.extensions)?.clone();
        let input = req.input;
        let path = Objects::path(&grant.bucket, &input.key).map_err(unsupported)?;
        let entries = self.objects.list(&grant.bucket).await.map_err(internal)?;
        let used: u64 = entries
            .iter()
            .filter(|e| e.key != input.key)
            .map(|e| e.size)
            .sum();
        let room = grant.limit.saturating_sub(used);
        let too_large = || {
            s3_error!(
                EntityTooLarge,
                "the bucket {} would hold more than its plan's {}: delete objects first, or upgrade the add-on {}",
                grant.bucket,
                human_bytes(grant.limit),
                grant.addon
            )
        };
        if input
            .content_length
            .is_some_and(|len| u64::try_from(len).unwrap_or(u64::MAX) > room)
        {
            return Err(too_large());
        }
        let (size, e_tag) = match self.write(&path, input.body, room).await? {
            Written::Stored(size, e_tag) => (size, e_tag),
            Written::TooLarge => return Err(too_large()),
        };
        Ok(S3Response::new(PutObjectOutput {
            e_tag: e_tag.map(etag),
            size: i64::try_from(size).ok(),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let grant = granted(&req.extensions)?;
        let input = &req.input;
        let path = Objects::path(&grant.bucket, &input.key).map_err(no_such_key)?;
        let meta = self
            .objects
            .store()
            .head(&path)
            .await
            .map_err(not_found_or_internal)?;
        let (range, content_range) = match &input.range {
            None => (0..meta.size, None),
            Some(range) => {
                let range = range
                    .check(meta.size)
                    .map_err(|_| s3_error!(InvalidRange))?;
                let content_range =
                    format!("bytes {}-{}/{}", range.start, range.end - 1, meta.size);
                (range, Some(content_range))
            }
        };
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..Default::default()
        };
        let got = if range.is_empty() {
            None
        } else {
            Some(
                self.objects
                    .store()
                    .get_opts(&path, options)
                    .await
                    .map_err(not_found_or_internal)?,
            )
        };
        let body = match got {
            Some(got) => StreamingBlob::wrap(sync_wrapper::SyncStream::new(got.into_stream())),
            None => StreamingBlob::wrap(futures::stream::empty::<
                Result<bytes::Bytes, std::io::Error>,
            >()),
        };
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body),
            content_length: i64::try_from(range.end - range.start).ok(),
            content_range,
            accept_ranges: Some("bytes".to_string()),
            last_modified: Some(Timestamp::from(std::time::SystemTime::from(
                meta.last_modified,
            ))),
            e_tag: meta.e_tag.map(etag),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let grant = granted(&req.extensions)?;
        let path = Objects::path(&grant.bucket, &req.input.key).map_err(no_such_key)?;
        let meta = self
            .objects
            .store()
            .head(&path)
            .await
            .map_err(not_found_or_internal)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: i64::try_from(meta.size).ok(),
            accept_ranges: Some("bytes".to_string()),
            last_modified: Some(Timestamp::from(std::time::SystemTime::from(
                meta.last_modified,
            ))),
            e_tag: meta.e_tag.map(etag),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let grant = granted(&req.extensions)?;
        // A key that cannot be stored is not there to delete.
        if let Ok(path) = Objects::path(&grant.bucket, &req.input.key) {
            self.objects.delete(&path).await.map_err(internal)?;
        }
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let grant = granted(&req.extensions)?.clone();
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in req.input.delete.objects {
            let result = match Objects::path(&grant.bucket, &object.key) {
                Ok(path) => self.objects.delete(&path).await,
                Err(_) => Ok(()),
            };
            match result {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }),
                Err(e) => {
                    tracing::error!(error = %e, bucket = %grant.bucket, "deleting an object");
                    errors.push(Error {
                        code: Some("InternalError".to_string()),
                        key: Some(object.key),
                        message: Some("the object could not be deleted".to_string()),
                        ..Default::default()
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let grant = granted(&req.extensions)?;
        let input = &req.input;
        let from_token = match &input.continuation_token {
            Some(token) => Some(listing::after_token(token).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "the continuation token is not one this bucket gave"
                )
            })?),
            None => None,
        };
        let max_keys = input
            .max_keys
            .map_or(MAX_KEYS, |n| usize::try_from(n).unwrap_or(0).min(MAX_KEYS));
        let entries = self.objects.list(&grant.bucket).await.map_err(internal)?;
        let query = Query {
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter: input.delimiter.as_deref(),
            after: from_token.as_deref().or(input.start_after.as_deref()),
            max_keys,
        };
        let page = listing::page(&entries, &query);
        let contents: Vec<Object> = page
            .contents
            .iter()
            .map(|entry| Object {
                key: Some(entry.key.clone()),
                size: i64::try_from(entry.size).ok(),
                last_modified: Some(Timestamp::from(entry.last_modified)),
                e_tag: entry.e_tag.clone().map(etag),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let key_count = contents.len() + page.common_prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(grant.bucket.clone()),
            prefix: input.prefix.clone(),
            delimiter: input.delimiter.clone(),
            max_keys: i32::try_from(max_keys).ok(),
            key_count: i32::try_from(key_count).ok(),
            continuation_token: input.continuation_token.clone(),
            start_after: input.start_after.clone(),
            is_truncated: Some(page.next_after.is_some()),
            next_continuation_token: page.next_after.as_deref().map(listing::token),
            contents: Some(contents),
            common_prefixes: Some(
                page.common_prefixes
                    .into_iter()
                    .map(|prefix| CommonPrefix {
                        prefix: Some(prefix),
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

/// How a body went to the store.
enum Written {
    Stored(u64, Option<String>),
    /// It was longer than the room left; nothing of it is kept.
    TooLarge,
}

impl BucketService {
    /// Streams `body` to `path`, refusing it once it is over `room` bytes.
    async fn write(
        &self,
        path: &StorePath,
        body: Option<StreamingBlob>,
        room: u64,
    ) -> S3Result<Written> {
        let store = self.objects.store();
        let mut buffered: Vec<bytes::Bytes> = Vec::new();
        let mut upload: Option<WriteMultipart> = None;
        let mut size = 0u64;
        if let Some(mut body) = body {
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.map_err(|e| s3_error!(IncompleteBody, "reading the body: {e}"))?;
                size += chunk.len() as u64;
                if size > room {
                    if let Some(upload) = upload {
                        let _ = upload.abort().await;
                    }
                    return Ok(Written::TooLarge);
                }
                match &mut upload {
                    Some(upload) => {
                        upload.wait_for_capacity(4).await.map_err(internal)?;
                        upload.put(chunk);
                    }
                    None => {
                        buffered.push(chunk);
                        if size > INLINE_BYTES {
                            let mut started = WriteMultipart::new(
                                store.put_multipart(path).await.map_err(internal)?,
                            );
                            for chunk in buffered.drain(..) {
                                started.put(chunk);
                            }
                            upload = Some(started);
                        }
                    }
                }
            }
        }
        let result = match upload {
            Some(upload) => upload.finish().await,
            None => store.put(path, PutPayload::from_iter(buffered)).await,
        };
        let result = result.map_err(internal)?;
        Ok(Written::Stored(size, result.e_tag))
    }
}

/// An object store's ETag as S3 sends it (the store's may be quoted).
fn etag(value: String) -> ETag {
    ETag::Strong(value.trim_matches('"').to_string())
}

fn unsupported(e: UnsupportedKey) -> s3s::S3Error {
    s3_error!(InvalidArgument, "{e}")
}

fn no_such_key(_: UnsupportedKey) -> s3s::S3Error {
    s3_error!(NoSuchKey)
}

fn not_found_or_internal(e: object_store::Error) -> s3s::S3Error {
    match e {
        object_store::Error::NotFound { .. } => s3_error!(NoSuchKey),
        e => internal(e),
    }
}

fn internal(e: impl std::fmt::Display) -> s3s::S3Error {
    tracing::error!(error = %e, "the bucket store failed");
    s3_error!(InternalError, "the object store failed")
}

/// `1 GB`, `512 MB`, `12 KB`, `3 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GB", b >> 30),
        b if b >= 1 << 20 => format!("{} MB", b >> 20),
        b if b >= 1 << 10 => format!("{} KB", b >> 10),
        b => format!("{b} bytes"),
    }
}
