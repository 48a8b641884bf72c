//! Whole-program checks: generators only with `async_for`, and call cycles
//! that can never end.

use super::{Ctx, did_you_mean};
use crate::scenario::Diagnostic;
use crate::scenario::model::{
    ContextManager, ControlStep, Coroutine, OutputStep, Step, StepKind, SyncStep, TaskStep,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

pub(super) fn contains_yield(steps: &[Step]) -> bool {
    steps.iter().any(|s| {
        matches!(s.kind, StepKind::Control(ControlStep::Yield(_)))
            || s.kind.bodies().into_iter().any(|b| contains_yield(b))
    })
}

/// Calls a body makes for sure (not inside a loop, a branch or a handler): an
/// inline or spawned call cycle made only of such calls never ends.
pub(super) fn unconditional_calls(steps: &[Step], out: &mut Vec<(String, usize)>) {
    for s in steps {
        out.extend(
            s.kind
                .coroutine_calls()
                .into_iter()
                .map(|c| (c.name.clone(), s.line)),
        );
        if let StepKind::Control(
            ControlStep::AsyncWith { ctx: c, .. } | ControlStep::AsyncFor { generator: c, .. },
        ) = &s.kind
        {
            out.push((c.name.clone(), s.line));
        }
        match &s.kind {
            StepKind::Tasks(TaskStep::Timeout { body, .. })
            | StepKind::Control(ControlStep::AsyncWith { body, .. })
            | StepKind::Sync(SyncStep::Lock { body, .. } | SyncStep::Semaphore { body, .. })
            | StepKind::Output(OutputStep::Section { body, .. }) => unconditional_calls(body, out),
            StepKind::Control(ControlStep::Try { body, finally, .. }) => {
                unconditional_calls(body, out);
                unconditional_calls(finally, out);
            }
            StepKind::Control(ControlStep::Raise { .. } | ControlStep::Return(_)) => return,
            _ => {}
        }
    }
}

/// Async generators go with `async_for` and nothing else.
pub(super) fn check_generators(cx: &mut Ctx<'_>, generators: &BTreeSet<&str>, steps: &[Step]) {
    let report = |cx: &mut Ctx<'_>, line: usize, msg: String, hint: &str| {
        cx.diags.push(Diagnostic {
            file: cx.file.to_string(),
            line,
            col: 1,
            message: msg,
            hint: Some(hint.to_string()),
        });
    };
    for s in steps {
        if let StepKind::Control(ControlStep::AsyncFor { generator, .. }) = &s.kind
            && !generators.contains(generator.name.as_str())
        {
            report(
                cx,
                s.line,
                format!(
                    "`async_for` needs an async generator, and `{}` has no `yield`",
                    generator.name
                ),
                "add `{ yield = \"value\" }` steps to it",
            );
        }
        for c in s.kind.coroutine_calls() {
            if generators.contains(c.name.as_str()) {
                report(
                    cx,
                    s.line,
                    format!(
                        "`{}` is an async generator (it has `yield`): it cannot be awaited or run as a task",
                        c.name
                    ),
                    "iterate it with `{ async_for = \"x\", in = \"gen()\", steps = [...] }`",
                );
            }
        }
        for body in s.kind.bodies() {
            check_generators(cx, generators, body);
        }
    }
}

pub(super) fn check_recursion(
    cx: &mut Ctx<'_>,
    coroutines: &BTreeMap<String, Rc<Coroutine>>,
    contexts: &BTreeMap<String, Rc<ContextManager>>,
) {
    let mut edges: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for (name, c) in coroutines {
        let mut out = Vec::new();
        unconditional_calls(&c.body, &mut out);
        edges.insert(name.clone(), out);
    }
    for (name, c) in contexts {
        let mut out = Vec::new();
        unconditional_calls(&c.enter, &mut out);
        unconditional_calls(&c.exit, &mut out);
        edges.insert(name.clone(), out);
    }
    // Each strongly connected component with a cycle is one unbounded
    // recursion: reported once, as its shortest cycle through its first
    // name. Linear in the number of calls (Tarjan's algorithm, iterative).
    let names: Vec<&String> = edges.keys().collect();
    let index_of: BTreeMap<&String, usize> =
        names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let adj: Vec<Vec<(usize, usize)>> = names
        .iter()
        .map(|n| {
            edges[*n]
                .iter()
                .filter_map(|(m, l)| index_of.get(m).map(|&j| (j, *l)))
                .collect()
        })
        .collect();
    for comp in strongly_connected(&adj) {
        let start = comp[0];
        let cyclic = comp.len() > 1 || adj[start].iter().any(|(j, _)| *j == start);
        if !cyclic {
            continue;
        }
        let in_comp: BTreeSet<usize> = comp.iter().copied().collect();
        // Breadth-first from `start` back to it, inside the component.
        let mut prev: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut end = None;
        'search: while let Some(u) = queue.pop_front() {
            for &(v, l) in &adj[u] {
                if v == start {
                    end = Some((u, l));
                    break 'search;
                }
                if in_comp.contains(&v) && !prev.contains_key(&v) {
                    prev.insert(v, (u, l));
                    queue.push_back(v);
                }
            }
        }
        let Some((last, last_line)) = end else {
            continue;
        };
        let mut cycle = vec![start];
        let mut line = last_line;
        let mut at = last;
        let mut back = Vec::new();
        while at != start {
            back.push(at);
            let (p, l) = prev[&at];
            line = l;
            at = p;
        }
        cycle.extend(back.into_iter().rev());
        cycle.push(start);
        let cycle: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
        cx.diags.push(Diagnostic {
            file: cx.file.to_string(),
            line,
            col: 1,
            message: format!("unbounded recursion: {} calls itself for ever", cycle.join(" → ")),
            hint: Some(
                "nothing stops the recursion: put the call inside a `repeat` with a count that reaches 0, or remove it".into(),
            ),
        });
    }
}

/// The strongly connected components of a graph given by adjacency lists
/// (each a list of (node, label)), each sorted, in order of their smallest
/// node. Tarjan's algorithm with an explicit stack: no recursion that a long
/// call chain in a file could deepen.
fn strongly_connected(adj: &[Vec<(usize, usize)>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = adj.len();
    let (mut index, mut low, mut on_stack) = (vec![UNSEEN; n], vec![0; n], vec![false; n]);
    let (mut next, mut stack, mut comps) = (0, Vec::new(), Vec::new());
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if *edge == 0 && index[v] == UNSEEN {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&(w, _)) = adj[v].get(*edge) {
                *edge += 1;
                if index[w] == UNSEEN {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                comps.push(comp);
            }
        }
    }
    comps.sort();
    comps
}

/// Every `except` names a class that exists: a builtin one or one the
/// scenario raises somewhere (a misspelt class would never match).
pub(super) fn check_handlers(
    cx: &mut Ctx<'_>,
    coroutines: &BTreeMap<String, Rc<Coroutine>>,
    contexts: &BTreeMap<String, Rc<ContextManager>>,
) {
    use crate::scenario::exceptions::{builtin_names, is_builtin};
    let mut bodies: Vec<&Rc<[Step]>> = coroutines.values().map(|c| &c.body).collect();
    for c in contexts.values() {
        bodies.push(&c.enter);
        bodies.push(&c.exit);
    }
    // Every step, without recursion.
    let mut steps: Vec<&Step> = Vec::new();
    let mut todo = bodies;
    while let Some(b) = todo.pop() {
        for s in b.iter() {
            steps.push(s);
            todo.extend(s.kind.bodies());
        }
    }
    let raised: BTreeSet<&str> = steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Control(ControlStep::Raise { kind, .. }) => Some(kind.as_str()),
            _ => None,
        })
        .collect();
    steps.sort_by_key(|s| s.line);
    for s in steps {
        let StepKind::Control(ControlStep::Try {
            handler: Some(h), ..
        }) = &s.kind
        else {
            continue;
        };
        for k in &h.kinds {
            if k == "*" || is_builtin(k) || raised.contains(k.as_str()) {
                continue;
            }
            let mut known: Vec<&str> = raised.iter().copied().collect();
            for n in builtin_names() {
                known.push(n);
            }
            let hint = did_you_mean(k, known).unwrap_or_else(
                || "name a Python exception class (`ValueError`, `TimeoutError`, …) or one this scenario raises".into(),
            );
            cx.diags.push(Diagnostic {
                file: cx.file.to_string(),
                line: s.line,
                col: 1,
                message: format!("`except {k}`: no such exception class, so it would never match"),
                hint: Some(hint),
            });
        }
    }
}
