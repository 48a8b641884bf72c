//! `loopsim explore FILE [--seeds A..B]`: run a scenario under the
//! schedule-exploring loop models (`random`, `pct`) over many seeds and
//! report, per claim and model, the first seed that breaks it — with the
//! command that replays that schedule. `-q` prints only the broken claims;
//! `-v` adds, for each, every seed that breaks it (up to a hundred).

use super::common::{self, EXIT_CLAIM_FAILED, EXIT_OK, EXIT_USAGE, SeedRange};
use super::output::UsageError;
use super::ui::{Ui, count};
use anyhow::Result;
use loopsim::LoopModel;
use loopsim::explore::{SweepOptions, sweep};
use loopsim::report::replay;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    limits: common::LimitArgs,
    /// The scenario file.
    file: PathBuf,
    /// The seeds (schedules) to try: `A..B`, B excluded.
    #[arg(long, default_value = "0..1000")]
    seeds: SeedRange,
    /// The exploring models, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "random,pct")]
    models: Vec<loopsim::LoopModel>,
    /// Worker threads (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
}

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    if let Some(m) = args
        .models
        .iter()
        .find(|m| matches!(m, LoopModel::Asyncio | LoopModel::Fifo))
    {
        return Err(UsageError(format!(
            "`{m}` has one schedule, nothing to explore: use random or pct (or `loopsim sweep` for seeds of random draws)"
        ))
        .into());
    }
    let Some(first) = common::load(&args.file, &args.limits) else {
        return Ok(EXIT_USAGE);
    };
    let name = first.file.clone();
    if first.claims.is_empty() {
        writeln!(ui, "{name} makes no claims: nothing to break")?;
        return Ok(EXIT_OK);
    }
    drop(first);
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| UsageError(format!("{}: cannot read it: {e}", args.file.display())))?;
    let make = || {
        let mut s = loopsim::scenario::parse(&name, &text).expect("parsed once already");
        args.limits.apply(&mut s);
        s
    };
    let mut broken = false;
    let n = args.seeds.1 - args.seeds.0;
    if n > common::MAX_SEEDS_PER_PROCESS {
        return Err(UsageError(format!(
            "--seeds {}..{} is {n} schedules per model; at most {}: explore a smaller range (or sweep shards with `loopsim sweep --model pct --shard i/n`)",
            args.seeds.0,
            args.seeds.1,
            common::MAX_SEEDS_PER_PROCESS
        ))
        .into());
    }
    if !ui.quiet() {
        writeln!(ui, "exploring {name}: {} per model", count(n, "schedule"))?;
    }
    for model in &args.models {
        let opts = SweepOptions {
            seeds: args.seeds.0..args.seeds.1,
            shard: None,
            jobs: args
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            model: Some(*model),
        };
        let result = sweep(&make, &opts, &|| {});
        let summary = result.summary();
        if !ui.quiet() {
            writeln!(ui, "\n{model}:")?;
        }
        for (i, c) in summary.claims.iter().enumerate() {
            let variant = if c.claim.variant.is_empty() {
                String::new()
            } else {
                format!("[{}] ", c.claim.variant)
            };
            match c.failing.first() {
                None if ui.quiet() => {}
                None => ui.verdict(&format!(
                    "  holds   {variant}{} (line {})",
                    c.claim.text, c.claim.line
                ))?,
                Some(seed) => {
                    broken = true;
                    let v = result
                        .results
                        .iter()
                        .find(|r| r.seed == *seed)
                        .and_then(|r| r.failed.iter().find(|f| f.claim == i))
                        .map(|f| f.variant.clone())
                        .unwrap_or_default();
                    let of = if ui.quiet() {
                        format!(" under {model}")
                    } else {
                        String::new()
                    };
                    ui.verdict(&format!(
                        "  BROKEN  {variant}{} (line {}){of}: first by seed {seed}, {} of {n} seeds\n          replay: {}",
                        c.claim.text,
                        c.claim.line,
                        c.failing.len(),
                        replay(&name, &v, *seed, Some(model.name()))
                    ))?;
                    if ui.verbose() {
                        let shown: Vec<String> =
                            c.failing.iter().take(100).map(u64::to_string).collect();
                        let more = if c.failing.len() > 100 { ", …" } else { "" };
                        writeln!(ui, "          seeds: {}{more}", shown.join(", "))?;
                    }
                }
            }
        }
    }
    Ok(if broken { EXIT_CLAIM_FAILED } else { EXIT_OK })
}
