//! The verbs of the scenario format, by family: the one table that says
//! which verbs exist, what each accepts and means, and where its code lives.
//!
//! A family is a variant of [`StepKind`](super::StepKind) (its steps are
//! one enum in `model/steps.rs`) with one file per stage:
//! `validate/steps/<family>.rs` reads a verb's table,
//! `interp/exec/<family>.rs` runs the step, `print/<family>.rs` writes it
//! back, and `python/<family>.rs` translates it to asyncio.
//! `sim-scenarios/README.md` documents each verb under its family's heading
//! (a test below checks it).

/// The families of verbs: each is a variant of [`StepKind`](super::StepKind)
/// and one file at each stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Control flow: [`ControlStep`](super::ControlStep).
    Control,
    /// Tasks: [`TaskStep`](super::TaskStep).
    Tasks,
    /// Synchronisation primitives: [`SyncStep`](super::SyncStep).
    Sync,
    /// Futures and callbacks: [`FutureStep`](super::FutureStep).
    Futures,
    /// Output: [`OutputStep`](super::OutputStep).
    Output,
    /// Simulated I/O: [`IoStep`](super::IoStep).
    Io,
    /// The simulated network: [`NetStep`](super::NetStep).
    Net,
}

impl Family {
    /// Every family, in the order the format's reference lists them.
    pub const ALL: [Family; 7] = [
        Family::Control,
        Family::Tasks,
        Family::Sync,
        Family::Futures,
        Family::Output,
        Family::Io,
        Family::Net,
    ];

    /// The family's name in the code: `control`, `tasks`, `sync`, `futures`,
    /// `output` (the file of each stage is named after it).
    pub fn name(self) -> &'static str {
        match self {
            Family::Control => "control",
            Family::Tasks => "tasks",
            Family::Sync => "sync",
            Family::Futures => "futures",
            Family::Output => "output",
            Family::Io => "io",
            Family::Net => "net",
        }
    }

    /// The heading of the family's section in `sim-scenarios/README.md`.
    pub fn title(self) -> &'static str {
        match self {
            Family::Control => "Control flow",
            Family::Tasks => "Tasks",
            Family::Sync => "Synchronisation",
            Family::Futures => "Futures and callbacks",
            Family::Output => "Output",
            Family::Io => "Simulated I/O",
            Family::Net => "Network",
        }
    }
}

/// A verb of the scenario format: the key that names a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verb {
    /// The key (`gather`).
    pub name: &'static str,
    /// Its family: where its code lives, and its section of the format's
    /// reference.
    pub family: Family,
    /// The other keys a step of this verb accepts.
    pub modifiers: &'static [&'static str],
    /// What it means, in asyncio's words, on one line.
    pub doc: &'static str,
}

const fn verb(
    name: &'static str,
    family: Family,
    modifiers: &'static [&'static str],
    doc: &'static str,
) -> Verb {
    Verb {
        name,
        family,
        modifiers,
        doc,
    }
}

/// Every verb of the scenario format, with its family, its modifiers and a
/// line of documentation: the one table the reader, the messages ("a step is
/// one of: …", in this order) and the format's reference follow.
#[rustfmt::skip]
pub const VERBS: &[Verb] = {
    use Family::{Control, Futures, Io, Net, Output, Sync, Tasks};
    &[
        verb("print", Output, &[], "`print(f\"…\")`: one line of output, with `{expression}` holes"),
        verb("sleep", Tasks, &[], "`await asyncio.sleep(d)`: the task waits; `0s` is a bare yield"),
        verb("block", Tasks, &[], "`time.sleep(d)` in a coroutine: the task holds the loop"),
        verb("await", Tasks, &["into"], "`x = await coro()` runs inline; `x = await t` waits for a task or future"),
        verb("spawn", Tasks, &["as", "name"], "`t = asyncio.create_task(coro(), name=…)`"),
        verb("create_task", Tasks, &["as", "name"], "the same step as `spawn`, by asyncio's name"),
        verb("unawaited", Tasks, &[], "`fetch(x)` without `await`: the mistake; the coroutine never runs and asyncio warns it was never awaited"),
        verb("cancel", Tasks, &["message"], "`t.cancel()` or `t.cancel(msg)`, of a task or a future"),
        verb("gather", Tasks, &["into", "return_exceptions", "for", "in"], "`x = await asyncio.gather(…)`"),
        verb("wait_for", Tasks, &["timeout", "into"], "`x = await asyncio.wait_for(aw, timeout)`"),
        verb("timeout", Tasks, &["steps"], "`async with asyncio.timeout(d): …`"),
        verb("as_completed", Tasks, &["as", "steps", "timeout", "for", "in"], "`for f in asyncio.as_completed(…): x = await f; …`"),
        verb("task_group", Tasks, &["into", "for", "in"], "`async with asyncio.TaskGroup() as tg:` a task per call, results in order"),
        verb("shield", Tasks, &["into"], "`x = await asyncio.shield(aw)`"),
        verb("raise", Control, &["message"], "`raise Kind(message)`; `raise = true` re-raises in a handler"),
        verb("try", Control, &["except", "as", "handler", "finally"], "`try: … except Kind as e: … finally: …`"),
        verb("return", Control, &[], "`return value`"),
        verb("if", Control, &["then", "else"], "`if cond: … else: …`"),
        verb("repeat", Control, &["steps", "index"], "`for i in range(n): …`"),
        verb("for", Control, &["in", "steps"], "`for x in items: …`"),
        verb("async_for", Control, &["in", "steps"], "`async for x in generator(): …`"),
        verb("async_with", Control, &["as", "steps"], "`async with manager() as x: …`"),
        verb("yield", Control, &[], "`yield value`, in an async generator"),
        verb("set", Control, &["to"], "`x = value`"),
        verb("future", Futures, &[], "`f = loop.create_future()`"),
        verb("call_later", Futures, &["set_result", "value", "steps"], "`loop.call_later(d, f.set_result, v)`, or a callback of plain steps"),
        verb("call_soon", Futures, &[], "`loop.call_soon(cb)`, a callback of plain steps"),
        verb("set_result", Futures, &["value"], "`f.set_result(value)`"),
        verb("lock", Sync, &["steps"], "`async with lock: …`"),
        verb("semaphore", Sync, &["steps"], "`async with sem: …`"),
        verb("section", Output, &["steps"], "a named region, for concurrency claims"),
        verb("event_set", Sync, &[], "`event.set()`"),
        verb("event_wait", Sync, &[], "`await event.wait()`"),
        verb("event_clear", Sync, &[], "`event.clear()`"),
        verb("put", Sync, &["value"], "`await q.put(v)`"),
        verb("put_nowait", Sync, &["value"], "`q.put_nowait(v)`, raising `QueueFull`"),
        verb("get", Sync, &["into"], "`x = await q.get()`"),
        verb("get_nowait", Sync, &["into"], "`x = q.get_nowait()`, raising `QueueEmpty`"),
        verb("task_done", Sync, &[], "`q.task_done()`"),
        verb("join", Sync, &[], "`await q.join()`"),
        verb("while", Control, &["steps"], "`while cond: …`"),
        verb("break", Control, &[], "`break` out of the innermost loop"),
        verb("continue", Control, &[], "`continue` with the innermost loop's next round"),
        verb("acquire", Sync, &[], "`await lock.acquire()` (or a semaphore's), held until a `release`"),
        verb("release", Sync, &[], "`lock.release()` or `sem.release()`"),
        verb("call", Io, &[], "`await api.call()`: one request to a service of `[services]`"),
        verb("to_thread", Io, &["work"], "`await asyncio.to_thread(work, d)`: blocking I/O (`work = \"cpu\"`: CPU-bound) on the default thread pool"),
        verb("run_in_executor", Io, &["duration", "work"], "`await loop.run_in_executor(pool, work, d)` on a pool of `[pools]`"),
        verb("start_server", Net, &["host", "port"], "`await asyncio.start_server(handle, host, port)`: a task `handle(conn)` per connection"),
        verb("open_connection", Net, &["from", "into"], "`conn = await asyncio.open_connection(host, port)` from host `from`"),
        verb("send", Net, &["value"], "`writer.write(value); await writer.drain()` on a connection"),
        verb("receive_line", Net, &["into"], "`line = await reader.readline()`: without its newline, `None` at the end"),
        verb("close", Net, &[], "`writer.close()`: the peer reads the end of the stream"),
        verb("partition", Net, &["from", "hold"], "cut hosts apart: their connections reset (or, `hold = true`, their traffic held)"),
        verb("heal", Net, &[], "end every partition"),
        verb("crash", Net, &[], "the host crashes: its connections reset, its servers closed"),
        verb("restart", Net, &[], "the host is up again"),
        verb("condition", Sync, &["steps"], "`async with cond: …`"),
        verb("wait", Sync, &["until"], "`await cond.wait()`; with `until`, `await cond.wait_for(pred)`"),
        verb("notify", Sync, &["n"], "`cond.notify(n)`"),
        verb("notify_all", Sync, &[], "`cond.notify_all()`"),
        verb("barrier_wait", Sync, &["into"], "`i = await barrier.wait()`"),
        verb("barrier_abort", Sync, &[], "`await barrier.abort()`"),
        verb("barrier_reset", Sync, &[], "`await barrier.reset()`"),
    ]
};

/// The verb named `name`.
pub(crate) fn find(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod tests {
    use super::{Family, VERBS, find};
    use std::collections::BTreeSet;

    /// The families whose section of the README's "Steps" documents each
    /// verb in a table row (`{ verb = …` or `` `verb = … ``).
    fn documented_in(readme: &str) -> Vec<(&'static str, BTreeSet<String>)> {
        let steps = readme
            .split("\n## ")
            .find(|s| s.starts_with("Steps\n"))
            .expect("a \"## Steps\" section");
        let mut heading = String::new();
        let mut out: Vec<(&str, BTreeSet<String>)> =
            VERBS.iter().map(|v| (v.name, BTreeSet::new())).collect();
        for line in steps.lines() {
            if let Some(h) = line.strip_prefix("### ") {
                heading = h.to_string();
            } else if line.starts_with('|') {
                for (name, seen) in &mut out {
                    if line.contains(&format!("{{ {name} ="))
                        || line.contains(&format!("`{name} = "))
                    {
                        seen.insert(heading.clone());
                    }
                }
            }
        }
        out
    }

    /// Every verb is documented in the scenario format's reference under
    /// the heading of its family, and under no other.
    #[test]
    fn the_readme_documents_every_verb_under_its_family() {
        let readme = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sim-scenarios/README.md"
        ));
        let mut wrong = Vec::new();
        for (name, seen) in documented_in(readme) {
            let family = find(name).expect("a verb of the table").family;
            let want = BTreeSet::from([family.title().to_string()]);
            if seen != want {
                wrong.push(format!(
                    "`{name}` ({}) documented under {seen:?}",
                    family.name()
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "sim-scenarios/README.md documents verbs outside their family's \"### …\" section:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn every_family_has_verbs_and_verb_names_are_unique() {
        for f in Family::ALL {
            assert!(
                VERBS.iter().any(|v| v.family == f),
                "no verb in {}",
                f.name()
            );
        }
        let names: BTreeSet<&str> = VERBS.iter().map(|v| v.name).collect();
        assert_eq!(names.len(), VERBS.len(), "a verb is listed twice");
        for v in VERBS {
            assert!(
                !v.doc.is_empty() && !v.doc.contains('\n'),
                "`{}` needs a one-line doc",
                v.name
            );
        }
    }
}
