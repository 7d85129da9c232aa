//! Paths of the guest programs built from tests/components by build.rs.

include!(concat!(env!("OUT_DIR"), "/components.rs"));
