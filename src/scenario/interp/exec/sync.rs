//! Synchronisation: steps on the run's shared primitives (`sync::Lock`,
//! `Semaphore`, `Condition`, `Barrier`, `Event`, `Queue`).

use crate::error::Error;
use crate::scenario::interp::Prim;
use crate::scenario::interp::type_error;
use crate::scenario::interp::vm::{Guard, Kind, OpOut, Then, Vm};
use crate::scenario::model::SyncStep;
use crate::scenario::value::Value;
use crate::section;
use futures::FutureExt;

impl Vm {
    /// Executes a step on a shared primitive.
    pub(super) fn exec_sync(&mut self, step: &SyncStep) -> Result<(), Error> {
        match step {
            SyncStep::Lock { name, body } => {
                let lock = self.prog.lock(name);
                self.start(
                    async move { OpOut::Lock(lock.acquire().await) }.boxed_local(),
                    Then::PushLock(name.clone(), body.clone()),
                );
            }
            SyncStep::Semaphore { name, body } => {
                let sem = self.prog.semaphore(name);
                self.start(
                    async move { OpOut::Permit(sem.acquire().await) }.boxed_local(),
                    Then::PushPermit(name.clone(), body.clone()),
                );
            }
            SyncStep::Acquire(name) => {
                let prog = self.prog.clone();
                let name = name.clone();
                self.start_val(
                    async move {
                        match &prog.prims[&name] {
                            Prim::Lock(l) => l.acquire().await.forget(),
                            _ => prog.semaphore(&name).acquire().await.forget(),
                        }
                        let g = section(&name);
                        prog.held.borrow_mut().entry(name).or_default().push_back(g);
                        Ok(Value::Bool(true))
                    },
                    Then::Discard,
                );
            }
            SyncStep::Release(name) => {
                match &self.prog.prims[name] {
                    Prim::Lock(l) => l.release()?,
                    _ => self.prog.semaphore(name).release()?,
                }
                let g = self
                    .prog
                    .held
                    .borrow_mut()
                    .get_mut(name)
                    .and_then(std::collections::VecDeque::pop_front);
                drop(g);
            }
            SyncStep::Condition { name, body } => {
                let cond = self.prog.condition(name);
                self.start(
                    async move { OpOut::Cond(cond.acquire().await) }.boxed_local(),
                    Then::PushCondition(name.clone(), body.clone()),
                );
            }
            SyncStep::CondWait(name) => {
                let (i, g) = self.condition_guard(name, "wait on")?;
                self.start(
                    async move { OpOut::Cond(g.wait().await) }.boxed_local(),
                    Then::PutCondition(i),
                );
            }
            SyncStep::Notify { name, n } => {
                let n = match self.eval(n)? {
                    Value::Int(n) => usize::try_from(n).unwrap_or(0),
                    other => {
                        return Err(type_error(format!(
                            "notify() needs an int, got {}",
                            other.type_name()
                        )));
                    }
                };
                self.with_condition_guard(name, "notify on", |g| g.notify(n))?;
            }
            SyncStep::NotifyAll(name) => {
                self.with_condition_guard(name, "notify on", |g| g.notify_all())?;
            }
            SyncStep::BarrierWait { name, into } => {
                let b = self.prog.barrier(name);
                self.start_val(
                    async move { b.wait().await.map(|i| Value::Int(i as i64)) },
                    Then::Assign(into.clone()),
                );
            }
            SyncStep::BarrierAbort(name) | SyncStep::BarrierReset(name) => {
                let b = self.prog.barrier(name);
                let abort = matches!(step, SyncStep::BarrierAbort(_));
                self.start_val(
                    async move {
                        if abort {
                            b.abort().await;
                        } else {
                            b.reset().await;
                        }
                        Ok(Value::None)
                    },
                    Then::Discard,
                );
            }
            SyncStep::EventSet(n) => self.prog.event(n).set(),
            SyncStep::EventWait(n) => {
                let ev = self.prog.event(n);
                self.start_val(
                    async move {
                        ev.wait().await;
                        Ok(Value::Bool(true))
                    },
                    Then::Discard,
                );
            }
            SyncStep::EventClear(n) => self.prog.event(n).clear(),
            SyncStep::Put {
                queue,
                value,
                nowait,
            } => {
                let q = self.prog.queue(queue);
                let v = self.eval(value)?;
                if *nowait {
                    q.put_nowait(v)
                        .map_err(|_| Error::raised("QueueFull", ""))?;
                } else {
                    self.start_val(
                        async move {
                            q.put(v).await;
                            Ok(Value::None)
                        },
                        Then::Discard,
                    );
                }
            }
            SyncStep::Get {
                queue,
                into,
                nowait,
            } => {
                let q = self.prog.queue(queue);
                if *nowait {
                    let v = q
                        .get_nowait()
                        .map_err(|_| Error::raised("QueueEmpty", ""))?;
                    self.assign(into, v);
                } else {
                    self.start_val(async move { Ok(q.get().await) }, Then::Assign(into.clone()));
                }
            }
            SyncStep::TaskDone(n) => self.prog.queue(n).task_done()?,
            SyncStep::Join(n) => {
                let q = self.prog.queue(n);
                self.start_val(
                    async move {
                        q.join().await;
                        Ok(Value::None)
                    },
                    Then::Discard,
                );
            }
        }
        Ok(())
    }
}

impl Vm {
    /// The innermost `condition` block of `name` in this task: its frame
    /// index. Asyncio raises `RuntimeError` when the lock is not held.
    fn condition_frame(&self, name: &str, what: &str) -> Result<usize, Error> {
        (0..self.frames.len())
            .rev()
            .find(|&i| {
                matches!(&self.frames[i].kind,
                    Kind::Guard(Some(Guard::Condition(n, Some(_)))) if n == name)
            })
            .ok_or_else(|| Error::raised("RuntimeError", format!("cannot {what} un-acquired lock")))
    }

    /// Takes the guard of the innermost `condition` block of `name` (for a
    /// `wait`, which gives it back when it returns).
    fn condition_guard(
        &mut self,
        name: &str,
        what: &str,
    ) -> Result<(usize, crate::sync::ConditionGuard), Error> {
        let i = self.condition_frame(name, what)?;
        match &mut self.frames[i].kind {
            Kind::Guard(Some(Guard::Condition(_, slot))) => {
                Ok((i, slot.take().expect("found with a guard")))
            }
            _ => unreachable!("found as a condition frame"),
        }
    }

    /// Runs `f` on the guard of the innermost `condition` block of `name`.
    fn with_condition_guard(
        &mut self,
        name: &str,
        what: &str,
        f: impl FnOnce(&crate::sync::ConditionGuard),
    ) -> Result<(), Error> {
        let i = self.condition_frame(name, what)?;
        if let Kind::Guard(Some(Guard::Condition(_, Some(g)))) = &self.frames[i].kind {
            f(g);
        }
        Ok(())
    }
}
