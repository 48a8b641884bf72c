//! `loopsim bench --compare tokio|cpython`: the workloads W1–W4 against
//! another executor, by paired runs (alternating, the ratio of each pair,
//! the median), by memory per task, and by instruction counts.

use super::{Against, Args, Workload, baseline, memory_per_task, tokio_run, units, wall};
use crate::cli::output::UsageError;
use crate::cli::ui::Ui;
use anyhow::{Result, bail};
use loopsim::Sim;
use std::io::Write;

/// The smallest and the largest of `v`.
pub(super) fn span(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, 0f64), |(lo, hi), r| {
        (lo.min(*r), hi.max(*r))
    })
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The other side of a pair: runs workload W`n` once and says how long it
/// took, in seconds.
enum Other {
    Tokio,
    /// `python3 bench_cpython.py N SCALE` in a directory holding the
    /// script and `vclock.py`; the script times the run itself.
    Cpython {
        python: String,
        dir: tempfile::TempDir,
    },
}

impl Other {
    fn new(against: Against) -> Result<Other> {
        Ok(match against {
            Against::Tokio => {
                // Fail before measuring anything if tokio is not built in.
                if let Some(w) = baseline(1, 1000) {
                    tokio_run(w)?;
                }
                Other::Tokio
            }
            Against::Cpython => {
                let dir = tempfile::tempdir()?;
                std::fs::write(
                    dir.path().join("vclock.py"),
                    include_str!("../../../tools/vclock.py"),
                )?;
                std::fs::write(
                    dir.path().join("bench_cpython.py"),
                    include_str!("../../../tools/bench_cpython.py"),
                )?;
                let python = std::env::var("LOOPSIM_PYTHON").unwrap_or_else(|_| "python3".into());
                let works = std::process::Command::new(&python)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
                if !works {
                    return Err(UsageError(format!(
                        "--compare cpython needs a Python 3.11+: cannot run `{python}`; install python3 or set LOOPSIM_PYTHON"
                    ))
                    .into());
                }
                Other::Cpython { python, dir }
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Other::Tokio => "tokio",
            Other::Cpython { .. } => "CPython",
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Other::Tokio => "tokio current_thread + start_paused",
            Other::Cpython { .. } => {
                "CPython's asyncio on a virtual clock (tools/vclock.py; $LOOPSIM_PYTHON or python3)"
            }
        }
    }

    fn time(&self, n: usize, w: Workload, scale_down: u32) -> Result<f64> {
        match self {
            Other::Tokio => {
                let t0 = wall();
                tokio_run(w)?;
                Ok(t0.elapsed().as_secs_f64())
            }
            Other::Cpython { python, dir } => {
                let out = std::process::Command::new(python)
                    .arg(dir.path().join("bench_cpython.py"))
                    .args([n.to_string(), scale_down.to_string()])
                    .output();
                let out = match out {
                    Ok(out) => out,
                    Err(e) => {
                        bail!("cannot run `{python}` ({e}); set LOOPSIM_PYTHON to a Python 3.11+")
                    }
                };
                if !out.status.success() {
                    bail!(
                        "the CPython workload W{n} failed:\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
            }
        }
    }
}

/// `--compare`: per workload, `pairs` alternating runs (which goes first
/// alternates too), the ratio loopsim/other of each pair, and the median of
/// the ratios.
pub(super) fn compare(args: &Args, against: Against, ui: &mut Ui) -> Result<i32> {
    let other = Other::new(against)?;
    writeln!(
        ui,
        "loopsim `{}` (trace off) against {}, {} each; ratio = loopsim / {}, lower is better",
        args.model,
        other.describe(),
        if args.pairs == 1 {
            "1 pair".to_string()
        } else {
            format!("{} pairs", args.pairs)
        },
        other.name()
    )?;
    writeln!(
        ui,
        "{:<4} {:<34} {:>12} {:>12} {:>10} {:>16}",
        "",
        "workload",
        "loopsim ms",
        format!("{} ms", other.name()),
        "ratio",
        "ratio min..max"
    )?;
    let sim = Sim::builder()
        .model(args.model)
        .trace(false)
        .seed(1)
        .build();
    for n in 1..=Workload::BASELINE.len() {
        if !args.measures(n) {
            continue;
        }
        let w = baseline(n, args.scale_down).expect("in range");
        let (mut ls, mut ts, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for pair in 0..args.pairs {
            let time_loopsim = || -> Result<f64> {
                let t0 = wall();
                let run = w.run(&sim);
                let took = t0.elapsed().as_secs_f64();
                if !run.is_completed() {
                    bail!("workload {} did not complete: {:?}", w.name(), run.outcome);
                }
                Ok(took)
            };
            let (l, t) = if pair % 2 == 0 {
                let l = time_loopsim()?;
                (l, other.time(n, w, args.scale_down)?)
            } else {
                let t = other.time(n, w, args.scale_down)?;
                (time_loopsim()?, t)
            };
            ls.push(l);
            ts.push(t);
            ratios.push(l / t);
        }
        let (lo, hi) = span(&ratios);
        let ratio = median(&mut ratios);
        writeln!(
            ui,
            "W{n:<3} {:<34} {:>12.1} {:>12.1} {:>10} {:>16}",
            w.name(),
            median(&mut ls) * 1e3,
            median(&mut ts) * 1e3,
            if ratio < 0.1 {
                format!("1/{:.0}", 1.0 / ratio)
            } else {
                format!("{ratio:.2}")
            },
            format!("{lo:.3}..{hi:.3}"),
        )?;
    }
    if let Other::Tokio = other {
        let rows = [
            ("million", "\nmemory of a million sleeping tasks, per task"),
            (
                "churn",
                "memory kept of a million finished tasks (run one after another), per task",
            ),
        ];
        for (which, what) in rows {
            if args.scale_down == 1
                && args.workloads.is_empty()
                && let (Some(l), Some(t)) = (
                    memory_per_task("loopsim", which, args)?,
                    memory_per_task("tokio", which, args)?,
                )
            {
                let ratio = if t >= 1.0 {
                    format!(" ({:.2})", l / t)
                } else {
                    String::new()
                };
                writeln!(ui, "{what}: loopsim {l:.0} B, tokio {t:.0} B{ratio}")?;
            }
        }
        if args.instructions {
            instructions(args, ui)?;
        }
    } else if args.instructions {
        writeln!(
            ui,
            "\n--instructions counts tokio's only (CPython's are not comparable)"
        )?;
    }
    Ok(crate::cli::EXIT_OK)
}

/// Instructions of `loopsim bench --one ENGINE:N` under callgrind, less
/// those of `--one ENGINE:0` (the process's start and end).
fn instructions(args: &Args, ui: &mut Ui) -> Result<()> {
    let exe = std::env::current_exe()?;
    let count = |spec: &str| -> Result<Option<u64>> {
        let out = std::process::Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["bench", "--model", &args.model.to_string()])
            .args(["--scale-down", &args.scale_down.to_string(), "--one", spec])
            .output();
        let out = match out {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("callgrind on `--one {spec}` failed:\n{err}");
        }
        let n = err
            .lines()
            .find_map(|l| {
                l.split_once("Collected :")
                    .map(|(_, n)| n.trim().to_string())
            })
            .and_then(|n| n.parse().ok());
        match n {
            Some(n) => Ok(Some(n)),
            None => bail!("no instruction count in callgrind's output:\n{err}"),
        }
    };
    let (Some(l0), Some(t0)) = (count("loopsim:0")?, count("tokio:0")?) else {
        writeln!(
            ui,
            "\ninstruction counts skipped: valgrind is not installed"
        )?;
        return Ok(());
    };
    writeln!(
        ui,
        "\ninstructions per unit (callgrind, less the process's own start):"
    )?;
    writeln!(
        ui,
        "{:<4} {:<34} {:>8} {:>14} {:>14} {:>10}",
        "", "workload", "unit", "loopsim", "tokio", "ratio"
    )?;
    for n in 1..=Workload::BASELINE.len() {
        if !args.measures(n) {
            continue;
        }
        let w = baseline(n, args.scale_down).expect("in range");
        let (unit, k) = units(w);
        let l = count(&format!("loopsim:{n}"))?
            .unwrap_or(0)
            .saturating_sub(l0) as f64
            / k as f64;
        let t = count(&format!("tokio:{n}"))?
            .unwrap_or(0)
            .saturating_sub(t0) as f64
            / k as f64;
        writeln!(
            ui,
            "W{n:<3} {:<34} {:>8} {:>14.0} {:>14.0} {:>10.2}",
            w.name(),
            unit,
            l,
            t,
            l / t
        )?;
    }
    Ok(())
}
