//! Deadlock reports: who waits on what, who holds what, and the wait-for
//! cycle.
//!
//! When nothing can ever happen again, every unfinished task is a
//! [`StuckTask`]: what it waits on (`waiting_on`) and why that wait cannot
//! end (a [`Blocker`]). The primitive itself says why, read at the end of the
//! run: a Lock or a Semaphore names the tasks holding it, in acquisition
//! order; a Queue is empty, full, or has unfinished items; an Event is not
//! set.
//!
//! The wait-for graph has an edge from a task to every task it waits for:
//! the task it awaits, or each holder of the Lock or Semaphore it wants.
//! [`find_cycle`] searches it deterministically, the way a depth-first search
//! finds a back edge: from the smallest task id, following each task's edges
//! in order; the first cycle closed is reported, rotated to start at its
//! smallest task id.

use crate::trace::TaskId;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A task named in a deadlock report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedTask {
    /// The task.
    pub id: TaskId,
    /// Its name.
    pub name: String,
}

/// Why a stuck task's wait can never end: the state of what it waits on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// Nothing more is known (a timer, a low-level future, I/O, a foreign
    /// future).
    Unknown,
    /// It awaits another task, itself unfinished.
    Task(NamedTask),
    /// A Lock or a Semaphore, held by these tasks in acquisition order (a
    /// permit released by a task that did not take it frees the oldest
    /// holder). Empty when no task holds it: a semaphore made without
    /// permits, or whose permits were forgotten by finished tasks.
    Held {
        /// The holders, oldest first; a task holding several permits appears
        /// once per permit.
        holders: Vec<NamedTask>,
    },
    /// An Event that is not set.
    EventNotSet,
    /// A Condition nobody notifies.
    NotNotified,
    /// `Queue.get` on an empty queue.
    QueueEmpty,
    /// `Queue.put` on a full queue.
    QueueFull {
        /// The queue's capacity.
        maxsize: usize,
    },
    /// `Queue.join` with items not marked done.
    QueueJoin {
        /// Items put and not yet marked done (`task_done`).
        unfinished: usize,
    },
}

impl Blocker {
    /// The tasks this wait depends on: the awaited task, or the holders (in
    /// acquisition order, without repeats).
    pub fn waits_for(&self) -> Vec<TaskId> {
        match self {
            Blocker::Task(t) => vec![t.id],
            Blocker::Held { holders } => {
                let mut ids: Vec<TaskId> = Vec::new();
                for h in holders {
                    if !ids.contains(&h.id) {
                        ids.push(h.id);
                    }
                }
                ids
            }
            _ => Vec::new(),
        }
    }

    /// The state in words (`held by right`, `not set`, `3 unfinished
    /// items`); `None` when there is nothing to add to what the task waits on.
    pub fn state(&self) -> Option<String> {
        Some(match self {
            Blocker::Unknown | Blocker::Task(_) => return None,
            Blocker::Held { holders } if holders.is_empty() => {
                "no permit left, none held by a task".to_string()
            }
            Blocker::Held { holders } => {
                let names: Vec<&str> = holders.iter().map(|h| h.name.as_str()).collect();
                format!("held by {}", names.join(", "))
            }
            Blocker::EventNotSet => "not set".to_string(),
            Blocker::NotNotified => "not notified".to_string(),
            Blocker::QueueEmpty => "empty, no task can put".to_string(),
            Blocker::QueueFull { maxsize } => {
                format!("full ({maxsize} of {maxsize}), no task can get")
            }
            Blocker::QueueJoin { unfinished: 1 } => "1 unfinished item".to_string(),
            Blocker::QueueJoin { unfinished } => format!("{unfinished} unfinished items"),
        })
    }
}

/// An unfinished task in a deadlock report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckTask {
    /// The task.
    pub id: TaskId,
    /// Its name.
    pub name: String,
    /// What it waits on, in words (`Event 'ready'`, `task Task-3`, `Queue 'q'
    /// join`, `a timer at 5s`).
    pub waiting_on: String,
    /// Why that wait cannot end.
    pub blocker: Blocker,
}

impl StuckTask {
    /// What it waits on and why, in words: `Lock 'b' held by right`,
    /// `Event 'go': not set`, `task worker`.
    pub fn explained(&self) -> String {
        match (&self.blocker, self.blocker.state()) {
            (Blocker::Held { holders }, Some(s)) if !holders.is_empty() => {
                format!("{} {s}", self.waiting_on)
            }
            (_, Some(s)) => format!("{}: {s}", self.waiting_on),
            (_, None) => self.waiting_on.clone(),
        }
    }
}

impl fmt::Display for StuckTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} waits on {}", self.name, self.explained())
    }
}

/// A deadlock in words: every stuck task, what it waits on and who holds it,
/// then the cycle if there is one —
/// `deadlock: left waits on Lock 'b' held by right; right waits on Lock 'a'
/// held by left; cycle: left → right → left`.
#[derive(Clone, Copy, Debug)]
pub struct DeadlockReport<'a> {
    /// The stuck tasks, in creation order.
    pub stuck: &'a [StuckTask],
    /// The wait-for cycle (see [`find_cycle`]); empty when there is none.
    pub cycle: &'a [TaskId],
}

impl fmt::Display for DeadlockReport<'_> {
    /// At most [`DeadlockReport::SHOWN`] stuck tasks and cycle members are
    /// named; the rest are counted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadlock: ")?;
        for (i, s) in self.stuck.iter().take(Self::SHOWN).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{s}")?;
        }
        if self.stuck.len() > Self::SHOWN {
            write!(
                f,
                "; … and {} more stuck tasks",
                self.stuck.len() - Self::SHOWN
            )?;
        }
        if !self.cycle.is_empty() {
            let names: BTreeMap<TaskId, &str> =
                self.stuck.iter().map(|s| (s.id, s.name.as_str())).collect();
            let name = |id: TaskId| {
                names
                    .get(&id)
                    .map_or_else(|| format!("Task-{}", id.0), |n| n.to_string())
            };
            f.write_str("; cycle: ")?;
            for id in self.cycle.iter().take(Self::SHOWN) {
                write!(f, "{} → ", name(*id))?;
            }
            if self.cycle.len() > Self::SHOWN {
                write!(f, "… ({} more) → ", self.cycle.len() - Self::SHOWN)?;
            }
            f.write_str(&name(self.cycle[0]))?;
        }
        Ok(())
    }
}

impl DeadlockReport<'_> {
    /// How many stuck tasks (and cycle members) the report names.
    pub const SHOWN: usize = 20;
}

/// The wait-for graph of stuck tasks: each task's edges, in order.
pub fn wait_for_graph(stuck: &[StuckTask]) -> BTreeMap<TaskId, Vec<TaskId>> {
    stuck
        .iter()
        .map(|s| (s.id, s.blocker.waits_for()))
        .collect()
}

/// The first cycle of a wait-for graph, depth first from the smallest task
/// id, edges followed in order; rotated to start at its smallest id, each
/// task once (the closing edge back to the first is implied). Empty when the
/// graph has no cycle.
///
/// # Examples
///
/// ```
/// use loopsim::{TaskId, find_cycle};
/// use std::collections::BTreeMap;
/// let g = BTreeMap::from([
///     (TaskId(1), vec![TaskId(2)]),
///     (TaskId(2), vec![TaskId(4)]),
///     (TaskId(3), vec![TaskId(2)]),
///     (TaskId(4), vec![TaskId(3)]),
/// ]);
/// assert_eq!(find_cycle(&g), [TaskId(2), TaskId(4), TaskId(3)]);
/// ```
pub fn find_cycle(graph: &BTreeMap<TaskId, Vec<TaskId>>) -> Vec<TaskId> {
    #[derive(PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<TaskId, Mark> = BTreeMap::new();
    for &start in graph.keys() {
        if marks.contains_key(&start) {
            continue;
        }
        // Depth first without recursion: (task, index of its next edge).
        let mut path: Vec<(TaskId, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::OnPath);
        while let Some(&(node, i)) = path.last() {
            let next = graph.get(&node).and_then(|e| e.get(i)).copied();
            let Some(next) = next else {
                marks.insert(node, Mark::Done);
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            match marks.get(&next) {
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|(t, _)| *t == next).unwrap_or(0);
                    let mut cycle: Vec<TaskId> = path[from..].iter().map(|(t, _)| *t).collect();
                    let min = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                    cycle.rotate_left(min);
                    return cycle;
                }
                Some(Mark::Done) => {}
                None => {
                    marks.insert(next, Mark::OnPath);
                    path.push((next, 0));
                }
            }
        }
    }
    Vec::new()
}

/// Reads a primitive's state when the run deadlocks; given a way to name
/// tasks. Set by the primitive when a task starts waiting on it.
pub(crate) type Probe = Rc<dyn Fn(&dyn Fn(TaskId) -> NamedTask) -> Blocker>;

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(u32, &[u32])]) -> BTreeMap<TaskId, Vec<TaskId>> {
        edges
            .iter()
            .map(|(a, bs)| (TaskId(*a), bs.iter().map(|b| TaskId(*b)).collect()))
            .collect()
    }

    #[test]
    fn a_graph_without_a_cycle_has_none() {
        assert!(find_cycle(&g(&[(1, &[2]), (2, &[3]), (3, &[])])).is_empty());
    }

    #[test]
    fn a_task_waiting_on_itself_is_a_cycle_of_one() {
        assert_eq!(find_cycle(&g(&[(1, &[]), (2, &[2])])), [TaskId(2)]);
    }

    #[test]
    fn the_first_cycle_reached_from_the_smallest_id_wins() {
        let graph = g(&[(1, &[5, 2]), (2, &[3]), (3, &[2]), (4, &[5]), (5, &[4])]);
        assert_eq!(find_cycle(&graph), [TaskId(4), TaskId(5)]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let mut graph: BTreeMap<TaskId, Vec<TaskId>> = (1..200_000)
            .map(|i| (TaskId(i), vec![TaskId(i + 1)]))
            .collect();
        graph.insert(TaskId(200_000), vec![TaskId(1)]);
        assert_eq!(find_cycle(&graph).len(), 200_000);
    }
}
