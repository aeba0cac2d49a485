//! Structure-aware generators: the fuzzer's bytes become programs that parse
//! ([`jsgen`]), deterministic programs for the differential targets
//! ([`jitgen`]) and values the API accepts ([`values`]).

pub mod jitgen;
pub mod jsgen;
pub mod values;
