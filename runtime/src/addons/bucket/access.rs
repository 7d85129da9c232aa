//! Who may do what on the endpoint: a request must be signed (SigV4, checked
//! by `s3s` with the secret [`Keys`] finds in the ledger) with the key of the
//! bucket it names. Any other bucket, the bucket list and unsigned requests
//! are `AccessDenied`.

use super::keys::{BucketKeys, GrantedBucket};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use std::sync::Arc;

/// The `s3s` authenticator: an access key's secret, from the ledger.
pub struct Keys(pub Arc<dyn BucketKeys>);

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.bucket_of(access_key).await {
            Ok(Some(granted)) => Ok(SecretKey::from(granted.secret_access_key)),
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "the access key {access_key} is no bucket add-on's"
            )),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "looking up a bucket's access key");
                Err(s3_error!(InternalError, "the ledger is unreachable"))
            }
        }
    }
}

/// The `s3s` access check: the request's bucket must be its key's. The
/// bucket it grants goes to the operation in the request's extensions.
pub struct OwnBucketOnly(pub Arc<dyn BucketKeys>);

#[async_trait::async_trait]
impl S3Access for OwnBucketOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(
                AccessDenied,
                "sign the request with the add-on's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ));
        };
        let access_key = credentials.access_key.clone();
        let Some(bucket) = cx.s3_path().get_bucket_name().map(str::to_string) else {
            return Err(s3_error!(
                AccessDenied,
                "an add-on's credentials open only its own bucket: name it in the request"
            ));
        };
        let granted = match self.0.bucket_of(&access_key).await {
            Ok(Some(granted)) => granted,
            Ok(None) => return Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "looking up a bucket's access key");
                return Err(s3_error!(InternalError, "the ledger is unreachable"));
            }
        };
        if granted.bucket != bucket {
            return Err(s3_error!(
                AccessDenied,
                "the access key {access_key} opens only the bucket {}",
                granted.bucket
            ));
        }
        cx.extensions_mut().insert(granted);
        Ok(())
    }
}

/// The bucket the access check granted this request.
pub fn granted(extensions: &http::Extensions) -> S3Result<&GrantedBucket> {
    extensions
        .get::<GrantedBucket>()
        .ok_or_else(|| s3_error!(AccessDenied, "the request was not authorised"))
}
