//! Postgres's binary format for the values Spin's interface carries and
//! tokio-postgres leaves to optional crates: dates and times (as Spin's
//! tuples), intervals, UUIDs, JSON, ranges, and the NULL and raw-bytes escape
//! hatches ([`Numeric`] is in its own file).
//!
//! Each type is a small wrapper implementing `ToSql`/`FromSql` for exactly the
//! Postgres types that share its wire format, so a mismatch is an error that
//! names the types, never a misread value.

use bytes::{BufMut, BytesMut};
use postgres_protocol::types as proto;
use std::error::Error;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

pub use super::numeric::Numeric;

pub(super) type BoxError = Box<dyn Error + Sync + Send>;

/// Days from 4713-11-24 BC (Julian day 0) to 2000-01-01, Postgres's epoch.
const PG_EPOCH_JULIAN_DAY: i32 = 2_451_545;
/// Seconds from the Unix epoch to Postgres's.
const PG_EPOCH_UNIX_SECONDS: i64 = 946_684_800;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A `date` as Spin's `(year, month, day)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub (i32, u8, u8));

impl Date {
    fn days(self) -> Result<i32, String> {
        let (year, month, day) = self.0;
        let month = time::Month::try_from(month).map_err(|_| format!("invalid month {month}"))?;
        let date = time::Date::from_calendar_date(year, month, day)
            .map_err(|e| format!("invalid date {year}-{month}-{day}: {e}"))?;
        Ok(date.to_julian_day() - PG_EPOCH_JULIAN_DAY)
    }

    fn from_days(days: i32) -> Result<Date, String> {
        if days == i32::MAX || days == i32::MIN {
            return Err("an infinite date has no (year, month, day)".into());
        }
        let date = days
            .checked_add(PG_EPOCH_JULIAN_DAY)
            .and_then(|day| time::Date::from_julian_day(day).ok())
            .ok_or_else(|| format!("date {days} days from 2000-01-01 is out of range"))?;
        Ok(Date((date.year(), u8::from(date.month()), date.day())))
    }
}

impl ToSql for Date {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i32(self.days()?);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Date {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Date, BoxError> {
        Ok(Date::from_days(proto::int4_from_sql(raw)?)?)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// A `time` as Spin's `(hour, minute, second, nanosecond)`; Postgres keeps
/// microseconds, so nanoseconds below a microsecond are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time(pub (u8, u8, u8, u32));

impl Time {
    fn micros(self) -> Result<i64, String> {
        let (h, m, s, ns) = self.0;
        if h > 23 || m > 59 || s > 59 || ns > 999_999_999 {
            return Err(format!("invalid time {h}:{m}:{s}.{ns:09}"));
        }
        Ok(
            ((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1_000_000
                + i64::from(ns / 1000),
        )
    }

    fn from_micros(micros: i64) -> Result<Time, String> {
        // 24:00:00 is a valid `time`.
        if !(0..=MICROS_PER_DAY).contains(&micros) {
            return Err(format!("time of {micros} µs is out of range"));
        }
        let seconds = micros / 1_000_000;
        let ns = (micros % 1_000_000) as u32 * 1000;
        Ok(Time((
            (seconds / 3600) as u8,
            (seconds / 60 % 60) as u8,
            (seconds % 60) as u8,
            ns,
        )))
    }
}

impl ToSql for Time {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros()?);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIME
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Time {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Time, BoxError> {
        Ok(Time::from_micros(proto::int8_from_sql(raw)?)?)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIME
    }
}

/// A `timestamp` or `timestamptz` (one wire format: microseconds since
/// 2000-01-01 UTC), which Spin reads as a UTC date-time tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub i64);

/// Spin's date-time: `(year, month, day, hour, minute, second, nanosecond)`.
pub type DateTime = (i32, u8, u8, u8, u8, u8, u32);

impl Timestamp {
    pub fn from_datetime((y, mo, d, h, mi, s, ns): DateTime) -> Result<Timestamp, String> {
        let days = Date((y, mo, d)).days()?;
        let micros = Time((h, mi, s, ns)).micros()?;
        i64::from(days)
            .checked_mul(MICROS_PER_DAY)
            .and_then(|m| m.checked_add(micros))
            .map(Timestamp)
            .ok_or_else(|| "date-time out of range".to_string())
    }

    /// Seconds since the Unix epoch, as Spin's `timestamp` parameter has them.
    pub fn from_unix(seconds: i64) -> Result<Timestamp, String> {
        seconds
            .checked_sub(PG_EPOCH_UNIX_SECONDS)
            .and_then(|s| s.checked_mul(1_000_000))
            .map(Timestamp)
            .ok_or_else(|| format!("timestamp {seconds} is out of range"))
    }

    pub fn to_datetime(self) -> Result<DateTime, String> {
        if self.0 == i64::MAX || self.0 == i64::MIN {
            return Err("an infinite timestamp has no date-time".into());
        }
        let days = i32::try_from(self.0.div_euclid(MICROS_PER_DAY))
            .map_err(|_| "timestamp out of range".to_string())?;
        let Date((y, mo, d)) = Date::from_days(days)?;
        let Time((h, mi, s, ns)) = Time::from_micros(self.0.rem_euclid(MICROS_PER_DAY))?;
        Ok((y, mo, d, h, mi, s, ns))
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Timestamp {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Timestamp, BoxError> {
        Ok(Timestamp(proto::int8_from_sql(raw)?))
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ)
    }
}

/// An `interval`: microseconds, days and months, kept apart as Postgres does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub micros: i64,
    pub days: i32,
    pub months: i32,
}

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Interval, BoxError> {
        let raw: [u8; 16] = raw.try_into().map_err(|_| "invalid interval length")?;
        let [
            m0,
            m1,
            m2,
            m3,
            m4,
            m5,
            m6,
            m7,
            d0,
            d1,
            d2,
            d3,
            n0,
            n1,
            n2,
            n3,
        ] = raw;
        Ok(Interval {
            micros: i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
            days: i32::from_be_bytes([d0, d1, d2, d3]),
            months: i32::from_be_bytes([n0, n1, n2, n3]),
        })
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// A `uuid`, written as text on Spin's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uuid(pub uuid::Uuid);

impl ToSql for Uuid {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Uuid {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Uuid, BoxError> {
        Ok(Uuid(uuid::Uuid::from_slice(raw)?))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

/// A `jsonb` or `json` document as its UTF-8 text (`jsonb`'s binary form is
/// a version byte, 1, before the text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Json(pub Vec<u8>);

const JSONB_VERSION: u8 = 1;

impl ToSql for Json {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.put_u8(JSONB_VERSION);
        }
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Json {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Json, BoxError> {
        let text = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((&JSONB_VERSION, text)) => text,
                _ => return Err("unsupported jsonb version".into()),
            }
        } else {
            raw
        };
        Ok(Json(text.to_vec()))
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }
}

/// One end of a range: its value and whether it is included; `None` is unbounded.
pub type Bound<T> = Option<(T, bool)>;

/// A range of `T` (`int4range`, `int8range` or `numrange`, by `T`).
///
/// Spin's interface has no empty range; an empty one reads as `(0, 0)`, both
/// ends excluded, which Postgres turns back into `empty`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range<T> {
    pub lower: Bound<T>,
    pub upper: Bound<T>,
}

/// A value that can be the bound of a Postgres range.
pub trait RangeElement: Sized {
    /// The range type holding this element.
    const RANGE: Type;
    /// The element that stands for an empty range's bounds.
    fn zero() -> Self;
    fn write(&self, out: &mut BytesMut) -> Result<(), BoxError>;
    fn read(raw: &[u8]) -> Result<Self, BoxError>;
}

impl RangeElement for i32 {
    const RANGE: Type = Type::INT4_RANGE;
    fn zero() -> i32 {
        0
    }
    fn write(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        proto::int4_to_sql(*self, out);
        Ok(())
    }
    fn read(raw: &[u8]) -> Result<i32, BoxError> {
        proto::int4_from_sql(raw)
    }
}

impl RangeElement for i64 {
    const RANGE: Type = Type::INT8_RANGE;
    fn zero() -> i64 {
        0
    }
    fn write(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        proto::int8_to_sql(*self, out);
        Ok(())
    }
    fn read(raw: &[u8]) -> Result<i64, BoxError> {
        proto::int8_from_sql(raw)
    }
}

impl RangeElement for Numeric {
    const RANGE: Type = Type::NUM_RANGE;
    fn zero() -> Numeric {
        Numeric("0".into())
    }
    fn write(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        self.encode(out)
    }
    fn read(raw: &[u8]) -> Result<Numeric, BoxError> {
        Numeric::decode(raw)
    }
}

impl<T: RangeElement + std::fmt::Debug + Sync> ToSql for Range<T> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        fn bound<T: RangeElement>(
            bound: &Bound<T>,
            out: &mut BytesMut,
        ) -> Result<proto::RangeBound<postgres_protocol::IsNull>, BoxError> {
            Ok(match bound {
                None => proto::RangeBound::Unbounded,
                Some((value, inclusive)) => {
                    value.write(out)?;
                    if *inclusive {
                        proto::RangeBound::Inclusive(postgres_protocol::IsNull::No)
                    } else {
                        proto::RangeBound::Exclusive(postgres_protocol::IsNull::No)
                    }
                }
            })
        }
        proto::range_to_sql(
            |out| bound(&self.lower, out),
            |out| bound(&self.upper, out),
            out,
        )?;
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == T::RANGE
    }
    to_sql_checked!();
}

impl<'a, T: RangeElement> FromSql<'a> for Range<T> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Range<T>, BoxError> {
        fn bound<T: RangeElement>(
            bound: proto::RangeBound<Option<&[u8]>>,
        ) -> Result<Bound<T>, BoxError> {
            match bound {
                proto::RangeBound::Unbounded => Ok(None),
                proto::RangeBound::Inclusive(Some(raw)) => Ok(Some((T::read(raw)?, true))),
                proto::RangeBound::Exclusive(Some(raw)) => Ok(Some((T::read(raw)?, false))),
                _ => Err("a range bound is NULL".into()),
            }
        }
        match proto::range_from_sql(raw)? {
            proto::Range::Empty => Ok(Range {
                lower: Some((T::zero(), false)),
                upper: Some((T::zero(), false)),
            }),
            proto::Range::Nonempty(lower, upper) => Ok(Range {
                lower: bound(lower)?,
                upper: bound(upper)?,
            }),
        }
    }
    fn accepts(ty: &Type) -> bool {
        *ty == T::RANGE
    }
}

/// A NULL of whatever type the statement expects.
#[derive(Debug)]
pub struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// Any value as its raw binary form, for types Spin has no variant for.
#[derive(Debug)]
pub struct Raw(pub Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Raw, BoxError> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert_eq!(Date((2000, 1, 1)).days(), Ok(0));
        assert_eq!(Date((1999, 12, 31)).days(), Ok(-1));
        assert_eq!(Date::from_days(59), Ok(Date((2000, 2, 29))));
        assert!(Date((2023, 2, 29)).days().is_err());
        assert!(Date::from_days(i32::MAX).is_err());
        assert_eq!(Time((1, 2, 3, 4_000)).micros(), Ok(3_723_000_004));
        assert_eq!(Time::from_micros(3_723_000_004), Ok(Time((1, 2, 3, 4_000))));
        assert_eq!(Time::from_micros(MICROS_PER_DAY), Ok(Time((24, 0, 0, 0))));
        assert!(Time((24, 0, 0, 0)).micros().is_err());
        let ts = Timestamp::from_unix(1_700_000_000).unwrap();
        assert_eq!(ts.to_datetime(), Ok((2023, 11, 14, 22, 13, 20, 0)));
        let before = Timestamp::from_datetime((1999, 12, 31, 23, 59, 59, 999_999_000)).unwrap();
        assert_eq!(before, Timestamp(-1));
        assert_eq!(
            before.to_datetime(),
            Ok((1999, 12, 31, 23, 59, 59, 999_999_000))
        );
        assert!(Timestamp(i64::MIN).to_datetime().is_err());
    }

    #[test]
    fn ranges() {
        let range = Range {
            lower: Some((1, true)),
            upper: None,
        };
        let mut out = BytesMut::new();
        range.to_sql(&Type::INT4_RANGE, &mut out).unwrap();
        assert_eq!(
            Range::<i32>::from_sql(&Type::INT4_RANGE, &out).unwrap(),
            range
        );
        let empty = Range::<i64>::from_sql(&Type::INT8_RANGE, &[1]).unwrap();
        assert_eq!(empty.lower, Some((0, false)));
        assert_eq!(empty.upper, Some((0, false)));
    }
}
