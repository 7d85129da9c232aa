//! A visit counter as a Spin app writes it: `spin_sdk::pg4` on the app's
//! `DATABASE_URL`, built with the Spin SDK and run unchanged by Kumo.
//!
//! - `GET /?note=NOTE` creates `visits` if missing, inserts a row whose note is
//!   a typed parameter, and answers `visits=N last=NOTE` from typed values;
//! - `GET /open?url=URL` opens `URL` and answers `opened` or the error's text;
//! - `GET /types` sends one parameter of every kind Spin has, reads each back
//!   typed, and answers `types ok` or what differed;
//! - `GET /v3` reads the visits through the older `spin_sdk::pg3`.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::pg4::{
    Connection, DbDataType, DbValue, Decode, Interval, ParameterValue, PgError, RangeBoundKind,
};

#[http_component]
fn handle(request: Request) -> Response {
    let query: Vec<(String, String)> = form_urlencoded::parse(request.query().as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let answer = match request.path() {
        "/" => visit(param("note").unwrap_or_default()),
        "/open" => Ok(match Connection::open(&param("url").unwrap_or_default()) {
            Ok(_) => "opened".to_string(),
            Err(e) => error_text(&e),
        }),
        "/types" => types(),
        "/v3" => v3(),
        _ => return Response::new(404, "not found\n"),
    };
    match answer {
        Ok(body) => Response::new(200, body),
        Err(e) => Response::new(500, format!("error: {e:#}")),
    }
    .into_response()
}

fn visit(note: String) -> anyhow::Result<String> {
    let db = open()?;
    db.execute(
        "CREATE TABLE IF NOT EXISTS visits (id serial, at timestamptz DEFAULT now(), note text)",
        &[],
    )
    .map_err(pg)?;
    db.execute(
        "INSERT INTO visits (note) VALUES ($1)",
        &[ParameterValue::Str(note)],
    )
    .map_err(pg)?;
    let rows = db
        .query(
            "SELECT count(*), (SELECT note FROM visits ORDER BY id DESC LIMIT 1), max(at) FROM visits",
            &[],
        )
        .map_err(pg)?;
    let row = rows.rows.first().ok_or_else(|| anyhow::anyhow!("no row"))?;
    let count = i64::decode(&row[0])?;
    let last = Option::<String>::decode(&row[1])?.unwrap_or_default();
    // `at` is a timestamptz: it comes back as a UTC datetime.
    anyhow::ensure!(
        matches!(row[2], DbValue::Datetime(_)),
        "max(at) is {:?}, not a datetime",
        row[2]
    );
    Ok(format!("visits={count} last={last}"))
}

fn open() -> anyhow::Result<Connection> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set: attach a Postgres add-on"))?;
    Connection::open(&url).map_err(pg)
}

fn pg(e: PgError) -> anyhow::Error {
    anyhow::anyhow!(error_text(&e))
}

fn error_text(e: &PgError) -> String {
    match e {
        PgError::ConnectionFailed(m)
        | PgError::BadParameter(m)
        | PgError::ValueConversionFailed(m)
        | PgError::Other(m) => m.clone(),
        PgError::QueryFailed(q) => format!("{q:?}"),
    }
}

/// The same database through `spin:postgres@3.0.0`, which has no `uuid`.
fn v3() -> anyhow::Result<String> {
    use spin_sdk::pg3;
    let url = std::env::var("DATABASE_URL")?;
    let db = pg3::Connection::open(&url).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let rows = db
        .query(
            "SELECT count(*), max(note) FILTER (WHERE note = $1), gen_random_uuid() FROM visits",
            &[pg3::ParameterValue::Str("hi".into())],
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let row = &rows.rows[0];
    let count = <i64 as pg3::Decode>::decode(&row[0])?;
    let note = <String as pg3::Decode>::decode(&row[1])?;
    let uuid = match (&row[2], &rows.columns[2].data_type) {
        (pg3::DbValue::Unsupported, pg3::DbDataType::Other) => "unsupported",
        _ => "wrong",
    };
    Ok(format!("v3 visits={count} note={note} uuid={uuid}"))
}

/// One parameter of each kind, cast to its Postgres type and read back.
fn types() -> anyhow::Result<String> {
    use RangeBoundKind::{Exclusive, Inclusive};
    let interval = Interval {
        micros: 3_723_000_004,
        days: 5,
        months: 14,
    };
    let cases: Vec<(&str, ParameterValue, DbValue, DbDataType)> = vec![
        (
            "bool",
            ParameterValue::Boolean(true),
            DbValue::Boolean(true),
            DbDataType::Boolean,
        ),
        (
            "int2",
            ParameterValue::Int16(-7),
            DbValue::Int16(-7),
            DbDataType::Int16,
        ),
        (
            "int4",
            ParameterValue::Int32(1 << 30),
            DbValue::Int32(1 << 30),
            DbDataType::Int32,
        ),
        (
            "int8",
            ParameterValue::Int64(-(1 << 60)),
            DbValue::Int64(-(1 << 60)),
            DbDataType::Int64,
        ),
        (
            "float4",
            ParameterValue::Floating32(1.5),
            DbValue::Floating32(1.5),
            DbDataType::Floating32,
        ),
        (
            "float8",
            ParameterValue::Floating64(-2.25),
            DbValue::Floating64(-2.25),
            DbDataType::Floating64,
        ),
        (
            "text",
            ParameterValue::Str("héllo".into()),
            DbValue::Str("héllo".into()),
            DbDataType::Str,
        ),
        (
            "bytea",
            ParameterValue::Binary(vec![0, 1, 255]),
            DbValue::Binary(vec![0, 1, 255]),
            DbDataType::Binary,
        ),
        (
            "date",
            ParameterValue::Date((2024, 2, 29)),
            DbValue::Date((2024, 2, 29)),
            DbDataType::Date,
        ),
        (
            "time",
            ParameterValue::Time((23, 59, 58, 123_456_000)),
            DbValue::Time((23, 59, 58, 123_456_000)),
            DbDataType::Time,
        ),
        (
            "timestamp",
            ParameterValue::Datetime((1999, 12, 31, 23, 59, 59, 999_999_000)),
            DbValue::Datetime((1999, 12, 31, 23, 59, 59, 999_999_000)),
            DbDataType::Datetime,
        ),
        (
            "timestamptz",
            ParameterValue::Timestamp(1_700_000_000),
            DbValue::Datetime((2023, 11, 14, 22, 13, 20, 0)),
            DbDataType::Datetime,
        ),
        (
            "uuid",
            ParameterValue::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            DbValue::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            DbDataType::Uuid,
        ),
        (
            "jsonb",
            ParameterValue::Jsonb(br#"{"a": [1, 2]}"#.to_vec()),
            DbValue::Jsonb(br#"{"a": [1, 2]}"#.to_vec()),
            DbDataType::Jsonb,
        ),
        (
            "numeric",
            ParameterValue::Decimal("-12345678901234567890.000120".into()),
            DbValue::Decimal("-12345678901234567890.000120".into()),
            DbDataType::Decimal,
        ),
        (
            "int4range",
            ParameterValue::RangeInt32((Some((1, Inclusive)), Some((5, Inclusive)))),
            DbValue::RangeInt32((Some((1, Inclusive)), Some((6, Exclusive)))),
            DbDataType::RangeInt32,
        ),
        (
            "int8range",
            ParameterValue::RangeInt64((None, Some((9, Exclusive)))),
            DbValue::RangeInt64((None, Some((9, Exclusive)))),
            DbDataType::RangeInt64,
        ),
        (
            "numrange",
            ParameterValue::RangeDecimal((Some(("1.5".into(), Exclusive)), None)),
            DbValue::RangeDecimal((Some(("1.5".into(), Exclusive)), None)),
            DbDataType::RangeDecimal,
        ),
        (
            "int4[]",
            ParameterValue::ArrayInt32(vec![Some(1), None, Some(3)]),
            DbValue::ArrayInt32(vec![Some(1), None, Some(3)]),
            DbDataType::ArrayInt32,
        ),
        (
            "int8[]",
            ParameterValue::ArrayInt64(vec![Some(-1)]),
            DbValue::ArrayInt64(vec![Some(-1)]),
            DbDataType::ArrayInt64,
        ),
        (
            "numeric[]",
            ParameterValue::ArrayDecimal(vec![Some("0.5".into()), None]),
            DbValue::ArrayDecimal(vec![Some("0.5".into()), None]),
            DbDataType::ArrayDecimal,
        ),
        (
            "text[]",
            ParameterValue::ArrayStr(vec![Some("a".into()), None]),
            DbValue::ArrayStr(vec![Some("a".into()), None]),
            DbDataType::ArrayStr,
        ),
        (
            "interval",
            ParameterValue::Interval(interval),
            DbValue::Interval(interval),
            DbDataType::Interval,
        ),
        (
            "text",
            ParameterValue::DbNull,
            DbValue::DbNull,
            DbDataType::Str,
        ),
    ];
    let db = open()?;
    let mut wrong = Vec::new();
    for (cast, param, want, want_type) in cases {
        let sql = format!("SELECT $1::{cast} AS v");
        let rows = db.query(&sql, &[param]).map_err(pg)?;
        let got = &rows.rows[0][0];
        let got_type = &rows.columns[0].data_type;
        if format!("{got:?}") != format!("{want:?}")
            || format!("{got_type:?}") != format!("{want_type:?}")
        {
            wrong.push(format!("{cast}: got {got:?} {got_type:?}"));
        }
    }
    // A type Spin has no variant for comes back as `unsupported`, with its bytes.
    let rows = db.query("SELECT point(1, 2)", &[]).map_err(pg)?;
    if !matches!(rows.rows[0][0], DbValue::Unsupported(_)) {
        wrong.push(format!("point: got {:?}", rows.rows[0][0]));
    }
    // A parameter Postgres cannot take is an error, not a trap.
    match db.query("SELECT $1::int4", &[ParameterValue::Str("x".into())]) {
        Err(PgError::QueryFailed(_) | PgError::BadParameter(_)) => {}
        other => wrong.push(format!("text as int4: got {other:?}")),
    }
    Ok(if wrong.is_empty() {
        "types ok".to_string()
    } else {
        wrong.join("\n")
    })
}
