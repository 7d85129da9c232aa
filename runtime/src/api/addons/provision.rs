//! Making, changing and destroying add-ons: `POST`, `PATCH` and `DELETE
//! /apps/{app}/addons…`, and the Kumo extensions `pg:info` and `pg:reset` use.

use super::{ApiError, Caller, Platform, addon_json, service_of};
use crate::addons::catalog::{self, COLORS, Plan, Service};
use crate::addons::{AddonGrant, names, provider};
use crate::state::{Addon, App, Attachment, NewAttachment, ReleaseStatus};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Releases an add-on makes (attach, detach, a plan change) go live at once,
/// without the release phase, as Heroku's releases caused by add-ons do: the
/// attachment is already a fact in the ledger (or, detached, its resource may
/// be gone), so no release command may hold it back.
const ADDON_RELEASE_STATUS: ReleaseStatus = ReleaseStatus::Succeeded;

#[derive(Deserialize)]
pub struct AttachmentName {
    name: Option<String>,
}

/// A plan as Heroku's schema takes it: `"service:plan"`, or `{"name": …}` /
/// `{"id": …}` (what Heroku's CLI sends).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum PlanRef {
    Text(String),
    Object {
        name: Option<String>,
        id: Option<String>,
    },
}

impl PlanRef {
    fn text(self) -> Result<String, ApiError> {
        match self {
            PlanRef::Text(text) => Ok(text),
            PlanRef::Object {
                name: Some(name), ..
            } => Ok(name),
            PlanRef::Object { id: Some(id), .. } => Ok(id),
            PlanRef::Object { .. } => Err(ApiError::invalid(
                "invalid params: `plan` needs a `name` (`kumo-postgresql:essential-0`) or an `id`",
            )),
        }
    }
}

#[derive(Deserialize)]
pub struct CreateAddon {
    plan: PlanRef,
    attachment: Option<AttachmentName>,
    name: Option<String>,
}

/// `POST /apps/{app}/addons`: provisions an add-on and attaches it to the app.
pub async fn create(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<CreateAddon>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let plan_text = body.plan.text()?;
    let (service, plan) = catalog::resolve(&plan_text).map_err(|e| ApiError::invalid(e.0))?;
    // An alias stays as it was asked for, so Heroku's tools find their service.
    let asked = plan_text.split(':').next().unwrap_or_default();
    let service_name = if service.aliases.contains(&asked) {
        asked
    } else {
        service.name
    };
    let wanted = body.attachment.and_then(|a| a.name);
    let attachment = platform
        .attachment_name(&app, service, wanted.as_deref())
        .await?;
    if let Some(name) = &body.name {
        names::check_addon_name(name).map_err(ApiError::invalid)?;
    }
    let provider = platform
        .addon_providers
        .provider(service.kind)
        .await
        .map_err(|why| unavailable(service, plan, &why))?;
    let addon_name = body
        .name
        .clone()
        .unwrap_or_else(|| names::generate(service.name_stem));
    let addon = platform
        .state
        .begin_addon(&app, &addon_name, service_name, plan.name)
        .await?;
    let resource = match provider.provision(&addon.name, plan).await {
        Ok(resource) => resource,
        Err(e) => {
            platform.state.delete_addon(&addon).await?;
            return Err(unavailable(service, plan, &format!("{e:#}")));
        }
    };
    let grant = AddonGrant {
        attachment: attachment.clone(),
        addon_id: addon.id.clone(),
        addon: addon.name.clone(),
        plan: format!("{service_name}:{}", plan.name),
        config_vars: service.var_names(&attachment),
        resource: resource.clone(),
    };
    let vars = provider::config_vars(&attachment, &resource);
    let attached = platform
        .attach_release(&app, &addon, grant, vars, &attachment, &caller)
        .await;
    if let Err(e) = attached {
        // Nothing half-made: the resource and the name go as they came.
        if let Err(undo) = provider.deprovision(&addon.name).await {
            tracing::error!(addon = %addon.name, error = %format!("{undo:#}"), "undoing a provisioning");
        }
        platform.state.delete_addon(&addon).await?;
        return Err(e);
    }
    let (addon, attachments) = platform.addon_of_app(&app, &addon.id).await?;
    let mut body = addon_json(&addon, &attachments);
    body["provision_message"] = json!(format!(
        "{} is ready: its credentials are in {}",
        addon.name,
        service.var_names(&attachment).join(", ")
    ));
    Ok((StatusCode::CREATED, Json(body)))
}

/// A provisioning the backend could not do: 503, the backend's reason, and
/// the promise that nothing changed.
fn unavailable(service: &Service, plan: &Plan, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        format!(
            "Couldn't provision {}:{}: {why}. Nothing was created and the app's release is unchanged.",
            service.name, plan.name
        ),
    )
}

impl Platform {
    /// The name an attachment of `service` gets on `app`: the one asked for
    /// (checked, and refused if taken), else the service's (`DATABASE`), else
    /// a coloured one (`HEROKU_POSTGRESQL_AMBER`).
    pub(super) async fn attachment_name(
        &self,
        app: &App,
        service: &Service,
        wanted: Option<&str>,
    ) -> Result<String, ApiError> {
        let taken: Vec<String> = self
            .state
            .attachments_of_app(app)
            .await?
            .into_iter()
            .map(|a| a.name)
            .collect();
        let config = self
            .state
            .current_release(app)
            .await?
            .map(|r| r.config)
            .unwrap_or_default();
        let free = |name: &str| {
            !taken.iter().any(|t| t == name)
                && !service
                    .var_names(name)
                    .iter()
                    .any(|v| config.contains_key(v))
        };
        if let Some(name) = wanted {
            names::check_attachment_name(name).map_err(ApiError::invalid)?;
            if taken.iter().any(|t| t == name) {
                return Err(ApiError::invalid(format!(
                    "{} already has an attachment named {name}: choose another with `--as`",
                    app.name
                )));
            }
            if let Some(var) = service
                .var_names(name)
                .into_iter()
                .find(|v| config.contains_key(v))
            {
                return Err(ApiError::invalid(format!(
                    "config var {var} of {} is already set: unset it (`kumo config:unset {var} -a {}`) or attach under another name with `--as`",
                    app.name, app.name
                )));
            }
            return Ok(name.to_string());
        }
        if free(service.attachment) {
            return Ok(service.attachment.to_string());
        }
        COLORS
            .iter()
            .map(|color| format!("{}_{color}", service.second_attachment))
            .find(|name| free(name))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "{} has no attachment name left for {}: give one with `--as`",
                    app.name, service.name
                ))
            })
    }

    /// Attaches `addon` to `app` with the release that sets `vars` and makes
    /// `grant`, then lets the release go live.
    pub(super) async fn attach_release(
        self: &Arc<Self>,
        app: &App,
        addon: &Addon,
        grant: AddonGrant,
        vars: BTreeMap<String, String>,
        name: &str,
        caller: &Caller,
    ) -> Result<Attachment, ApiError> {
        let resource = grant.resource.clone();
        let status = ADDON_RELEASE_STATUS;
        let (attachment, release) = self
            .state
            .attach(
                addon,
                &resource,
                NewAttachment {
                    app,
                    name,
                    grant,
                    vars,
                    user_email: &caller.0.email,
                    status,
                },
            )
            .await?;
        self.go_live(app, &release);
        Ok(attachment)
    }

    /// Detaches `attachment` from its app with its release, which goes live.
    pub(super) async fn detach_release(
        self: &Arc<Self>,
        attachment: &Attachment,
        email: &str,
    ) -> Result<(), ApiError> {
        let Some(app) = self.state.app(&attachment.app_id).await? else {
            return Ok(());
        };
        let release = self
            .state
            .detach(attachment, &app, email, ADDON_RELEASE_STATUS)
            .await?;
        self.go_live(&app, &release);
        Ok(())
    }

    /// Detaches `addon` everywhere, removes its resource and forgets it. A
    /// backend that fails leaves the add-on in the ledger (detached), to destroy again.
    pub async fn destroy_addon(
        self: &Arc<Self>,
        addon: &Addon,
        attachments: &[Attachment],
        email: &str,
    ) -> Result<(), ApiError> {
        for attachment in attachments {
            self.detach_release(attachment, email).await?;
        }
        let service = service_of(addon)?;
        let provider = self
            .addon_providers
            .provider_of(service.kind, addon.resource.as_ref())
            .await
            .map_err(|why| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", format!("Couldn't destroy {}: {why}; it is detached, destroy it again when the backend is back", addon.name)))?;
        provider.deprovision(&addon.name).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!("Couldn't destroy {}: {e:#}; it is detached, destroy it again when the backend is back", addon.name),
            )
        })?;
        self.state.delete_addon(addon).await?;
        Ok(())
    }

    /// Destroys every add-on billed to `app` (before the app is deleted).
    pub async fn destroy_addons_of(
        self: &Arc<Self>,
        app: &App,
        email: &str,
    ) -> Result<(), ApiError> {
        for addon in self.state.addons_billed_to(app).await? {
            let attachments = self.state.attachments_of_addon(&addon).await?;
            self.destroy_addon(&addon, &attachments, email).await?;
        }
        Ok(())
    }

    /// Removes what add-ons left `provisioning` by a stopped server made.
    pub async fn clean_stale_addons(&self, older_than_secs: i64) -> anyhow::Result<()> {
        for addon in self.state.stale_provisioning(older_than_secs).await? {
            let Some(service) = catalog::service(&addon.service) else {
                continue;
            };
            let provider = self
                .addon_providers
                .provider_of(service.kind, addon.resource.as_ref())
                .await
                .map_err(anyhow::Error::msg)?;
            provider.deprovision(&addon.name).await?;
            self.state.delete_addon(&addon).await?;
            tracing::info!(addon = %addon.name, "removed an add-on whose provisioning did not finish");
        }
        Ok(())
    }
}

#[derive(Deserialize, Default)]
pub struct DestroyAddon {
    #[serde(default)]
    force: bool,
    confirm: Option<String>,
}

/// `DELETE /apps/{app}/addons/{addon}`.
pub async fn destroy(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: DestroyAddon = if body.is_empty() {
        DestroyAddon::default()
    } else {
        super::super::error::parse_json(&body)?
    };
    let app = platform.app_for(&caller, &name).await?;
    let (addon, attachments) = platform.addon_of_app(&app, &id).await?;
    if addon.app_id != app.id {
        return Err(ApiError::invalid(format!(
            "{} belongs to {}: destroy it there, or detach it from {} with `kumo addons:detach`",
            addon.name, addon.app_name, app.name
        )));
    }
    if addon.state != crate::state::AddonState::Provisioned.as_str() {
        return Err(ApiError::invalid(format!(
            "{} is still {}: wait for it, then destroy it",
            addon.name, addon.state
        )));
    }
    let elsewhere: Vec<&str> = attachments
        .iter()
        .filter(|a| a.app_id != app.id)
        .map(|a| a.app_name.as_str())
        .collect();
    let confirmed = body.force || body.confirm.as_deref() == Some(app.name.as_str());
    if !elsewhere.is_empty() && !confirmed {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirmation_required",
            format!(
                "{} is attached to other apps too ({}): destroying it removes their data as well; destroy it with `--force`",
                addon.name,
                elsewhere.join(", ")
            ),
        ));
    }
    platform
        .destroy_addon(&addon, &attachments, &caller.0.email)
        .await?;
    let mut gone = addon.clone();
    gone.state = crate::state::AddonState::Deprovisioned.as_str().to_string();
    Ok(Json(addon_json(&gone, &[])))
}

#[derive(Deserialize)]
pub struct UpdateAddon {
    plan: PlanRef,
}

/// `PATCH /apps/{app}/addons/{addon}`: a change of plan within the service.
pub async fn update(
    State(platform): State<Arc<Platform>>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    body: Result<Json<UpdateAddon>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let app = platform.app_for(&caller, &name).await?;
    let (addon, _) = platform.addon_of_app(&app, &id).await?;
    let service = service_of(&addon)?;
    let plan_text = body.plan.text()?;
    let spec = if plan_text.contains(':') || catalog::resolve(&plan_text).is_ok() {
        plan_text
    } else {
        format!("{}:{}", service.name, plan_text)
    };
    let (new_service, plan) = catalog::resolve(&spec).map_err(|e| ApiError::invalid(e.0))?;
    if new_service.id != service.id {
        return Err(ApiError::invalid(format!(
            "{} is a {} add-on: change to one of its plans ({}), or create a {} add-on",
            addon.name,
            service.name,
            service
                .plans
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", "),
            new_service.name
        )));
    }
    let resource = addon
        .resource
        .clone()
        .ok_or_else(|| ApiError::invalid(format!("{} is still provisioning", addon.name)))?;
    let provider = platform
        .addon_providers
        .provider_of(service.kind, Some(&resource))
        .await
        .map_err(|why| unavailable(service, plan, &why))?;
    provider
        .change_plan(&addon.name, &resource, plan)
        .await
        .map_err(|e| unavailable(service, plan, &format!("{e:#}")))?;
    let releases = platform
        .state
        .change_addon_plan(&addon, &addon.service, plan.name, &caller.0.email)
        .await?;
    for (app, release) in &releases {
        platform.go_live(app, release);
    }
    let (addon, attachments) = platform.addon_of_app(&app, &addon.id).await?;
    Ok(Json(addon_json(&addon, &attachments)))
}
