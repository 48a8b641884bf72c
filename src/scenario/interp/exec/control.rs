//! Control flow: each step pushes a frame (a block, a loop, a `try`, a
//! generator, an `async with`) or unwinds to one; `unwind.rs` leaves them.

use crate::error::Error;
use crate::scenario::interp::vm::{Completion, Frame, Kind, Ret, TryPhase, Vm, WithPhase};
use crate::scenario::interp::{exception, type_error};
use crate::scenario::model::ControlStep;
use crate::scenario::value::Value;
use std::rc::Rc;

impl Vm {
    /// Executes a control-flow step: variables, branches, loops, exceptions, generators and context managers.
    pub(super) fn exec_control(&mut self, step: &ControlStep) -> Result<(), Error> {
        match step {
            ControlStep::Set { var, value } => {
                let v = self.eval(value)?;
                self.assign(&Some(var.clone()), v);
            }
            ControlStep::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if self.eval(cond)?.truthy() {
                    then
                } else {
                    otherwise
                };
                if !branch.is_empty() {
                    self.push_block(branch.clone(), Kind::Block);
                }
            }
            ControlStep::While { cond, body } => {
                if self.eval(cond)?.truthy() {
                    self.push_block(
                        body.clone(),
                        Kind::While {
                            cond: Box::new(cond.clone()),
                        },
                    );
                }
            }
            ControlStep::Repeat { times, index, body } => {
                let n = match self.eval(times)? {
                    Value::Int(n) => n,
                    other => {
                        return Err(type_error(format!(
                            "`repeat` needs an int, got {}",
                            other.type_name()
                        )));
                    }
                };
                if n > 0 {
                    self.push_block(
                        body.clone(),
                        Kind::Repeat {
                            i: 0,
                            n,
                            index: index.clone(),
                        },
                    );
                    self.assign(index, Value::Int(0));
                }
            }
            ControlStep::For { var, iter, body } => {
                let items = match self.eval(iter)? {
                    Value::List(l) => l,
                    // A dict iterates over its keys.
                    Value::Dict(d) => Rc::new(d.iter().map(|(k, _)| k.clone()).collect()),
                    Value::Str(s) => {
                        Rc::new(s.chars().map(|c| Value::str(&c.to_string())).collect())
                    }
                    other => {
                        return Err(type_error(format!(
                            "'{}' object is not iterable",
                            other.type_name()
                        )));
                    }
                };
                if !items.is_empty() {
                    let first = items[0].clone();
                    self.push_block(
                        body.clone(),
                        Kind::For {
                            items,
                            i: 0,
                            var: var.clone(),
                        },
                    );
                    self.assign(&Some(var.clone()), first);
                }
            }
            ControlStep::Break => self.unwind(Completion::Break),
            ControlStep::Continue => self.unwind(Completion::Continue),
            ControlStep::Try {
                body,
                handler,
                finally,
            } => self.push_block(
                body.clone(),
                Kind::Try {
                    handler: handler.clone().map(Box::new),
                    finally: finally.clone(),
                    phase: TryPhase::Body,
                    pending: None,
                    caught: None,
                },
            ),
            ControlStep::Raise { kind, message } => {
                let msg = match message {
                    Some(t) => self.render(t)?,
                    None => String::new(),
                };
                return Err(exception(kind, msg));
            }
            ControlStep::Reraise => {
                // The exception of the innermost handler running.
                let caught = self.frames.iter().rev().find_map(|f| match &f.kind {
                    Kind::Try {
                        phase: TryPhase::Handler,
                        caught,
                        ..
                    } => caught.as_deref().cloned(),
                    _ => None,
                });
                return Err(caught.unwrap_or_else(|| {
                    Error::raised("RuntimeError", "No active exception to reraise")
                }));
            }
            ControlStep::Return(e) => {
                let v = match e {
                    Some(e) => self.eval(e)?,
                    None => Value::None,
                };
                self.unwind(Completion::Return(v));
            }
            ControlStep::Yield(e) => {
                let v = self.eval(e)?;
                let scope = self.frames.last().expect("a frame").scope;
                let gen_for = match &self.frames[scope].kind {
                    Kind::Call {
                        gen_for: Some(g), ..
                    } => *g,
                    _ => {
                        return Err(Error::raised(
                            "RuntimeError",
                            "`yield` outside an `async_for`",
                        ));
                    }
                };
                let (var, body) = match &self.frames[gen_for].kind {
                    Kind::GenFor { var, body } => (var.clone(), body.clone()),
                    _ => unreachable!("gen_for points at a GenFor frame"),
                };
                let consumer = self.frames[gen_for].scope;
                self.frames.push(Frame {
                    steps: body,
                    pc: 0,
                    scope: consumer,
                    vars: None,
                    kind: Kind::GenBody { gen_for },
                });
                self.assign(&Some(var), v);
            }
            ControlStep::AsyncFor {
                var,
                generator,
                body,
            } => {
                let co = self.prog.scenario.coroutines[&generator.name].clone();
                if !co.is_generator {
                    return Err(type_error(format!(
                        "'async for' requires an async generator; `{}` has no `yield`",
                        generator.name
                    )));
                }
                let args = self.call_args(generator)?;
                self.push_block(
                    Rc::from(Vec::new()),
                    Kind::GenFor {
                        var: var.clone(),
                        body: body.clone(),
                    },
                );
                let gen_for = self.frames.len() - 1;
                self.push_frame_call(
                    co.params.clone(),
                    co.body.clone(),
                    args,
                    Ret::Gen,
                    Some(gen_for),
                )?;
            }
            ControlStep::AsyncWith { ctx, bind, body } => {
                let cm = self.prog.scenario.contexts[&ctx.name].clone();
                let args = self.call_args(ctx)?;
                self.push_block(
                    Rc::from(Vec::new()),
                    Kind::With {
                        ctx: cm.clone(),
                        bind: bind.clone(),
                        body: body.clone(),
                        phase: WithPhase::Enter,
                        pending: None,
                        ctx_vars: None,
                    },
                );
                self.push_frame_call(
                    cm.params.clone(),
                    cm.enter.clone(),
                    args,
                    Ret::WithEnter,
                    None,
                )?;
            }
        }
        Ok(())
    }
}
