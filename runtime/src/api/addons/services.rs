//! `/addon-services` and their plans: the catalog, public as on Heroku.

use super::ApiError;
use crate::addons::catalog::{self, Plan, SERVICES, Service};
use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};

/// When the catalog was written, for the resources' timestamps.
const CATALOG_DATE: &str = "2026-12-06T00:00:00Z";

fn service_json(service: &Service) -> Value {
    json!({
        "id": service.id,
        "name": service.name,
        "human_name": service.human_name,
        "description": service.description,
        "state": "ga",
        "supports_multiple_installations": true,
        "supports_sharing": true,
        "cli_plugin_name": Value::Null,
        "aliases": service.aliases,
        "created_at": CATALOG_DATE,
        "updated_at": CATALOG_DATE,
    })
}

fn plan_json(service: &Service, plan: &Plan) -> Value {
    json!({
        "id": plan.id,
        "name": format!("{}:{}", service.name, plan.name),
        "human_name": plan.human_name,
        "description": plan.description,
        "default": plan.default,
        "price": { "cents": 0, "unit": "month", "contract": false },
        "state": "public",
        "addon_service": { "id": service.id, "name": service.name },
        "compliance": Value::Null,
        "installable_inside_private_network": false,
        "installable_outside_private_network": true,
        "created_at": CATALOG_DATE,
        "updated_at": CATALOG_DATE,
    })
}

fn find(name: &str) -> Result<&'static Service, ApiError> {
    catalog::service(name).ok_or_else(|| {
        ApiError::not_found(format!(
            "Couldn't find that add-on service: {name} (see `kumo addons:services`)."
        ))
    })
}

/// `GET /addon-services`.
pub async fn list() -> Json<Value> {
    Json(SERVICES.iter().map(service_json).collect())
}

/// `GET /addon-services/{service}`.
pub async fn info(Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(service_json(find(&name)?)))
}

/// `GET /addon-services/{service}/plans`.
pub async fn plans(Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let service = find(&name)?;
    Ok(Json(
        service
            .plans
            .iter()
            .map(|p| plan_json(service, p))
            .collect(),
    ))
}

/// `GET /addon-services/{service}/plans/{plan}`.
pub async fn plan(Path((name, plan)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let service = find(&name)?;
    let plan = service
        .plans
        .iter()
        .find(|p| p.name == plan || p.id == plan || format!("{}:{}", service.name, p.name) == plan)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Couldn't find that plan of {}: its plans are {}.",
                service.name,
                service
                    .plans
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    Ok(Json(plan_json(service, plan)))
}
