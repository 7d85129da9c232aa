//! Spin's typed values (`spin:postgres@4.0.0`) to and from Postgres's: a
//! guest's `parameter-value`s become `ToSql` values, and each column of a
//! returned row becomes a `db-value` by the column's Postgres type.

use super::binary::{Date, Interval, Json, Null, Numeric, Range, Raw, Time, Timestamp, Uuid};
use super::v4::{DbDataType, DbValue, ParameterValue, RangeBoundKind};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql, Type};

/// A parameter ready for tokio-postgres.
pub type Parameter = Box<dyn ToSql + Sync + Send>;

/// The parameter `value` as Postgres takes it, or why it cannot be one.
pub fn parameter(value: ParameterValue) -> Result<Parameter, String> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(v),
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::Date(v) => Box::new(Date(v)),
        ParameterValue::Time(v) => Box::new(Time(v)),
        ParameterValue::Datetime(v) => Box::new(Timestamp::from_datetime(v)?),
        ParameterValue::Timestamp(v) => Box::new(Timestamp::from_unix(v)?),
        ParameterValue::Uuid(v) => Box::new(Uuid(
            uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid UUID `{v}`: {e}"))?,
        )),
        ParameterValue::Jsonb(v) => {
            serde_json::from_slice::<serde::de::IgnoredAny>(&v)
                .map_err(|e| format!("invalid JSON `{}`: {e}", String::from_utf8_lossy(&v)))?;
            Box::new(Json(v))
        }
        ParameterValue::Decimal(v) => Box::new(Numeric::parse(&v)?),
        ParameterValue::RangeInt32((lower, upper)) => Box::new(range(lower, upper, Ok)?),
        ParameterValue::RangeInt64((lower, upper)) => Box::new(range(lower, upper, Ok)?),
        ParameterValue::RangeDecimal((lower, upper)) => {
            Box::new(range(lower, upper, |v| Numeric::parse(&v))?)
        }
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.into_iter()
                .map(|v| v.map(|v| Numeric::parse(&v)).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::Interval(v) => Box::new(Interval {
            micros: v.micros,
            days: v.days,
            months: v.months,
        }),
        ParameterValue::DbNull => Box::new(Null),
    })
}

/// What Spin calls the Postgres type `ty`.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSON | Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Column `index` of `row` as Spin's value: `unsupported` (with the value's
/// binary form) for a type Spin has no variant for, an error for a value its
/// variant cannot hold (an infinite date, a two-dimensional array).
pub fn db_value(row: &Row, index: usize) -> Result<DbValue, String> {
    let ty = row.columns()[index].type_();
    let value = match data_type(ty) {
        DbDataType::Boolean => get(row, index, DbValue::Boolean),
        DbDataType::Int8 => get(row, index, DbValue::Int8),
        DbDataType::Int16 => get(row, index, DbValue::Int16),
        DbDataType::Int32 => get(row, index, DbValue::Int32),
        DbDataType::Int64 => get(row, index, DbValue::Int64),
        DbDataType::Floating32 => get(row, index, DbValue::Floating32),
        DbDataType::Floating64 => get(row, index, DbValue::Floating64),
        DbDataType::Str => get(row, index, DbValue::Str),
        DbDataType::Binary => get(row, index, DbValue::Binary),
        DbDataType::Date => get(row, index, |Date(v)| DbValue::Date(v)),
        DbDataType::Time => get(row, index, |Time(v)| DbValue::Time(v)),
        // Spin names `timestamp` a type no Postgres column has (seconds since
        // 1970 as a parameter); `data_type` never gives it.
        DbDataType::Datetime | DbDataType::Timestamp => {
            match row.try_get::<_, Option<Timestamp>>(index) {
                Ok(Some(ts)) => ts.to_datetime().map(DbValue::Datetime),
                Ok(None) => Ok(DbValue::DbNull),
                Err(e) => Err(e.to_string()),
            }
        }
        DbDataType::Uuid => get(row, index, |Uuid(v)| DbValue::Uuid(v.to_string())),
        DbDataType::Jsonb => get(row, index, |Json(v)| DbValue::Jsonb(v)),
        DbDataType::Decimal => get(row, index, |Numeric(v)| DbValue::Decimal(v)),
        DbDataType::RangeInt32 => get(row, index, |r: Range<i32>| {
            DbValue::RangeInt32((bound(r.lower, |v| v), bound(r.upper, |v| v)))
        }),
        DbDataType::RangeInt64 => get(row, index, |r: Range<i64>| {
            DbValue::RangeInt64((bound(r.lower, |v| v), bound(r.upper, |v| v)))
        }),
        DbDataType::RangeDecimal => get(row, index, |r: Range<Numeric>| {
            DbValue::RangeDecimal((bound(r.lower, |v| v.0), bound(r.upper, |v| v.0)))
        }),
        DbDataType::ArrayInt32 => get(row, index, DbValue::ArrayInt32),
        DbDataType::ArrayInt64 => get(row, index, DbValue::ArrayInt64),
        DbDataType::ArrayDecimal => get(row, index, |v: Vec<Option<Numeric>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|v| v.map(|v| v.0)).collect())
        }),
        DbDataType::ArrayStr => get(row, index, DbValue::ArrayStr),
        DbDataType::Interval => get(row, index, |v: Interval| {
            DbValue::Interval(super::v4::Interval {
                micros: v.micros,
                days: v.days,
                months: v.months,
            })
        }),
        DbDataType::Other(_) => get(row, index, |Raw(v)| DbValue::Unsupported(v)),
    };
    value.map_err(|e| {
        let column = row.columns()[index].name();
        format!("column `{column}` ({}): {e}", ty.name())
    })
}

/// Column `index` read as `T` and made a value by `make`; NULL is `db-null`.
fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    make: impl FnOnce(T) -> DbValue,
) -> Result<DbValue, String> {
    match row.try_get::<_, Option<T>>(index) {
        Ok(Some(value)) => Ok(make(value)),
        Ok(None) => Ok(DbValue::DbNull),
        Err(e) => Err(match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        }),
    }
}

fn range<T, U>(
    lower: Option<(T, RangeBoundKind)>,
    upper: Option<(T, RangeBoundKind)>,
    convert: impl Fn(T) -> Result<U, String>,
) -> Result<Range<U>, String> {
    let end = |end: Option<(T, RangeBoundKind)>| {
        end.map(|(v, kind)| Ok::<_, String>((convert(v)?, kind == RangeBoundKind::Inclusive)))
            .transpose()
    };
    Ok(Range {
        lower: end(lower)?,
        upper: end(upper)?,
    })
}

fn bound<T, U>(bound: Option<(T, bool)>, convert: impl Fn(T) -> U) -> Option<(U, RangeBoundKind)> {
    bound.map(|(v, inclusive)| {
        let kind = if inclusive {
            RangeBoundKind::Inclusive
        } else {
            RangeBoundKind::Exclusive
        };
        (convert(v), kind)
    })
}
