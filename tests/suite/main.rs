//! loopsim's integration tests: one binary, one module per subject.

mod cancellation;
mod determinism;
mod fidelity;
mod outcomes;
mod primitives;
mod support;
mod tutorial_claims;
