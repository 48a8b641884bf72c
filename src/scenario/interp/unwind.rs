//! Leaving frames: a frame that runs out of steps, and a `return`, an
//! exception, `break` or `continue` unwinding down the frames (running
//! `except`, `finally` and `async with` exits, and releasing guards).

use super::catches;
use super::vm::{Completion, Frame, Guard, Kind, OpOut, Ret, Then, TryPhase, Vm, WithPhase};
use crate::TimeoutScope;
use crate::error::Error;
use crate::scenario::value::Value;
use futures::FutureExt;
use std::time::Duration;

/// `async with asyncio.timeout(d):` around a block of steps: the public
/// [`TimeoutScope`], its timer labelled as the scenario's `call_later`.
pub(super) struct TimeoutGuard(TimeoutScope);

impl TimeoutGuard {
    pub(super) fn enter(delay: Duration) -> TimeoutGuard {
        TimeoutGuard(TimeoutScope::named("call_later", delay))
    }

    /// `__aexit__`: the block's `CancelledError` becomes `TimeoutError` when
    /// it is the timeout's.
    pub(super) fn exit(self, c: Option<Completion>) -> Option<Completion> {
        let cancelled = matches!(&c, Some(Completion::Raise(e)) if super::is_cancelled_error(e));
        if self.0.exit(cancelled) {
            Some(Completion::Raise(Error::Timeout))
        } else {
            c
        }
    }
}

impl Vm {
    /// The top frame ran out of steps.
    pub(super) fn finish_frame(&mut self) {
        let top = self.frames.last_mut().expect("a frame");
        match &mut top.kind {
            Kind::Call { .. } => self.unwind(Completion::Return(Value::None)),
            Kind::Block | Kind::GenBody { .. } | Kind::GenFor { .. } => {
                self.frames.pop();
            }
            Kind::Repeat { i, n, .. } => {
                *i += 1;
                if *i < *n
                    && let Err(e) = self.count_step(None)
                {
                    return self.unwind(Completion::Raise(e));
                }
                let top = self.frames.last_mut().expect("a frame");
                let Kind::Repeat { i, n, index } = &mut top.kind else {
                    unreachable!("the loop's frame")
                };
                if *i < *n {
                    let (i, index) = (*i, index.clone());
                    top.pc = 0;
                    self.assign(&index, Value::Int(i));
                } else {
                    self.frames.pop();
                }
            }
            Kind::For { items, i, .. } => {
                *i += 1;
                if *i < items.len()
                    && let Err(e) = self.count_step(None)
                {
                    return self.unwind(Completion::Raise(e));
                }
                let top = self.frames.last_mut().expect("a frame");
                let Kind::For { items, i, var } = &mut top.kind else {
                    unreachable!("the loop's frame")
                };
                if *i < items.len() {
                    let (v, var) = (items[*i].clone(), var.clone());
                    top.pc = 0;
                    self.assign(&Some(var), v);
                } else {
                    self.frames.pop();
                }
            }
            Kind::While { cond } => {
                let cond = cond.clone();
                let more = self.count_step(None).and_then(|()| self.eval(&cond));
                match more {
                    Ok(v) if v.truthy() => {
                        self.frames.last_mut().expect("the loop").pc = 0;
                    }
                    Ok(_) => {
                        self.frames.pop();
                    }
                    Err(e) => {
                        self.frames.pop();
                        self.unwind(Completion::Raise(e));
                    }
                }
            }
            Kind::AsCompleted { it, .. } => {
                if it.borrow().as_ref().is_some_and(|i| i.remaining() > 0) {
                    let slot = it.clone();
                    self.start(
                        async move {
                            // Taken out for the await, put back after.
                            let Some(mut it) = slot.borrow_mut().take() else {
                                return OpOut::Val(Err(Error::raised(
                                    "RuntimeError",
                                    "as_completed iterator lost",
                                )));
                            };
                            let r = it.next().await;
                            *slot.borrow_mut() = Some(it);
                            OpOut::Val(r.unwrap_or(Ok(Ok(Value::None))).and_then(|v| v))
                        }
                        .boxed_local(),
                        Then::AsCompletedNext,
                    );
                } else {
                    self.frames.pop();
                }
            }
            Kind::Try {
                phase,
                finally,
                pending,
                ..
            } => {
                if *phase != TryPhase::Finally && !finally.is_empty() {
                    *phase = TryPhase::Finally;
                    *pending = None;
                    top.steps = finally.clone();
                    top.pc = 0;
                } else {
                    let pending = pending.take();
                    self.frames.pop();
                    if let Some(c) = pending {
                        self.unwind(*c);
                    }
                }
            }
            Kind::Guard(g) => {
                let g = g.take();
                self.frames.pop();
                if let Some(Guard::Timeout(t)) = g
                    && let Some(c) = t.exit(None)
                {
                    self.unwind(c);
                }
            }
            Kind::With { phase, .. } => {
                if *phase == WithPhase::Body {
                    *phase = WithPhase::Exit;
                    self.push_exit();
                } else {
                    self.frames.pop();
                }
            }
        }
    }

    /// Pushes the `exit` call of the `async with` frame on top.
    fn push_exit(&mut self) {
        let top = self.frames.last_mut().expect("the with frame");
        let Kind::With { ctx, ctx_vars, .. } = &mut top.kind else {
            unreachable!("push_exit on a with frame")
        };
        let ctx = ctx.clone();
        let vars = ctx_vars.take().unwrap_or_default();
        let index = self.frames.len();
        self.calls += 1;
        self.frames.push(Frame {
            steps: ctx.exit.clone(),
            pc: 0,
            scope: index,
            vars: Some(vars),
            kind: Kind::Call {
                ret: Ret::WithExit,
                gen_for: None,
            },
        });
    }

    /// Propagates a `return` or an exception down the frames, running the
    /// handlers on the way; stops where execution resumes.
    pub(super) fn unwind(&mut self, mut c: Completion) {
        loop {
            let Some(top) = self.frames.last_mut() else {
                self.result = Some(match c {
                    Completion::Return(v) => Ok(v),
                    Completion::Raise(e) => Err(e),
                    Completion::Break | Completion::Continue => {
                        unreachable!("validation puts break/continue inside a loop")
                    }
                });
                return;
            };
            match &mut top.kind {
                Kind::Call { ret, .. } => {
                    let ret = ret.clone();
                    let frame = self.frames.pop().expect("top");
                    self.calls -= 1;
                    match c {
                        Completion::Return(v) => {
                            self.deliver(ret, v, frame);
                            return;
                        }
                        Completion::Raise(e) => {
                            if let Ret::WithExit = ret {
                                // An exception in `exit` replaces the pending one.
                                self.frames.pop();
                            }
                            c = Completion::Raise(e);
                        }
                        Completion::Break | Completion::Continue => {
                            unreachable!("validation keeps break/continue inside their coroutine")
                        }
                    }
                }
                Kind::GenBody { gen_for } => {
                    // Leaving an `async for` body abandons the generator.
                    let g = *gen_for;
                    while self.frames.len() > g {
                        if let Some(Frame {
                            kind: Kind::Call { .. },
                            ..
                        }) = self.frames.last()
                        {
                            self.calls -= 1;
                        }
                        self.frames.pop();
                    }
                }
                Kind::Try {
                    handler,
                    finally,
                    phase,
                    pending,
                    caught,
                } => {
                    if let (TryPhase::Body, Completion::Raise(e), Some(h)) =
                        (*phase, &c, handler.as_ref())
                        && catches(&h.kinds, e)
                    {
                        let (body, bind) = (h.body.clone(), h.bind.clone());
                        let err = e.clone();
                        *caught = Some(Box::new(err.clone()));
                        *phase = TryPhase::Handler;
                        top.steps = body;
                        top.pc = 0;
                        // `except CancelledError as e`: `str(e)` is the
                        // cancel message, which the error carries.
                        self.assign(&bind, Value::Error(err));
                        return;
                    }
                    if *phase != TryPhase::Finally && !finally.is_empty() {
                        *phase = TryPhase::Finally;
                        *pending = Some(Box::new(c));
                        top.steps = finally.clone();
                        top.pc = 0;
                        return;
                    }
                    self.frames.pop();
                }
                Kind::Guard(g) => {
                    let g = g.take();
                    self.frames.pop();
                    if let Some(Guard::Timeout(t)) = g {
                        match t.exit(Some(c)) {
                            Some(next) => c = next,
                            None => return,
                        }
                    }
                }
                Kind::With { phase, pending, .. } => {
                    if *phase == WithPhase::Body {
                        *phase = WithPhase::Exit;
                        *pending = Some(Box::new(c));
                        self.push_exit();
                        return;
                    }
                    self.frames.pop();
                }
                Kind::Repeat { .. } | Kind::For { .. } | Kind::While { .. }
                    if matches!(c, Completion::Break | Completion::Continue) =>
                {
                    if matches!(c, Completion::Break) {
                        self.frames.pop();
                    } else {
                        let top = self.frames.last_mut().expect("the loop");
                        top.pc = top.steps.len();
                    }
                    return;
                }
                Kind::Block
                | Kind::GenFor { .. }
                | Kind::Repeat { .. }
                | Kind::For { .. }
                | Kind::While { .. }
                | Kind::AsCompleted { .. } => {
                    self.frames.pop();
                }
            }
        }
    }

    /// A call returned `v`.
    fn deliver(&mut self, ret: Ret, v: Value, frame: Frame) {
        match ret {
            Ret::Var(into) => self.assign(&into, v),
            Ret::Main => {
                if self.frames.is_empty() {
                    self.result = Some(Ok(v));
                }
            }
            Ret::Gen => {
                // The generator finished: so does the `async for`.
                self.frames.pop();
            }
            Ret::WithEnter => {
                let top = self.frames.last_mut().expect("the with frame");
                let Kind::With {
                    bind,
                    body,
                    phase,
                    ctx_vars,
                    ..
                } = &mut top.kind
                else {
                    unreachable!("enter returns to its with frame")
                };
                *phase = WithPhase::Body;
                *ctx_vars = frame.vars;
                let bind = bind.clone();
                top.steps = body.clone();
                top.pc = 0;
                self.assign(&bind, v);
            }
            Ret::WithExit => {
                let top = self.frames.pop().expect("the with frame");
                if let Kind::With {
                    pending: Some(c), ..
                } = top.kind
                {
                    self.unwind(*c);
                }
            }
        }
    }
}
