//! `loopsim sweep FILE --seeds A..B`: every variant on every seed, in
//! parallel; elapsed percentiles per variant, each claim's pass rate, the
//! failing seeds with their replay commands; `--json` for machines,
//! `--shard i/n` and `--merge` for sweeps larger than one machine. `-q`
//! drops the progress bar; `-v` lists every failing seed of each claim.

use super::common::{self, EXIT_CLAIM_FAILED, EXIT_OK, EXIT_USAGE, SeedRange};
use super::output::{Protected, UsageError};
use super::ui::Ui;
use anyhow::Result;
use loopsim::explore::{Sweep, SweepOptions, sweep};
use loopsim::render::elapsed_histogram;
use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    limits: common::LimitArgs,
    /// The scenario file (not with --merge).
    #[arg(required_unless_present = "merge")]
    file: Option<PathBuf>,
    /// The seeds: `A..B` (B excluded) or one seed.
    #[arg(long, default_value = "0..100")]
    seeds: SeedRange,
    /// Worker threads (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard `i` of `n` (every n-th seed from the i-th, 0-based);
    /// merge the shards' `--json` outputs with `--merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Every variant under this loop model (`random`, `pct`: schedules
    /// explored by seed).
    #[arg(long)]
    model: Option<common::ModelArg>,
    /// Print the results as JSON (for `--merge`) instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write a histogram of elapsed times to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Merge the `--json` outputs of shards and print their summary.
    #[arg(long, num_args = 1.., value_name = "JSON", conflicts_with_all = ["file", "shard", "jobs"])]
    merge: Vec<PathBuf>,
}

/// `i/n`.
#[derive(Clone, Copy, Debug)]
pub struct Shard(u64, u64);

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: write the shard as I/N, e.g. 0/4"))?;
        let (i, n) = (
            i.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{i}` is not a shard index"))?,
            n.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{n}` is not a shard count"))?,
        );
        if n == 0 || i >= n {
            return Err(format!(
                "`{s}`: the index must be below the count (0/{n} … {}/{n})",
                n.max(1) - 1
            ));
        }
        Ok(Shard(i, n))
    }
}

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    let protected = Protected::new(&args.merge, &args.merge);
    if let Some(path) = &args.svg {
        let (dir, name) = super::output::OutDir::for_file(path, &protected)?;
        dir.check_writable(&name)?;
    }
    let result = if args.merge.is_empty() {
        let file = args
            .file
            .clone()
            .expect("clap requires FILE without --merge");
        let Some(first) = common::load(&file, &args.limits) else {
            return Ok(EXIT_USAGE);
        };
        // Each worker parses its own copy of the text read once (a scenario
        // is not shared between threads), so all see the same file.
        let name = first.file.clone();
        drop(first);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| UsageError(format!("{}: cannot read it: {e}", file.display())))?;
        let python = args.model.and_then(|m| m.python);
        let make = || {
            let mut s = loopsim::scenario::parse(&name, &text).expect("parsed once already");
            args.limits.apply(&mut s);
            if let Some(py) = python {
                common::set_python(&mut s, py);
            }
            s
        };
        let opts = SweepOptions {
            seeds: args.seeds.0..args.seeds.1,
            shard: args.shard.map(|Shard(i, n)| (i, n)),
            jobs: args
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            model: args.model.map(|m| m.model),
        };
        let total = loopsim::explore::shard_len(&opts.seeds, opts.shard);
        if total > common::MAX_SEEDS_PER_PROCESS {
            return Err(UsageError(format!(
                "--seeds {}..{} is {total} seeds for this process; at most {} per process: split the range with --shard i/n and merge the shards' --json",
                opts.seeds.start,
                opts.seeds.end,
                common::MAX_SEEDS_PER_PROCESS
            ))
            .into());
        }
        let bar = (std::io::stderr().is_terminal() && total >= 50 && !ui.quiet()).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds · {eta} left")
                    .expect("a valid template"),
            );
            b
        });
        let tick = || {
            if let Some(b) = &bar {
                b.inc(1);
            }
        };
        let r = sweep(&make, &opts, &tick);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        r
    } else {
        let mut parts = Vec::new();
        for p in &args.merge {
            let text = std::fs::read(p)
                .map_err(|e| UsageError(format!("{}: cannot read it: {e}", p.display())))?;
            let part: Sweep = serde_json::from_slice(&text).map_err(|e| {
                UsageError(format!(
                    "{}: not the JSON of `loopsim sweep --json` ({e})",
                    p.display()
                ))
            })?;
            if part.schema != loopsim::explore::SCHEMA {
                return Err(UsageError(format!(
                    "{}: schema {:?}, this loopsim merges {:?}",
                    p.display(),
                    part.schema,
                    loopsim::explore::SCHEMA
                ))
                .into());
            }
            parts.push(part);
        }
        Sweep::merge(parts).map_err(UsageError)?
    };
    if args.json {
        writeln!(ui, "{}", serde_json::to_string(&result)?)?;
    } else {
        for line in result.summary_text().lines() {
            ui.verdict(line)?;
        }
        if ui.verbose() {
            every_failing_seed(&result, ui)?;
        }
    }
    if let Some(path) = &args.svg {
        let summary = result.summary();
        let rows: Vec<(String, Vec<u64>)> = summary
            .variants
            .iter()
            .map(|v| (v.variant.clone(), v.elapsed.clone()))
            .collect();
        let title = format!("{} — elapsed over {} seeds", result.file, summary.seeds);
        common::write_output(path, &elapsed_histogram(&title, &rows), &protected)?;
        if !args.json && !ui.quiet() {
            writeln!(ui, "histogram written to {}", path.display())?;
        }
    }
    let failed = result.results.iter().any(|r| !r.failed.is_empty());
    Ok(if failed { EXIT_CLAIM_FAILED } else { EXIT_OK })
}

/// `-v`: each claim's failing seeds, all of them (the summary shows ten).
fn every_failing_seed(result: &Sweep, ui: &mut Ui) -> Result<()> {
    let summary = result.summary();
    for c in summary.claims.iter().filter(|c| c.failing.len() > 10) {
        let seeds: Vec<String> = c.failing.iter().map(u64::to_string).collect();
        writeln!(
            ui,
            "\nevery seed failing {} (line {}):\n  {}",
            c.claim.text,
            c.claim.line,
            seeds.join(", ")
        )?;
    }
    Ok(())
}
