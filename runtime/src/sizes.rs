//! Dyno sizes: the memory each size caps a dyno at and its default `WEB_CONCURRENCY`.

use std::fmt;
use std::str::FromStr;

/// A dyno size, as Heroku names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DynoSize {
    Eco,
    Basic,
    #[default]
    Standard1X,
    Standard2X,
    PerformanceM,
}

impl DynoSize {
    pub const ALL: [DynoSize; 5] = [
        DynoSize::Eco,
        DynoSize::Basic,
        DynoSize::Standard1X,
        DynoSize::Standard2X,
        DynoSize::PerformanceM,
    ];

    /// The name used by the API and CLI (`standard-1X`, as Heroku writes it).
    pub fn name(self) -> &'static str {
        match self {
            DynoSize::Eco => "eco",
            DynoSize::Basic => "basic",
            DynoSize::Standard1X => "standard-1X",
            DynoSize::Standard2X => "standard-2X",
            DynoSize::PerformanceM => "performance-M",
        }
    }

    /// The memory cap of the whole dyno, in bytes.
    pub fn memory_bytes(self) -> u64 {
        const MB: u64 = 1 << 20;
        match self {
            DynoSize::Eco | DynoSize::Basic | DynoSize::Standard1X => 512 * MB,
            DynoSize::Standard2X => 1024 * MB,
            DynoSize::PerformanceM => 2560 * MB,
        }
    }

    /// Instances per web dyno when the app does not set `WEB_CONCURRENCY`.
    pub fn default_web_concurrency(self) -> usize {
        match self {
            DynoSize::Eco | DynoSize::Basic => 1,
            DynoSize::Standard1X => 2,
            DynoSize::Standard2X => 4,
            DynoSize::PerformanceM => 8,
        }
    }

    /// Whether web dynos of this size sleep when idle.
    pub fn sleeps(self) -> bool {
        self == DynoSize::Eco
    }
}

impl fmt::Display for DynoSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A size name that is not one of Kumo's sizes.
#[derive(Debug, thiserror::Error)]
#[error("unknown dyno size `{0}`: use one of eco, basic, standard-1X, standard-2X, performance-M")]
pub struct UnknownSize(pub String);

impl FromStr for DynoSize {
    type Err = UnknownSize;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "eco" => DynoSize::Eco,
            "basic" => DynoSize::Basic,
            "standard-1x" | "1x" | "standard" => DynoSize::Standard1X,
            "standard-2x" | "2x" => DynoSize::Standard2X,
            "performance-m" | "performance" | "pm" => DynoSize::PerformanceM,
            _ => return Err(UnknownSize(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sizes() {
        for size in DynoSize::ALL {
            assert_eq!(size.name().parse::<DynoSize>().ok(), Some(size));
        }
        assert_eq!(
            "Standard-2X".parse::<DynoSize>().ok(),
            Some(DynoSize::Standard2X)
        );
        assert_eq!(DynoSize::PerformanceM.memory_bytes(), 2560 << 20);
        let err = "huge".parse::<DynoSize>().unwrap_err().to_string();
        assert!(err.contains("unknown dyno size `huge`"), "{err}");
    }
}
