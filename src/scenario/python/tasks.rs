//! Translating tasks steps to Python.

use super::{Unsupported, Writer};
use crate::scenario::expr::Expr;
use crate::scenario::model::{Target, TaskStep};

impl Writer {
    /// Writes a TaskStep as Python lines.
    pub(super) fn tasks(&mut self, step: &TaskStep) -> Result<(), Unsupported> {
        match step {
            TaskStep::Sleep(e) => {
                let e = self.expr(e)?;
                self.line(&format!("await asyncio.sleep({e})"));
            }
            TaskStep::Block(e) => {
                let e = self.expr(e)?;
                self.line(&format!("block({e})"));
            }
            TaskStep::Unawaited(call) => {
                // The coroutine object is made and dropped: CPython prints
                // the RuntimeWarning to stderr; the output is unchanged.
                let c = self.call(call)?;
                self.line(&c);
            }
            TaskStep::Spawn { call, bind, name } => {
                let c = self.call(call)?;
                let name = match name {
                    Some(t) => format!(", name={}", self.template(t)?),
                    None => String::new(),
                };
                self.assign(bind, &format!("asyncio.create_task({c}{name})"));
            }
            TaskStep::Await { target, into } => {
                let t = self.target(target)?;
                self.assign(into, &format!("await {t}"));
            }
            TaskStep::Cancel(e) => {
                let e = self.expr(e)?;
                self.line(&format!("{e}.cancel()"));
            }
            TaskStep::CancelWith { task, message } => {
                let e = self.expr(task)?;
                let m = self.template(message)?;
                self.line(&format!("{e}.cancel({m})"));
            }
            TaskStep::Gather {
                items,
                each,
                return_exceptions,
                into,
            } => {
                let mut items = self.targets(items, each)?;
                // A single value may hold a list of tasks: spread it.
                if is_single_value(step) {
                    items = format!("*_spread({items})");
                }
                let re = if *return_exceptions {
                    ", return_exceptions=True"
                } else {
                    ""
                };
                self.assign(into, &format!("await asyncio.gather({items}{re})"));
            }
            TaskStep::WaitFor {
                target,
                timeout,
                into,
            } => {
                let t = self.target(target)?;
                let d = self.expr(timeout)?;
                self.assign(into, &format!("await asyncio.wait_for({t}, {d})"));
            }
            TaskStep::Timeout { delay, body } => {
                let d = self.expr(delay)?;
                self.line(&format!("async with asyncio.timeout({d}):"));
                self.block(body)?;
            }
            TaskStep::AsCompleted {
                items,
                each,
                bind,
                body,
                timeout,
            } => {
                let items = self.targets(items, each)?;
                let t = match timeout {
                    Some(t) => format!(", timeout={}", self.expr(t)?),
                    None => String::new(),
                };
                let f = self.fresh();
                self.line(&format!("for {f} in asyncio.as_completed([{items}]{t}):"));
                self.depth += 1;
                self.line(&format!("{bind} = await {f}"));
                self.steps(body)?;
                self.depth -= 1;
            }
            TaskStep::TaskGroup { calls, each, into } => {
                let targets: Vec<Target> = calls.iter().cloned().map(Target::Call).collect();
                let items = self.targets(&targets, each)?;
                let (tg, ts) = (self.fresh(), self.fresh());
                self.line(&format!("async with asyncio.TaskGroup() as {tg}:"));
                self.depth += 1;
                self.line(&format!("{ts} = [{tg}.create_task(c) for c in [{items}]]"));
                self.depth -= 1;
                self.assign(into, &format!("[t.result() for t in {ts}]"));
            }
            TaskStep::Shield { target, into } => {
                let t = self.target(target)?;
                self.assign(into, &format!("await asyncio.shield({t})"));
            }
        }
        Ok(())
    }
}

/// `gather = "handles"`: one value (not a call) that may hold a list of tasks.
fn is_single_value(s: &TaskStep) -> bool {
    matches!(s, TaskStep::Gather { items, each: None, .. }
        if items.len() == 1 && matches!(&items[0], Target::Value(Expr::Var(_))))
}
