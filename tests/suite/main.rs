//! loopsim's integration tests: one binary, one module per subject.

mod cancellation;
mod checks;
mod cli;
mod deadlocks;
mod determinism;
mod fidelity;
mod hostile;
mod io;
mod net;
mod outcomes;
mod outputs;
mod primitives;
mod properties;
mod random_programs;
mod render;
mod render_axis;
mod render_critical;
mod retirement;
mod robustness;
mod scenarios;
mod support;
mod sweep;
mod trace_io;
mod tutorial_claims;
