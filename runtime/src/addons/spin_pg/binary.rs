//! Postgres's binary format for the values Spin's interface carries and
//! tokio-postgres leaves to optional crates: numeric (as exact decimal
//! strings), dates and times (as Spin's tuples), intervals, UUIDs, JSON,
//! ranges, and the NULL and raw-bytes escape hatches.
//!
//! Each type is a small wrapper implementing `ToSql`/`FromSql` for exactly the
//! Postgres types that share its wire format, so a mismatch is an error that
//! names the types, never a misread value.

use bytes::{BufMut, BytesMut};
use postgres_protocol::types as proto;
use std::error::Error;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn Error + Sync + Send>;

/// Days from 4713-11-24 BC (Julian day 0) to 2000-01-01, Postgres's epoch.
const PG_EPOCH_JULIAN_DAY: i32 = 2_451_545;
/// Seconds from the Unix epoch to Postgres's.
const PG_EPOCH_UNIX_SECONDS: i64 = 946_684_800;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A `numeric` as its exact base-10 text: `-12.50`, `NaN`, `Infinity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numeric(pub String);

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

impl Numeric {
    /// Checks that `text` is a plain decimal (`-123.4500`, no exponent) or
    /// `NaN`/`Infinity`/`-Infinity`.
    pub fn parse(text: &str) -> Result<Numeric, String> {
        if matches!(text, "NaN" | "Infinity" | "-Infinity") {
            return Ok(Numeric(text.to_string()));
        }
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
            return Err(format!(
                "invalid decimal `{text}`: use digits with an optional sign and point, like `-12.50`"
            ));
        }
        Ok(Numeric(text.to_string()))
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        let special = match self.0.as_str() {
            "NaN" => Some(NUMERIC_NAN),
            "Infinity" => Some(NUMERIC_PINF),
            "-Infinity" => Some(NUMERIC_NINF),
            _ => None,
        };
        if let Some(sign) = special {
            out.put_i16(0);
            out.put_i16(0);
            out.put_u16(sign);
            out.put_u16(0);
            return Ok(());
        }
        let text = self.0.as_str();
        let negative = text.starts_with('-');
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let dscale = u16::try_from(frac.len()).map_err(|_| "decimal has too many digits")?;
        // Base-10000 groups aligned on the point: pad the integer part on the
        // left and the fraction on the right to whole groups of four.
        let int = int.trim_start_matches('0');
        let int_pad = (4 - int.len() % 4) % 4;
        let frac_pad = (4 - frac.len() % 4) % 4;
        let padded: Vec<u8> = std::iter::repeat_n(b'0', int_pad)
            .chain(int.bytes())
            .chain(frac.bytes())
            .chain(std::iter::repeat_n(b'0', frac_pad))
            .collect();
        let mut groups: Vec<i16> = padded
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |n, d| n * 10 + i16::from(d - b'0')))
            .collect();
        let int_groups = (int_pad + int.len()) / 4;
        let mut weight = i64::try_from(int_groups).map_err(|_| "decimal too large")? - 1;
        let leading = groups.iter().take_while(|&&g| g == 0).count();
        groups.drain(..leading);
        weight -= leading as i64;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let ndigits = i16::try_from(groups.len()).map_err(|_| "decimal has too many digits")?;
        let weight = i16::try_from(weight).map_err(|_| "decimal out of range")?;
        out.put_i16(ndigits);
        out.put_i16(weight);
        out.put_u16(if negative && !groups.is_empty() {
            NUMERIC_NEG
        } else {
            NUMERIC_POS
        });
        out.put_u16(dscale);
        for group in groups {
            out.put_i16(group);
        }
        Ok(())
    }

    fn decode(raw: &[u8]) -> Result<Numeric, BoxError> {
        let word = |i: usize| -> Result<u16, BoxError> {
            raw.get(i * 2..i * 2 + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "truncated numeric".into())
        };
        let ndigits = word(0)? as i16;
        let weight = i64::from(word(1)? as i16);
        let sign = word(2)?;
        let dscale = usize::from(word(3)?);
        match sign {
            NUMERIC_NAN => return Ok(Numeric("NaN".into())),
            NUMERIC_PINF => return Ok(Numeric("Infinity".into())),
            NUMERIC_NINF => return Ok(Numeric("-Infinity".into())),
            NUMERIC_POS | NUMERIC_NEG => {}
            _ => return Err("invalid numeric sign".into()),
        }
        let ndigits = usize::try_from(ndigits).map_err(|_| "invalid numeric length")?;
        if raw.len() != 8 + 2 * ndigits {
            return Err("invalid numeric length".into());
        }
        let groups = (0..ndigits)
            .map(|i| word(4 + i).map(|g| g as i16))
            .collect::<Result<Vec<_>, _>>()?;
        if groups.iter().any(|g| !(0..10_000).contains(g)) {
            return Err("invalid numeric digit".into());
        }
        // Group `i` is worth 10000^(weight - i).
        let group = |exp: i64| -> i16 {
            usize::try_from(weight - exp)
                .ok()
                .and_then(|i| groups.get(i).copied())
                .unwrap_or(0)
        };
        let mut text = String::new();
        if sign == NUMERIC_NEG {
            text.push('-');
        }
        if weight < 0 {
            text.push('0');
        } else {
            text.push_str(&group(weight).to_string());
            for exp in (0..weight).rev() {
                text.push_str(&format!("{:04}", group(exp)));
            }
        }
        if dscale > 0 {
            let mut frac = String::new();
            let mut exp = -1;
            while frac.len() < dscale {
                frac.push_str(&format!("{:04}", group(exp)));
                exp -= 1;
            }
            frac.truncate(dscale);
            text.push('.');
            text.push_str(&frac);
        }
        Ok(Numeric(text))
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.encode(out)?;
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Numeric, BoxError> {
        Numeric::decode(raw)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

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

    fn numeric_round_trip(text: &str, canonical: &str) {
        let mut out = BytesMut::new();
        Numeric::parse(text).unwrap().encode(&mut out).unwrap();
        assert_eq!(Numeric::decode(&out).unwrap().0, canonical, "{text}");
    }

    #[test]
    fn numerics() {
        for (text, canonical) in [
            ("0", "0"),
            ("-0", "0"),
            ("0.000", "0.000"),
            ("1", "1"),
            ("10000", "10000"),
            ("123456789", "123456789"),
            ("-12.50", "-12.50"),
            ("0.0001", "0.0001"),
            ("0.00001", "0.00001"),
            (".5", "0.5"),
            ("5.", "5"),
            ("+007.0700", "7.0700"),
            (
                "-12345678901234567890.000120",
                "-12345678901234567890.000120",
            ),
            ("NaN", "NaN"),
            ("-Infinity", "-Infinity"),
        ] {
            numeric_round_trip(text, canonical);
        }
        for bad in ["", "-", ".", "1e5", "1.2.3", "abc", " 1"] {
            assert!(Numeric::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_wire_format() {
        // 12345.678 as Postgres sends it: groups 1, 2345, 6780; weight 1; dscale 3.
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
        assert_eq!(Numeric::decode(&raw).unwrap().0, "12345.678");
        let mut out = BytesMut::new();
        Numeric::parse("12345.678")
            .unwrap()
            .encode(&mut out)
            .unwrap();
        assert_eq!(&out[..], &raw);
    }

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
