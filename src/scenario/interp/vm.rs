//! The VM: one per task (or callback), running steps from an explicit stack
//! of frames, with at most one operation (a future of the public API) in
//! flight; polling it is the loop of fetch, execute, complete.

use super::Program;
use super::unwind::TimeoutGuard;
use crate::AsCompleted;
use crate::SectionGuard;
use crate::error::Error;
use crate::scenario::expr::Expr;
use crate::scenario::model::{ContextManager, Coroutine, Handler, Step};
use crate::scenario::value::{Value, VmResult};
use crate::section;
use crate::sync::{LockGuard, SemaphorePermit};
use crate::task::CancelScope;
use futures::FutureExt;
use futures::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Where a call's return value goes.
#[derive(Clone, Debug)]
pub(super) enum Ret {
    /// Into a variable of the caller (or nowhere).
    Var(Option<String>),
    /// The main coroutine: the VM's result.
    Main,
    /// An async generator driven by the `GenFor` frame below.
    Gen,
    /// A context manager's `enter`: bind `as`, then run the body.
    WithEnter,
    /// A context manager's `exit`: finish the `async with`.
    WithExit,
}

pub(super) enum Completion {
    Return(Value),
    Raise(Error),
    /// `break` / `continue`: unwinds to the innermost loop frame (running
    /// `finally` steps and leaving guards on the way).
    Break,
    Continue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TryPhase {
    Body,
    Handler,
    Finally,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WithPhase {
    Enter,
    Body,
    Exit,
}

pub(super) enum Guard {
    Lock(
        #[allow(dead_code)] SectionGuard,
        #[allow(dead_code)] LockGuard,
    ),
    Permit(
        #[allow(dead_code)] SectionGuard,
        #[allow(dead_code)] SemaphorePermit,
    ),
    Section(#[allow(dead_code)] SectionGuard),
    /// `async with cond:` — the guard is taken out while `wait` waits.
    Condition(String, Option<crate::sync::ConditionGuard>),
    Timeout(TimeoutGuard),
}

/// What a frame is. Its rare, large parts (a `try`'s handler, pending
/// completion and caught error, a `while`'s condition, a `with`'s pending
/// completion) are boxed: every task's VM holds frames, and a frame is
/// moved and allocated with every call (under 160 bytes, where unboxed it
/// was 256).
pub(super) enum Kind {
    Call {
        ret: Ret,
        gen_for: Option<usize>,
    },
    Block,
    GenBody {
        gen_for: usize,
    },
    GenFor {
        var: String,
        body: Rc<[Step]>,
    },
    Repeat {
        i: i64,
        n: i64,
        index: Option<String>,
    },
    For {
        items: Rc<Vec<Value>>,
        i: usize,
        var: String,
    },
    While {
        cond: Box<Expr>,
    },
    AsCompleted {
        it: Rc<RefCell<Option<AsCompleted<VmResult>>>>,
        var: String,
    },
    Try {
        handler: Option<Box<Handler>>,
        finally: Rc<[Step]>,
        phase: TryPhase,
        pending: Option<Box<Completion>>,
        /// The exception the handler is handling (a bare `raise` raises it).
        caught: Option<Box<Error>>,
    },
    Guard(Option<Guard>),
    With {
        ctx: Rc<ContextManager>,
        bind: Option<String>,
        body: Rc<[Step]>,
        phase: WithPhase,
        pending: Option<Box<Completion>>,
        ctx_vars: Option<BTreeMap<String, Value>>,
    },
}

pub(super) struct Frame {
    pub(super) steps: Rc<[Step]>,
    pub(super) pc: usize,
    /// Index of the frame that holds this frame's variables.
    pub(super) scope: usize,
    pub(super) vars: Option<BTreeMap<String, Value>>,
    pub(super) kind: Kind,
}

pub(super) enum OpOut {
    Val(VmResult),
    Cond(crate::sync::ConditionGuard),
    Lock(LockGuard),
    Permit(SemaphorePermit),
}

pub(super) enum Then {
    Assign(Option<String>),
    Discard,
    TaskResult(Option<String>),
    PushLock(String, Rc<[Step]>),
    PushCondition(String, Rc<[Step]>),
    /// A `wait` is over: the guard goes back to the frame at this index.
    PutCondition(usize),
    PushPermit(String, Rc<[Step]>),
    AsCompletedNext,
}

pub(super) struct Op {
    pub(super) fut: OpFut,
    pub(super) then: Then,
}

/// What an operation awaits: a sleep held as it is (the commonest step,
/// no box), or any other future, boxed.
pub(super) enum OpFut {
    Sleep(crate::sleep::Sleep),
    Boxed(LocalBoxFuture<'static, OpOut>),
}

impl OpFut {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<OpOut> {
        match self {
            OpFut::Sleep(s) => Pin::new(s).poll(cx).map(|()| OpOut::Val(Ok(Value::None))),
            OpFut::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

/// A VM's frames, innermost last: the first (a task's body) in the VM
/// itself, the others in a vector, so that a task whose body opens no block
/// and calls nothing costs no allocation beyond its own box.
#[derive(Default)]
pub(super) struct Frames {
    /// The outermost frame; `None` only when there are none at all.
    first: Option<Frame>,
    rest: Vec<Frame>,
}

impl Frames {
    pub(super) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub(super) fn push(&mut self, frame: Frame) {
        if self.first.is_none() {
            self.first = Some(frame);
        } else {
            self.rest.push(frame);
        }
    }

    pub(super) fn pop(&mut self) -> Option<Frame> {
        self.rest.pop().or_else(|| self.first.take())
    }

    pub(super) fn last(&self) -> Option<&Frame> {
        self.rest.last().or(self.first.as_ref())
    }

    pub(super) fn last_mut(&mut self) -> Option<&mut Frame> {
        match self.rest.last_mut() {
            Some(f) => Some(f),
            None => self.first.as_mut(),
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<&Frame> {
        match i {
            0 => self.first.as_ref(),
            _ => self.rest.get(i - 1),
        }
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut Frame> {
        match i {
            0 => self.first.as_mut(),
            _ => self.rest.get_mut(i - 1),
        }
    }

    pub(super) fn clear(&mut self) {
        self.rest.clear();
        self.first = None;
    }

    /// Outermost first.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &Frame> {
        self.first.iter().chain(self.rest.iter())
    }
}

impl std::ops::Index<usize> for Frames {
    type Output = Frame;
    fn index(&self, i: usize) -> &Frame {
        match i {
            0 => self.first.as_ref().expect("frame 0 exists"),
            _ => &self.rest[i - 1],
        }
    }
}

impl std::ops::IndexMut<usize> for Frames {
    fn index_mut(&mut self, i: usize) -> &mut Frame {
        match i {
            0 => self.first.as_mut().expect("frame 0 exists"),
            _ => &mut self.rest[i - 1],
        }
    }
}

/// A scenario coroutine running as (part of) a task.
pub(super) struct Vm {
    pub(super) prog: Rc<Program>,
    pub(super) frames: Frames,
    pub(super) op: Option<Op>,
    pub(super) catcher: Option<CancelScope>,
    pub(super) result: Option<VmResult>,
    pub(super) calls: usize,
    /// The line of the step executing, for limit messages.
    pub(super) line: usize,
}

impl Vm {
    pub(super) fn new(prog: Rc<Program>) -> Vm {
        Vm {
            prog,
            frames: Frames::default(),
            op: None,
            catcher: None,
            result: None,
            calls: 0,
            line: 0,
        }
    }

    /// A VM that runs `call` (a new task's body).
    pub(super) fn for_call(prog: Rc<Program>, co: &Rc<Coroutine>, args: Vec<Value>) -> Vm {
        let mut vm = Vm::new(prog);
        if let Err(e) = vm.push_call(co, args, Ret::Main) {
            vm.result = Some(Err(e));
        }
        vm
    }

    pub(super) fn push_call(
        &mut self,
        co: &Rc<Coroutine>,
        args: Vec<Value>,
        ret: Ret,
    ) -> Result<(), Error> {
        self.push_frame_call(co.params.clone(), co.body.clone(), args, ret, None)
    }

    pub(super) fn push_frame_call(
        &mut self,
        params: Vec<String>,
        body: Rc<[Step]>,
        args: Vec<Value>,
        ret: Ret,
        gen_for: Option<usize>,
    ) -> Result<(), Error> {
        if self.calls as u64 >= self.prog.scenario.settings.max_call_depth {
            return Err(Error::raised(
                "RecursionError",
                "maximum recursion depth exceeded",
            ));
        }
        self.calls += 1;
        let vars: BTreeMap<String, Value> = params.into_iter().zip(args).collect();
        let index = self.frames.len();
        self.frames.push(Frame {
            steps: body,
            pc: 0,
            scope: index,
            vars: Some(vars),
            kind: Kind::Call { ret, gen_for },
        });
        Ok(())
    }

    pub(super) fn push_block(&mut self, steps: Rc<[Step]>, kind: Kind) {
        let scope = self.frames.last().map(|f| f.scope).unwrap_or(0);
        self.frames.push(Frame {
            steps,
            pc: 0,
            scope,
            vars: None,
            kind,
        });
    }

    pub(super) fn scope_mut(&mut self) -> &mut BTreeMap<String, Value> {
        let s = self.frames.last().expect("a frame").scope;
        self.frames[s]
            .vars
            .as_mut()
            .expect("scope frames hold variables")
    }

    pub(super) fn assign(&mut self, var: &Option<String>, v: Value) {
        if let Some(name) = var {
            self.scope_mut().insert(name.clone(), v);
        }
    }

    pub(super) fn start(&mut self, fut: LocalBoxFuture<'static, OpOut>, then: Then) {
        self.op = Some(Op {
            fut: OpFut::Boxed(fut),
            then,
        });
    }

    /// Awaits a sleep (its result is `None`).
    pub(super) fn start_sleep(&mut self, sleep: crate::sleep::Sleep, then: Then) {
        self.op = Some(Op {
            fut: OpFut::Sleep(sleep),
            then,
        });
    }

    pub(super) fn start_val(&mut self, fut: impl Future<Output = VmResult> + 'static, then: Then) {
        self.start(async move { OpOut::Val(fut.await) }.boxed_local(), then);
    }

    /// An operation finished: deliver its result.
    pub(super) fn complete(&mut self, then: Then, out: OpOut) {
        let r = match (then, out) {
            (Then::Assign(into), OpOut::Val(r)) => r.map(|v| self.assign(&into, v)),
            (Then::Discard, OpOut::Val(r)) => r.map(|_| ()),
            (Then::TaskResult(into), OpOut::Val(r)) => r.map(|v| self.assign(&into, v)),
            (Then::PushCondition(name, body), OpOut::Cond(g)) => {
                self.push_block(body, Kind::Guard(Some(Guard::Condition(name, Some(g)))));
                Ok(())
            }
            (Then::PutCondition(i), OpOut::Cond(g)) => {
                if let Some(Frame {
                    kind: Kind::Guard(Some(Guard::Condition(_, slot))),
                    ..
                }) = self.frames.get_mut(i)
                {
                    *slot = Some(g);
                }
                Ok(())
            }
            (Then::PushLock(name, body), OpOut::Lock(g)) => {
                let s = section(&name);
                self.push_block(body, Kind::Guard(Some(Guard::Lock(s, g))));
                Ok(())
            }
            (Then::PushPermit(name, body), OpOut::Permit(p)) => {
                let s = section(&name);
                self.push_block(body, Kind::Guard(Some(Guard::Permit(s, p))));
                Ok(())
            }
            (Then::AsCompletedNext, OpOut::Val(r)) => match r {
                Ok(v) => {
                    let top = self.frames.last_mut().expect("the as_completed frame");
                    top.pc = 0;
                    let Kind::AsCompleted { var, .. } = &top.kind else {
                        unreachable!("AsCompletedNext runs on its frame")
                    };
                    let var = var.clone();
                    self.assign(&Some(var), v);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => unreachable!("operations produce what their continuation expects"),
        };
        if let Err(e) = r {
            self.unwind(Completion::Raise(super::entering(e)));
        }
    }

    pub(super) fn ensure_catcher(&mut self) {
        if self.catcher.is_none() {
            self.catcher = CancelScope::enter();
        }
    }

    pub(super) fn release_catcher(&mut self) {
        self.catcher = None;
    }
}

impl Future for Vm {
    type Output = VmResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<VmResult> {
        let this = self.get_mut();
        loop {
            this.ensure_catcher();
            if this
                .catcher
                .as_ref()
                .is_some_and(CancelScope::is_delivering)
            {
                if let Some(scope) = this.catcher.take() {
                    scope.catch();
                }
                this.op = None;
                this.unwind(Completion::Raise(super::entering(Error::Cancelled)));
                continue;
            }
            if let Some(op) = this.op.as_mut() {
                match op.fut.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(out) => {
                        let op = this.op.take().expect("polled above");
                        this.complete(op.then, out);
                        continue;
                    }
                }
            }
            if let Some(result) = this.result.take() {
                this.release_catcher();
                if let Err(e) = &result
                    && super::is_cancelled_error(e)
                {
                    // Uncaught CancelledError: the task ends cancelled, with
                    // the error's message.
                    let msg = super::cancelled_message(e).unwrap_or("");
                    let mut raise = crate::raise_cancelled_with_message(msg);
                    return match Pin::new(&mut raise).poll(cx) {
                        Poll::Pending => Poll::Pending,
                    };
                }
                return Poll::Ready(result);
            }
            let Some(top) = this.frames.last_mut() else {
                this.result = Some(Ok(Value::None));
                continue;
            };
            if top.pc < top.steps.len() {
                let steps = top.steps.clone();
                let step = &steps[top.pc];
                top.pc += 1;
                if let Err(e) = this.exec(step) {
                    if crate::limit_hit().is_some() {
                        return Poll::Pending;
                    }
                    this.unwind(Completion::Raise(e));
                }
            } else {
                this.finish_frame();
            }
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // Release guards (locks, permits, sections) before the catcher.
        self.op = None;
        self.frames.clear();
        self.release_catcher();
    }
}
