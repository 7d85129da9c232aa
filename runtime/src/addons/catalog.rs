//! The add-on services Kumo offers and their plans, as `GET /addon-services`
//! lists them. Heroku's names (`heroku-postgresql`, `heroku-redis`) are aliases
//! of Kumo's, so Heroku's CLI and app.json files work unchanged.

/// What kind of resource a service provisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Postgres,
    KeyValue,
    Bucket,
}

/// One add-on service.
#[derive(Debug)]
pub struct Service {
    pub id: &'static str,
    /// Kumo's name: `kumo-postgresql`.
    pub name: &'static str,
    /// Other names it answers to: `heroku-postgresql`.
    pub aliases: &'static [&'static str],
    pub human_name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    /// The attachment name when the app has none of this service yet: `DATABASE`.
    pub attachment: &'static str,
    /// The attachment name's stem for a second one: `HEROKU_POSTGRESQL` gives
    /// `HEROKU_POSTGRESQL_AMBER`.
    pub second_attachment: &'static str,
    /// The config var suffixes an attachment sets: `URL` gives `DATABASE_URL`.
    pub vars: &'static [&'static str],
    /// The first word of generated add-on names: `postgresql-curved-12345`.
    pub name_stem: &'static str,
    pub plans: &'static [Plan],
}

/// One plan of a service.
#[derive(Debug)]
pub struct Plan {
    pub id: &'static str,
    /// `essential-0`; the API names it `kumo-postgresql:essential-0`.
    pub name: &'static str,
    pub human_name: &'static str,
    pub description: &'static str,
    pub default: bool,
    /// The most connections the add-on's role may hold (Postgres), or the
    /// most bytes its namespace or bucket may hold.
    pub limit: u64,
}

pub static SERVICES: &[Service] = &[
    Service {
        id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0001",
        name: "kumo-postgresql",
        aliases: &["heroku-postgresql"],
        human_name: "Kumo Postgres",
        description: "A PostgreSQL database of the app's own, with a role and password of its own",
        kind: Kind::Postgres,
        attachment: "DATABASE",
        second_attachment: "HEROKU_POSTGRESQL",
        vars: &["URL"],
        name_stem: "postgresql",
        plans: &[
            Plan {
                id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0101",
                name: "essential-0",
                human_name: "Essential 0",
                description: "20 connections",
                default: true,
                limit: 20,
            },
            Plan {
                id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0102",
                name: "essential-1",
                human_name: "Essential 1",
                description: "20 connections",
                default: false,
                limit: 20,
            },
            Plan {
                id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0103",
                name: "essential-2",
                human_name: "Essential 2",
                description: "40 connections",
                default: false,
                limit: 40,
            },
            Plan {
                id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0104",
                name: "standard-0",
                human_name: "Standard 0",
                description: "120 connections",
                default: false,
                limit: 120,
            },
        ],
    },
    Service {
        id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0002",
        name: "kumo-keyvalue",
        aliases: &["heroku-redis"],
        human_name: "Kumo Key-Value",
        description: "A key-value store (wasi:keyvalue, Redis-compatible when backed by Redis)",
        kind: Kind::KeyValue,
        attachment: "REDIS",
        second_attachment: "HEROKU_REDIS",
        vars: &["URL"],
        name_stem: "redis",
        plans: &[
            Plan {
                id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0201",
                name: "mini",
                human_name: "Mini",
                description: "25 MB",
                default: true,
                limit: 25 << 20,
            },
            Plan {
                id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0202",
                name: "premium-0",
                human_name: "Premium 0",
                description: "50 MB",
                default: false,
                limit: 50 << 20,
            },
        ],
    },
    Service {
        id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0003",
        name: "kumo-bucket",
        aliases: &["bucketeer"],
        human_name: "Kumo Bucket",
        description: "An object-storage bucket of the app's own, used with plain S3 and credentials that reach only its objects",
        kind: Kind::Bucket,
        attachment: "BUCKETEER",
        second_attachment: "BUCKETEER",
        vars: &[
            "BUCKET_NAME",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
        ],
        name_stem: "bucket",
        plans: &[Plan {
            id: "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0301",
            name: "hobbyist",
            human_name: "Hobbyist",
            description: "1 GB",
            default: true,
            limit: 1 << 30,
        }],
    },
];

/// Why a `service[:plan]` names nothing Kumo offers.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownPlan(pub String);

/// A service by name, alias or id.
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|s| s.name == name || s.id == name || s.aliases.contains(&name))
}

/// The service and plan `spec` names: `service`, `service:plan`, or a plan id.
pub fn resolve(spec: &str) -> Result<(&'static Service, &'static Plan), UnknownPlan> {
    let spec = spec.trim();
    for service in SERVICES {
        if let Some(plan) = service.plans.iter().find(|p| p.id == spec) {
            return Ok((service, plan));
        }
    }
    let (service_name, plan_name) = match spec.split_once(':') {
        Some((s, p)) => (s, Some(p)),
        None => (spec, None),
    };
    let Some(service) = service(service_name) else {
        let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        return Err(UnknownPlan(format!(
            "Couldn't find either the add-on service or the add-on plan of `{spec}`: the services are {} (see `kumo addons:services`)",
            names.join(", ")
        )));
    };
    let plan = match plan_name {
        None => service.plans.iter().find(|p| p.default),
        Some(name) => service.plans.iter().find(|p| p.name == name),
    };
    plan.map(|plan| (service, plan)).ok_or_else(|| {
        let names: Vec<&str> = service.plans.iter().map(|p| p.name).collect();
        UnknownPlan(format!(
            "Couldn't find the plan `{}` of {}: its plans are {} (see `kumo addons:plans {}`)",
            plan_name.unwrap_or_default(),
            service.name,
            names.join(", "),
            service.name
        ))
    })
}

impl Service {
    /// The config vars an attachment named `attachment` sets: `DATABASE_URL`.
    pub fn var_names(&self, attachment: &str) -> Vec<String> {
        self.vars
            .iter()
            .map(|v| format!("{attachment}_{v}"))
            .collect()
    }
}

/// Heroku's colours for a second attachment of a service: `HEROKU_POSTGRESQL_AMBER`.
pub const COLORS: &[&str] = &[
    "AMBER", "AQUA", "BLACK", "BLUE", "BRONZE", "BROWN", "CHARCOAL", "COBALT", "COPPER", "CRIMSON",
    "CYAN", "GOLD", "GRAY", "GREEN", "IVORY", "JADE", "LIME", "MAROON", "MAUVE", "NAVY", "OLIVE",
    "ONYX", "ORANGE", "PINK", "PUCE", "PURPLE", "RED", "ROSE", "SILVER", "TEAL", "WHITE", "YELLOW",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, expected: Result<(&str, &str), &str>) {
        match (resolve(spec), expected) {
            (Ok((s, p)), Ok((service, plan))) => {
                assert_eq!((s.name, p.name), (service, plan), "{spec}")
            }
            (Err(e), Err(want)) => assert!(e.0.contains(want), "{spec}: {e}"),
            (got, want) => panic!("{spec}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn resolving_plans() {
        check("kumo-postgresql", Ok(("kumo-postgresql", "essential-0")));
        check(
            "heroku-postgresql:essential-2",
            Ok(("kumo-postgresql", "essential-2")),
        );
        check("heroku-redis", Ok(("kumo-keyvalue", "mini")));
        check(
            "6c1d6e8e-3b7a-4e43-9d0c-2f5b1a7c0202",
            Ok(("kumo-keyvalue", "premium-0")),
        );
        check("bucketeer", Ok(("kumo-bucket", "hobbyist")));
        check("mysql", Err("Couldn't find either the add-on service"));
        check(
            "kumo-postgresql:gigantic",
            Err("Couldn't find the plan `gigantic` of kumo-postgresql"),
        );
        assert_eq!(
            service("heroku-postgresql").unwrap().var_names("FOO"),
            ["FOO_URL"]
        );
    }
}
