//! The scheduling decision point: which ready handle runs next.
//!
//! Under `asyncio` and `fifo` there is no choice — the ready queue is a
//! FIFO and each iteration runs the handles ready at its start. The
//! exploring models run one handle per iteration and choose it:
//!
//! - `random`: uniformly among the ready handles, from the seeded
//!   scheduling stream.
//! - `pct`: probabilistic concurrency testing (Burckhardt, Kothari,
//!   Musuvathi, Nagarakatte, "A Randomized Scheduler with Probabilistic
//!   Guarantees of Finding Bugs", ASPLOS 2010). Each task gets a random
//!   priority when first seen, all above `depth`; the ready handle of the
//!   highest-priority task runs; at `depth - 1` change points, chosen
//!   uniformly among the first `steps` scheduling decisions, the task just
//!   chosen drops to priority `depth - 1 - i` (below every initial
//!   priority). A bug that needs `d` ordering constraints to show is found
//!   on each seed with probability at least `1 / (n · k^(d-1))` for `n`
//!   tasks and `k` steps. Handles that are not task steps (timer and
//!   `call_soon` callbacks) keep their FIFO order and run before task
//!   steps: PCT explores the interleaving of tasks.
//!
//! Every choice comes from the run's scheduling stream, so a seed replays
//! its schedule exactly.

use super::Handle;
use crate::rng::Streams;
use crate::settings::LoopModel;
use crate::trace::TaskId;
use rand::RngExt;
use std::collections::BTreeMap;

/// PCT's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PctConfig {
    /// The bug depth `d` looked for: `d - 1` priority change points.
    pub depth: u32,
    /// The number of scheduling decisions the change points are spread over
    /// (an estimate of the run's length in steps).
    pub steps: u64,
}

impl Default for PctConfig {
    fn default() -> PctConfig {
        PctConfig {
            depth: 3,
            steps: 100,
        }
    }
}

/// The chooser of one run.
pub(crate) enum Chooser {
    /// FIFO: no choice.
    Fifo,
    /// Uniform among the ready handles.
    Random,
    /// Priorities and change points.
    Pct(Pct),
}

pub(crate) struct Pct {
    depth: u32,
    /// Each task's priority, assigned when first seen (higher runs first).
    priority: BTreeMap<TaskId, u64>,
    /// The decisions (counted from 1) after which the chosen task drops.
    change_points: Vec<u64>,
    decisions: u64,
}

impl Chooser {
    pub fn new(model: LoopModel, pct: PctConfig, rng: &mut Streams) -> Chooser {
        match model {
            LoopModel::Asyncio | LoopModel::Fifo => Chooser::Fifo,
            LoopModel::Random => Chooser::Random,
            LoopModel::Pct => {
                let depth = pct.depth.max(1);
                let steps = pct.steps.max(1);
                let mut change_points: Vec<u64> = (1..depth)
                    .map(|_| rng.scheduling().random_range(1..=steps))
                    .collect();
                change_points.sort_unstable();
                Chooser::Pct(Pct {
                    depth,
                    priority: BTreeMap::new(),
                    change_points,
                    decisions: 0,
                })
            }
        }
    }

    /// Whether each iteration runs one chosen handle (rather than every
    /// handle ready at its start).
    pub fn one_per_iteration(&self) -> bool {
        !matches!(self, Chooser::Fifo)
    }

    /// The index in `ready` of the handle to run next.
    pub fn pick(&mut self, ready: &super::ready::Ready, rng: &mut Streams) -> usize {
        match self {
            Chooser::Fifo => 0,
            Chooser::Random => rng.pick(ready.len()),
            Chooser::Pct(p) => p.pick(ready, rng),
        }
    }
}

impl Pct {
    fn priority_of(&mut self, task: TaskId, rng: &mut Streams) -> u64 {
        let depth = u64::from(self.depth);
        *self
            .priority
            .entry(task)
            .or_insert_with(|| depth + rng.scheduling().random_range(0..u64::MAX / 2))
    }

    fn pick(&mut self, ready: &super::ready::Ready, rng: &mut Streams) -> usize {
        // Callbacks first, in FIFO order.
        if let Some(i) = ready.iter().position(|h| !matches!(h, Handle::Step(_))) {
            return i;
        }
        let mut best = 0;
        let mut best_priority = None;
        for (i, h) in ready.iter().enumerate() {
            let Handle::Step(task) = *h else { continue };
            let p = self.priority_of(task, rng);
            // Ties (never between distinct random priorities in practice)
            // go to the earliest queued.
            if best_priority.is_none_or(|b| p > b) {
                best = i;
                best_priority = Some(p);
            }
        }
        self.decisions += 1;
        if let Some(k) = self.change_points.iter().position(|c| *c == self.decisions)
            && let Some(Handle::Step(task)) = ready.get(best)
        {
            // The i-th change point lowers the chosen task to d - 1 - i.
            let low = u64::from(self.depth).saturating_sub(1 + k as u64);
            self.priority.insert(task, low);
        }
        best
    }
}
