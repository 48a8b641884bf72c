//! Whole-program checks: generators only with `async_for`, and call cycles
//! that can never end.

use super::*;

pub(super) fn contains_yield(steps: &[Step]) -> bool {
    steps.iter().any(|s| {
        matches!(s.kind, StepKind::Yield(_))
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
        match &s.kind {
            StepKind::AsyncWith { ctx: c, .. } | StepKind::AsyncFor { generator: c, .. } => {
                out.push((c.name.clone(), s.line))
            }
            _ => {}
        }
        match &s.kind {
            StepKind::Timeout { body, .. }
            | StepKind::AsyncWith { body, .. }
            | StepKind::Lock { body, .. }
            | StepKind::Semaphore { body, .. }
            | StepKind::Section { body, .. } => unconditional_calls(body, out),
            StepKind::Try { body, finally, .. } => {
                unconditional_calls(body, out);
                unconditional_calls(finally, out);
            }
            StepKind::Raise { .. } | StepKind::Return(_) => return,
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
        if let StepKind::AsyncFor { generator, .. } = &s.kind
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
    // Depth-first search for a cycle; report each cycle once.
    let mut reported = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()], 0usize)];
        let mut seen = BTreeSet::new();
        while let Some((node, path, line)) = stack.pop() {
            for (next, l) in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(next.clone());
                    let mut key: Vec<String> = cycle[..cycle.len() - 1].to_vec();
                    key.sort();
                    if reported.insert(key) {
                        let at_line = if line == 0 { *l } else { line };
                        cx.diags.push(Diagnostic {
                            file: cx.file.to_string(),
                            line: at_line,
                            col: 1,
                            message: format!("unbounded recursion: {} calls itself for ever", cycle.join(" → ")),
                            hint: Some(
                                "nothing stops the recursion: put the call inside a `repeat` with a count that reaches 0, or remove it".into(),
                            ),
                        });
                    }
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p, if line == 0 { *l } else { line }));
                }
            }
        }
    }
}
