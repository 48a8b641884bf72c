//! Translating control steps to Python.

use super::{Unsupported, Writer, py_str};
use crate::scenario::model::ControlStep;

impl Writer {
    /// Writes a ControlStep as Python lines.
    pub(super) fn control(&mut self, step: &ControlStep) -> Result<(), Unsupported> {
        match step {
            ControlStep::Set { var, value } => {
                let e = self.expr(value)?;
                let var = self.var(var);
                self.line(&format!("{var} = {e}"));
            }
            ControlStep::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond)?;
                self.line(&format!("if {c}:"));
                self.block(then)?;
                if !otherwise.is_empty() {
                    self.line("else:");
                    self.block(otherwise)?;
                }
            }
            ControlStep::While { cond, body } => {
                let c = self.expr(cond)?;
                self.line(&format!("while {c}:"));
                self.block(body)?;
            }
            ControlStep::Repeat { times, index, body } => {
                let n = self.expr(times)?;
                let i = index.as_deref().map_or_else(|| "_".into(), |i| self.var(i));
                self.line(&format!("for {i} in range({n}):"));
                self.block(body)?;
            }
            ControlStep::For { var, iter, body } => {
                let it = self.expr(iter)?;
                let var = self.var(var);
                self.line(&format!("for {var} in {it}:"));
                self.block(body)?;
            }
            ControlStep::Break => self.line("break"),
            ControlStep::Continue => self.line("continue"),
            ControlStep::Try {
                body,
                handler,
                finally,
            } => {
                self.line("try:");
                self.block(body)?;
                if let Some(h) = handler {
                    let kinds: Vec<String> = h
                        .kinds
                        .iter()
                        .map(|k| py_str(crate::scenario::exceptions::canonical(k)))
                        .collect();
                    let bind = match &h.bind {
                        Some(_) if self.callback => " as __e".to_string(),
                        Some(b) => format!(" as {b}"),
                        None => String::new(),
                    };
                    self.line(&format!("except catches([{}]){bind}:", kinds.join(", ")));
                    if let (true, Some(b)) = (self.callback, &h.bind) {
                        self.depth += 1;
                        let b = self.var(b);
                        self.line(&format!("{b} = __e"));
                        self.depth -= 1;
                    }
                    self.block(&h.body)?;
                }
                if !finally.is_empty() {
                    self.line("finally:");
                    self.block(finally)?;
                }
            }
            ControlStep::Raise { kind, message } => {
                let m = match message {
                    Some(t) => self.template(t)?,
                    None => "\"\"".into(),
                };
                self.line(&format!(
                    "raise exc({}, {m})",
                    py_str(crate::scenario::exceptions::canonical(kind))
                ));
            }
            ControlStep::Reraise => self.line("raise"),
            ControlStep::Return(e) => match e {
                Some(e) => {
                    let e = self.expr(e)?;
                    self.line(&format!("return {e}"));
                }
                None => self.line("return"),
            },
            ControlStep::Yield(e) => {
                let e = self.expr(e)?;
                self.line(&format!("yield {e}"));
            }
            ControlStep::AsyncFor {
                var,
                generator,
                body,
            } => {
                let g = self.call(generator)?;
                self.line(&format!("async for {var} in {g}:"));
                self.block(body)?;
            }
            ControlStep::AsyncWith { ctx, bind, body } => {
                let c = self.call(ctx)?;
                let b = match bind {
                    Some(b) => format!(" as {b}"),
                    None => String::new(),
                };
                self.line(&format!("async with {c}{b}:"));
                self.block(body)?;
            }
        }
        Ok(())
    }
}
