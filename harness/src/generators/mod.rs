//! Structure-aware generators: the fuzzer's bytes become programs that parse
//! ([`jsgen`]) and values the API accepts ([`values`]).

pub mod jsgen;
pub mod values;
