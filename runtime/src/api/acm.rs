//! Automated certificates, as Heroku's ACM: `POST|PATCH|DELETE /apps/{app}/acm`
//! (`certs:auto:enable`, `certs:auto:refresh`, `certs:auto:disable`), and the
//! issuer that orders a certificate for each custom domain of those apps from
//! an ACME CA (`--acme-directory`), answering its HTTP-01 challenges through
//! every router, and renews it 30 days before it expires.
//!
//! The issuer runs on every server; the ledger's per-domain lease
//! (`claim_acm`) makes one of them order each domain at a time.

use super::{ApiError, Caller, Platform};
use crate::state::{State as Ledger, format_time};
use crate::tls::user;
use anyhow::Context as _;
use axum::Json;
use axum::extract::{Path, State};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

/// How often each server looks for certificates to order.
const ISSUE_EVERY: Duration = Duration::from_secs(3);
/// How long one server holds a domain's order before another may take it.
const CLAIM: time::Duration = time::Duration::minutes(5);
/// How long after a failed order the domain is tried again.
const RETRY_AFTER: time::Duration = time::Duration::seconds(20);
/// A certificate this close to expiring is renewed.
const RENEW_BEFORE: time::Duration = time::Duration::days(30);
/// How long an order may take to be validated, and its certificate to be issued.
const ORDER_TIMEOUT: Duration = Duration::from_secs(90);

/// Where automated certificates come from.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    /// The ACME directory URL (Let's Encrypt's by default).
    pub directory: String,
    /// A PEM root to trust for the directory's own HTTPS (a test CA), if not a public one.
    pub ca_file: Option<std::path::PathBuf>,
}

/// `POST /apps/{app}/acm`: `certs:auto:enable`.
pub async fn enable(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    platform.state.set_acm(&app, true).await?;
    Ok(Json(acm_json(&app, true)))
}

/// `DELETE /apps/{app}/acm`: `certs:auto:disable`; its certificates are forgotten.
pub async fn disable(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    platform.state.set_acm(&app, false).await?;
    Ok(Json(acm_json(&app, false)))
}

/// `PATCH /apps/{app}/acm` (`{"acm_refresh": true}`): `certs:auto:refresh`.
pub async fn refresh(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = platform.app_for(&caller, &name).await?;
    if !platform.state.acm_enabled(&app).await? {
        return Err(ApiError::invalid(format!(
            "Automatic Certificate Management is disabled on {}: enable it with `heroku certs:auto:enable -a {}`",
            app.name, app.name
        )));
    }
    platform.state.refresh_acm(&app).await?;
    Ok(Json(acm_json(&app, true)))
}

fn acm_json(app: &crate::state::App, on: bool) -> Value {
    json!({ "id": app.id, "name": app.name, "acm": on })
}

/// The ACM fields of a custom domain's JSON: `acm_status` and its reason.
pub async fn domain_status(
    platform: &Platform,
    app: &crate::state::App,
) -> Result<Vec<(String, Value, Value)>, ApiError> {
    Ok(platform
        .state
        .acm_domains(app)
        .await?
        .into_iter()
        .map(|d| (d.hostname, json!(d.status), json!(d.reason)))
        .collect())
}

/// Answers HTTP-01 challenges from the ledger, so any server's router can.
pub struct LedgerAnswers(pub Ledger);

#[async_trait::async_trait]
impl crate::router::AcmeAnswers for LedgerAnswers {
    async fn answer(&self, token: &str) -> Option<String> {
        self.0.acme_answer(token).await.ok().flatten()
    }
}

/// Orders due certificates until the runtime ends.
pub fn spawn_issuer(state: Ledger, settings: AcmeSettings) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let account = OnceCell::new();
        loop {
            tokio::time::sleep(ISSUE_EVERY).await;
            let renew_before = format_time(OffsetDateTime::now_utc() + RENEW_BEFORE);
            let due = match state.acm_due(&renew_before).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for certificates to order");
                    continue;
                }
            };
            for (hostname, app_id) in due {
                let until = format_time(OffsetDateTime::now_utc() + CLAIM);
                if !state
                    .claim_acm(&hostname, &app_id, &until)
                    .await
                    .unwrap_or(false)
                {
                    continue;
                }
                let issued = async {
                    let account = account
                        .get_or_try_init(|| open_account(&state, &settings))
                        .await?;
                    issue(&state, account, &hostname).await
                };
                let outcome = tokio::time::timeout(ORDER_TIMEOUT * 2, issued).await;
                let failure = match outcome {
                    Ok(Ok(())) => {
                        tracing::info!(host = %hostname, "automated certificate issued");
                        continue;
                    }
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(_) => "the ACME CA did not finish the order in time".to_string(),
                };
                tracing::warn!(host = %hostname, error = %failure, "automated certificate order failed");
                let retry_at = format_time(OffsetDateTime::now_utc() + RETRY_AFTER);
                if let Err(e) = state.acm_failed(&hostname, &failure, &retry_at).await {
                    tracing::warn!(host = %hostname, error = %e, "recording a failed order");
                }
            }
        }
    })
}

/// The platform's ACME account on the directory: the one in the ledger, or a new one.
async fn open_account(state: &Ledger, settings: &AcmeSettings) -> anyhow::Result<Account> {
    let builder = || match &settings.ca_file {
        Some(file) => Account::builder_with_root(file)
            .with_context(|| format!("trusting {} for the ACME directory", file.display())),
        None => Account::builder().context("making the ACME client"),
    };
    if let Some(stored) = state.acme_account(&settings.directory).await? {
        let credentials: AccountCredentials =
            serde_json::from_str(&stored).context("reading the stored ACME account")?;
        return Ok(builder()?.from_credentials(credentials).await?);
    }
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .with_context(|| format!("registering with the ACME directory {}", settings.directory))?;
    state
        .put_acme_account(&settings.directory, &serde_json::to_string(&credentials)?)
        .await?;
    Ok(account)
}

/// One order: HTTP-01 for `hostname`, its answer published for the routers.
async fn issue(state: &Ledger, account: &Account, hostname: &str) -> anyhow::Result<()> {
    let identifiers = [Identifier::Dns(hostname.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .context("placing the order")?;
    let mut tokens = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization.context("reading the order's authorization")?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            status => anyhow::bail!("the authorization for {hostname} is {status:?}"),
        }
        let mut challenge = authorization
            .challenge(ChallengeType::Http01)
            .context("the ACME CA offers no HTTP-01 challenge")?;
        let answer = challenge.key_authorization();
        state
            .put_acme_answer(&challenge.token, answer.as_str())
            .await?;
        tokens.push(challenge.token.clone());
        challenge
            .set_ready()
            .await
            .context("answering the challenge")?;
    }
    let policy = RetryPolicy::new().timeout(ORDER_TIMEOUT);
    let status = order.poll_ready(&policy).await;
    for token in &tokens {
        let _ = state.remove_acme_answer(token).await;
    }
    match status.context("waiting for the ACME CA to validate")? {
        OrderStatus::Ready => {}
        status => anyhow::bail!(
            "the ACME CA could not validate {hostname} ({status:?}): its name must resolve to this platform's router on port 80"
        ),
    }
    let key = order.finalize().await.context("finalizing the order")?;
    let chain = order
        .poll_certificate(&policy)
        .await
        .context("fetching the certificate")?;
    let leaf = crate::tls::ca::pem::parse_first(&chain)?;
    let described = user::describe(&leaf)?;
    state
        .acm_issued(hostname, &chain, &key, &format_time(described.expires_at))
        .await?;
    Ok(())
}
