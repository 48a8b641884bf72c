//! Exploring a scenario over many seeds and schedules: seed sweeps (every
//! variant on every seed, elapsed percentiles, each claim's pass rate, the
//! failing seeds) and schedule exploration under the `random` and `pct`
//! loop models. Every failure carries the command that replays it.
//!
//! A sweep's result is plain data ([`Sweep`]) ordered by seed: the same
//! seeds give the same result whatever the number of worker threads and
//! however the seeds were split into shards and merged back.

mod seeds;

pub use seeds::{
    ClaimInfo, ClaimSummary, Failure, RunResult, SCHEMA, SeedResult, Summary, Sweep, SweepOptions,
    VariantSummary, shard_first, shard_len, sweep,
};
