//! The story of a run: the numbered steps of the event loop's sequence
//! diagram, with notes, derived from the trace alone. Both the text diagram
//! and the Mermaid diagram are drawn from it.

use crate::time::{Instant, format_nanos};
use crate::trace::{Actor, EventKind, IoPhase, NetEvent, RunEnd, StepEnd, TaskId, Trace, WaitOn};
use std::collections::{BTreeMap, BTreeSet};

/// Who an arrow goes to or comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A numbered step from the loop to a task (run it, wake it).
    ToTask {
        /// Step number (1-based).
        num: u32,
        /// Virtual time.
        at: Instant,
        /// The task.
        task: TaskId,
        /// What the loop does.
        text: String,
        /// What the task does on receiving control.
        task_text: String,
    },
    /// A numbered step from a task (or the program) back to the loop.
    ToLoop {
        /// Step number.
        num: u32,
        /// Virtual time.
        at: Instant,
        /// The task, if any (`None`: the program itself, `asyncio.run`).
        task: Option<TaskId>,
        /// What happens.
        text: String,
    },
    /// A note on the loop's lane (idle periods, callbacks releasing waits).
    LoopNote {
        /// Virtual time.
        at: Instant,
        /// The note.
        text: String,
    },
    /// A note on a task's lane (printed lines, new tasks, returns).
    TaskNote {
        /// Virtual time.
        at: Instant,
        /// The task.
        task: TaskId,
        /// The note.
        text: String,
    },
}

/// A run told as numbered steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Story {
    /// The lanes: every task in creation order, with its display name.
    pub tasks: Vec<(TaskId, String)>,
    /// The items in order.
    pub items: Vec<Item>,
}

impl Story {
    /// A task's display name.
    pub fn name(&self, t: TaskId) -> &str {
        self.tasks
            .iter()
            .find(|(id, _)| *id == t)
            .map(|(_, n)| n.as_str())
            .unwrap_or("?")
    }
}

fn dur(ns: u64) -> String {
    format_nanos(ns)
}

fn wait_text(trace: &Trace, names: &BTreeMap<TaskId, String>, on: &WaitOn, at: Instant) -> String {
    match on {
        WaitOn::Timer { deadline } => format!(
            "sleep({})",
            dur(deadline.as_nanos().saturating_sub(at.as_nanos()))
        ),
        WaitOn::Task(t) => format!("task {}", names.get(t).map(String::as_str).unwrap_or("?")),
        WaitOn::Future { what } => trace.str(*what).to_string(),
        WaitOn::Primitive { kind, name } => {
            let (k, n) = (trace.str(*kind), trace.str(*name));
            if k == n {
                k.to_string()
            } else {
                format!("{k} '{n}'")
            }
        }
        WaitOn::Io { what } => trace.str(*what).to_string(),
        WaitOn::Yield => "nothing: a bare yield, sleep(0)".to_string(),
        WaitOn::Foreign => "a future loopsim does not know".to_string(),
    }
}

/// Tells the run. With `detail`, every handle the loop runs is a numbered
/// step (timer callbacks, done-callbacks, wake-ups), as asyncio counts hops;
/// without, internal handles are folded into the steps they cause, as the
/// tutorials draw it.
pub fn story(trace: &Trace, detail: bool) -> Story {
    let mut names: BTreeMap<TaskId, String> = BTreeMap::new();
    let mut parents: BTreeMap<TaskId, Option<TaskId>> = BTreeMap::new();
    let mut tasks = Vec::new();
    let mut items = Vec::new();
    let mut num = 0u32;
    let mut next = || {
        num += 1;
        num
    };
    let mut started: BTreeSet<TaskId> = BTreeSet::new();
    let mut suspended: BTreeMap<TaskId, (Instant, WaitOn)> = BTreeMap::new();
    let mut woken_by: BTreeMap<TaskId, Actor> = BTreeMap::new();
    let mut ended: Vec<(TaskId, Instant)> = Vec::new();
    let mut created_in_step: Vec<TaskId> = Vec::new();
    let mut current: Option<TaskId> = None;
    let mut main: Option<TaskId> = None;
    let mut stopped = false;
    let mut stuck: Vec<(TaskId, String)> = Vec::new();
    let mut cycle: Vec<TaskId> = Vec::new();
    let mut idle_since: Option<Instant> = None;
    for (seq, e) in trace.events.iter().enumerate() {
        let at = e.at;
        // New tasks made during a step are summarised once the step does
        // something else.
        if !created_in_step.is_empty() && !matches!(e.kind, EventKind::TaskCreated { .. }) {
            if let Some(p) = current {
                let list: Vec<&str> = created_in_step.iter().map(|t| names[t].as_str()).collect();
                let text = if list.len() == 1 {
                    format!("create_task({}): queued", list[0])
                } else if list.len() > 12 {
                    // A long list: its first names, its last, and how many.
                    format!(
                        "wraps {}, …, {} ({} tasks) as Tasks and queues them",
                        list[..10].join(", "),
                        list[list.len() - 1],
                        list.len()
                    )
                } else {
                    format!("wraps {} as Tasks and queues them", list.join(", "))
                };
                items.push(Item::TaskNote { at, task: p, text });
            }
            created_in_step.clear();
        }
        match e.kind {
            EventKind::TaskCreated {
                parent,
                name,
                label,
            } => {
                let Some(t) = e.task else { continue };
                let display = match label {
                    Some(l) => trace.str(l).to_string(),
                    None => trace.name_of(t, name).into_owned(),
                };
                names.insert(t, display.clone());
                parents.insert(t, parent);
                tasks.push((t, display.clone()));
                if parent.is_none() && main.is_none() {
                    main = Some(t);
                    items.push(Item::ToLoop {
                        num: next(),
                        at,
                        task: None,
                        text: format!("asyncio.run({display}): create the event loop, wrap {display} as a Task and queue it"),
                    });
                } else if current.is_some() {
                    created_in_step.push(t);
                }
            }
            EventKind::StepStarted { cancelling } => {
                let Some(t) = e.task else { continue };
                let name = names.get(&t).cloned().unwrap_or_default();
                current = Some(t);
                let first = started.insert(t);
                let (text, task_text) = if first {
                    if Some(t) == main {
                        (
                            "start the event loop, run the main task".to_string(),
                            format!("{name}: running"),
                        )
                    } else if cancelling {
                        (
                            format!("pick {name} from the queue: it was cancelled before it ran"),
                            format!("{name}: never runs its body"),
                        )
                    } else {
                        (
                            format!("pick {name} from the queue and run it"),
                            format!("{name}: running"),
                        )
                    }
                } else {
                    let cause = match (woken_by.remove(&t), suspended.get(&t)) {
                        (_, _) if cancelling => format!("throw CancelledError into {name}"),
                        (Some(Actor::Timer(_)), Some((since, WaitOn::Timer { deadline }))) => {
                            format!(
                                "{name}'s sleep({}) expires, wake it",
                                dur(deadline.as_nanos().saturating_sub(since.as_nanos()))
                            )
                        }
                        (Some(Actor::Task(w)), _) => {
                            let waker = names.get(&w).map(String::as_str).unwrap_or("?");
                            if ended.iter().any(|(e, _)| *e == w) {
                                format!("{waker} is done: wake {name}")
                            } else {
                                format!("{waker} wakes {name}")
                            }
                        }
                        (_, Some((_, WaitOn::Yield))) => {
                            format!("{name}'s turn again after its yield")
                        }
                        _ => format!("wake {name}"),
                    };
                    (cause, format!("{name}: resumes after its await"))
                };
                items.push(Item::ToTask {
                    num: next(),
                    at,
                    task: t,
                    text,
                    task_text,
                });
            }
            EventKind::StepEnded { end } => {
                let Some(t) = e.task else { continue };
                let name = names.get(&t).cloned().unwrap_or_default();
                match end {
                    StepEnd::Suspended { on } => {
                        let what = wait_text(trace, &names, &on, at);
                        suspended.insert(t, (at, on));
                        let text = match on {
                            WaitOn::Yield => format!(
                                "{name} yields (sleep(0)) and goes to the back of the queue"
                            ),
                            _ => format!("{name} waits on {what}, hands control back"),
                        };
                        items.push(Item::ToLoop {
                            num: next(),
                            at,
                            task: Some(t),
                            text,
                        });
                    }
                    StepEnd::Returned => {
                        ended.push((t, at));
                        let text = if Some(t) == main {
                            "→ returns (main ends)".to_string()
                        } else {
                            "→ returns".to_string()
                        };
                        items.push(Item::TaskNote { at, task: t, text });
                    }
                    StepEnd::Raised { error } => {
                        ended.push((t, at));
                        items.push(Item::TaskNote {
                            at,
                            task: t,
                            text: format!("→ raises {}", trace.str(error)),
                        });
                    }
                    StepEnd::Cancelled => {
                        ended.push((t, at));
                        items.push(Item::TaskNote {
                            at,
                            task: t,
                            text: "→ ends cancelled".to_string(),
                        });
                    }
                }
                current = None;
            }
            EventKind::Output { text } => {
                if let Some(t) = e.task {
                    items.push(Item::TaskNote {
                        at,
                        task: t,
                        text: format!("print: {}", trace.str(text)),
                    });
                }
            }
            EventKind::Blocked { nanos } => {
                if let Some(t) = e.task {
                    items.push(Item::TaskNote {
                        at,
                        task: t,
                        text: format!("blocking call: holds the loop for {}", dur(nanos)),
                    });
                }
            }
            EventKind::ClockAdvanced { from } => {
                // The clock jumps to a timer, or to what a service or pool
                // does outside the loop (a response, a thread's turn). A
                // jump to something outside the loop that the trace does
                // not show (a thread's next slice) continues the same idle
                // period.
                let continued = seq > 0
                    && matches!(trace.events[seq - 1].kind, EventKind::ClockAdvanced { .. })
                    && matches!(items.last(), Some(Item::LoopNote { .. }));
                let from = match idle_since {
                    Some(since) if continued => {
                        items.pop();
                        since
                    }
                    _ => from,
                };
                idle_since = Some(from);
                let until = match trace.events.get(seq + 1).map(|n| n.kind) {
                    Some(EventKind::Io { resource, .. }) => {
                        format!("the next event at {}", trace.str(resource))
                    }
                    _ => "the earliest timer".to_string(),
                };
                items.push(Item::LoopNote {
                    at,
                    text: format!(
                        "** every task is waiting: the loop is idle from {from} until {until}, at {at} **"
                    ),
                })
            }
            EventKind::CallbackRun { label, timer } => {
                let label = trace.str(label);
                if detail {
                    let text = if timer {
                        format!("timer callback `{label}` fires")
                    } else {
                        format!("callback `{label}` runs")
                    };
                    items.push(Item::ToLoop {
                        num: next(),
                        at,
                        task: None,
                        text,
                    });
                }
            }
            EventKind::Woken { by } => {
                let Some(t) = e.task else { continue };
                if let Actor::Callback(label) = by {
                    let label = trace.str(label);
                    if !detail && !label.starts_with("run_until_complete") {
                        let since = suspended.get(&t).map(|(s, _)| *s).unwrap_or(Instant::ZERO);
                        let done: Vec<&str> = ended
                            .iter()
                            .filter(|(c, when)| parents.get(c) == Some(&Some(t)) && *when >= since)
                            .map(|(c, _)| names[c].as_str())
                            .collect();
                        let prefix = match done.as_slice() {
                            [] => String::new(),
                            [one] => format!("{one} done, "),
                            many => format!(
                                "{} and {} done, ",
                                many[..many.len() - 1].join(", "),
                                many[many.len() - 1]
                            ),
                        };
                        items.push(Item::LoopNote {
                            at,
                            text: format!("{prefix}{label} releases {}'s wait", names[&t]),
                        });
                    }
                }
                if detail {
                    items.push(Item::LoopNote {
                        at,
                        text: format!(
                            "{} is queued (ready)",
                            names.get(&t).map(String::as_str).unwrap_or("?")
                        ),
                    });
                }
                woken_by.insert(t, by);
            }
            EventKind::CancelRequested { .. } => {
                if let Some(t) = e.task {
                    items.push(Item::LoopNote {
                        at,
                        text: format!(
                            "cancel() is requested on {}",
                            names.get(&t).map(String::as_str).unwrap_or("?")
                        ),
                    });
                }
            }
            EventKind::LoopStopped => {
                stopped = true;
                let pending = tasks
                    .iter()
                    .filter(|(t, _)| !ended.iter().any(|(e, _)| e == t))
                    .count();
                if pending > 0 {
                    items.push(Item::LoopNote {
                        at,
                        text: format!(
                            "main is done: asyncio.run cancels the {pending} task(s) still pending"
                        ),
                    });
                }
            }
            EventKind::RunEnded { end } => {
                let run = names.get(&TaskId(1)).cloned().unwrap_or_default();
                let text = match end {
                    RunEnd::Completed | RunEnd::Failed { .. } if stopped => {
                        format!("asyncio.run({run}) shuts the event loop down")
                    }
                    RunEnd::Deadlock => {
                        "nothing is ready and no timer is pending: deadlock, the run stops"
                            .to_string()
                    }
                    RunEnd::LimitExceeded { limit } => {
                        format!("the {} limit is reached: the run stops", trace.str(limit))
                    }
                    _ => format!("asyncio.run({run}) shuts the event loop down"),
                };
                items.push(Item::ToLoop {
                    num: next(),
                    at,
                    task: None,
                    text,
                });
                for (task, text) in stuck.drain(..) {
                    items.push(Item::TaskNote { at, task, text });
                }
                if let Some(first) = cycle.first() {
                    let path: Vec<&str> = cycle
                        .iter()
                        .chain([first])
                        .map(|t| names.get(t).map(String::as_str).unwrap_or("?"))
                        .collect();
                    items.push(Item::LoopNote {
                        at,
                        text: format!("deadlock cycle: {}", path.join(" → ")),
                    });
                }
            }
            EventKind::Stuck { what, why } => {
                if let Some(t) = e.task {
                    let text = match why {
                        Some(why) => {
                            format!("stuck: waits on {} ({})", trace.str(what), trace.str(why))
                        }
                        None => format!("stuck: waits on {}", trace.str(what)),
                    };
                    stuck.push((t, text));
                }
            }
            EventKind::InCycle { .. } => cycle.extend(e.task),
            EventKind::Net { conn, bytes, what } => {
                let text = match what {
                    NetEvent::Connecting { from, to } => format!(
                        "conn #{conn}: {} connects to {}",
                        trace.str(from),
                        trace.str(to)
                    ),
                    NetEvent::Connected => format!("conn #{conn} is established"),
                    NetEvent::Refused => format!("conn #{conn} is refused"),
                    NetEvent::Sent { .. } => format!("sends {bytes} bytes on conn #{conn}"),
                    NetEvent::Delivered { .. } => format!("{bytes} bytes arrive on conn #{conn}"),
                    NetEvent::Dropped => format!("{bytes} bytes dropped on conn #{conn}"),
                    NetEvent::Closed => format!("closes its end of conn #{conn}"),
                    NetEvent::Reset => format!("conn #{conn} is reset"),
                    NetEvent::Partitioned { a, b, hold } => format!(
                        "partition: {} | {}{}",
                        trace.str(a),
                        trace.str(b),
                        if hold { " (traffic held)" } else { "" }
                    ),
                    NetEvent::Healed => "the network heals".to_string(),
                };
                match e.task {
                    Some(task) => items.push(Item::TaskNote { at, task, text }),
                    None => items.push(Item::LoopNote { at, text }),
                }
            }
            EventKind::Warning { warning } => {
                let name = e.task.and_then(|t| names.get(&t)).map(String::as_str);
                let text = format!("⚠ {}", warning.message(trace, name));
                match e.task {
                    Some(task) if !matches!(warning, crate::trace::Warning::PendingAtExit) => {
                        items.push(Item::TaskNote { at, task, text })
                    }
                    _ => items.push(Item::LoopNote { at, text }),
                }
            }
            EventKind::Io {
                resource,
                id,
                phase,
            } => {
                let r = trace.str(resource);
                let caller = e.task.and_then(|t| names.get(&t)).map(String::as_str);
                let whose = caller.map(|c| format!(" ({c})")).unwrap_or_default();
                let note = match phase {
                    IoPhase::Arrived => {
                        if let Some(t) = e.task {
                            items.push(Item::TaskNote {
                                at,
                                task: t,
                                text: format!("calls {r}: #{id}"),
                            });
                        }
                        None
                    }
                    IoPhase::Throttled => Some(format!(
                        "{r} #{id}{whose} is rate limited: waits for a token"
                    )),
                    IoPhase::Queued => Some(format!("{r} #{id}{whose} waits in the queue")),
                    IoPhase::Spawning { worker } => {
                        Some(format!("{r} starts worker {worker} for #{id}{whose}"))
                    }
                    IoPhase::Started { worker } => {
                        Some(format!("{r} worker {worker} serves #{id}{whose}"))
                    }
                    IoPhase::CpuTaken if detail => Some(format!("{r} #{id} takes the CPU")),
                    IoPhase::CpuReleased if detail => Some(format!("{r} #{id} gives the CPU up")),
                    IoPhase::CpuTaken | IoPhase::CpuReleased => None,
                    IoPhase::Finished => Some(format!("{r} #{id}{whose} is done")),
                    IoPhase::Failed { error } => {
                        Some(format!("{r} #{id}{whose} fails: {}", trace.str(error)))
                    }
                    IoPhase::Rejected { error } => {
                        Some(format!("{r} turns #{id}{whose} away: {}", trace.str(error)))
                    }
                    IoPhase::Withdrawn => Some(format!(
                        "#{id}{whose} leaves {r}'s queue: its caller stopped waiting"
                    )),
                    IoPhase::Abandoned => Some(format!(
                        "#{id}{whose} is abandoned by its caller: {r} goes on with it"
                    )),
                    IoPhase::Delivered if detail => {
                        Some(format!("{r} #{id}: the result reaches the loop"))
                    }
                    IoPhase::Delivered => None,
                };
                if let Some(text) = note {
                    items.push(Item::LoopNote { at, text });
                }
            }
            EventKind::WaitsFor { .. }
            | EventKind::SectionEntered { .. }
            | EventKind::SectionExited { .. } => {}
        }
    }
    Story { tasks, items }
}
