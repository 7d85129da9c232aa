//! `numeric` in Postgres's binary format (base-10000 digit groups, a weight
//! and a display scale) to and from the exact decimal text Spin's interface
//! carries, so no precision is lost either way (Spin's own host goes through
//! `rust_decimal` and stops at 28 digits).

use super::binary::BoxError;
use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

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

    pub(super) fn encode(&self, out: &mut BytesMut) -> Result<(), BoxError> {
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

    pub(super) fn decode(raw: &[u8]) -> Result<Numeric, BoxError> {
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
}
