//! Executing one step: what each kind of step does, through the public API.

use super::*;

impl Vm {
    /// Executes one step.
    pub(super) fn exec(&mut self, step: &Step) -> Result<(), Error> {
        self.line = step.line;
        self.count_step(Some(step.line))?;
        match &step.kind {
            StepKind::Print(t) => {
                let text = self.render(t)?;
                let lines = self.prog.lines.get() + 1;
                self.prog.lines.set(lines);
                if lines > self.prog.scenario.settings.max_output_lines {
                    return Err(self.over_limit(
                        "max_output_lines",
                        self.prog.scenario.settings.max_output_lines,
                        step.line,
                        "printed lines",
                    ));
                }
                let bytes = self.prog.output_bytes.get() + text.len() as u64;
                self.prog.output_bytes.set(bytes);
                if bytes > self.prog.scenario.settings.max_output_bytes {
                    return Err(self.over_limit(
                        "max_output_bytes",
                        self.prog.scenario.settings.max_output_bytes,
                        step.line,
                        "printed bytes",
                    ));
                }
                print(text);
            }
            StepKind::Sleep(e) => match self.duration(e)? {
                DurationValue::Exact(d) => self.start_val(
                    async move {
                        sleep(d).await;
                        Ok(Value::None)
                    },
                    Then::Discard,
                ),
                DurationValue::Secs(s) => self.start_val(
                    async move {
                        sleep_secs(s).await;
                        Ok(Value::None)
                    },
                    Then::Discard,
                ),
            },
            StepKind::Block(e) => block(self.duration(e)?.as_duration()),
            StepKind::Await { target, into } => match target {
                Target::Call(c) => {
                    let co = self.prog.scenario.coroutines[&c.name].clone();
                    if co.is_generator {
                        return Err(type_error(format!(
                            "object async_generator `{}` can't be used in 'await' expression",
                            c.name
                        )));
                    }
                    let args = self.call_args(c)?;
                    self.push_call(&co, args, Ret::Var(into.clone()))?;
                }
                Target::Value(e) => match self.eval(e)? {
                    Value::Task(cell) => {
                        let fut = Vm::await_task(cell.clone());
                        self.start(fut, Then::TaskResult(into.clone()));
                    }
                    Value::Future(f) => {
                        self.start_val(async move { f.await }, Then::Assign(into.clone()))
                    }
                    other => {
                        return Err(type_error(format!(
                            "object {} can't be used in 'await' expression",
                            other.type_name()
                        )));
                    }
                },
            },
            StepKind::Spawn { call, bind, name } => {
                let name = match name {
                    Some(t) => Some(self.render(t)?),
                    None => None,
                };
                let cell = self.spawn(call, name)?;
                self.assign(bind, Value::Task(cell));
            }
            StepKind::CancelWith { task, message } => {
                let msg = self.render(message)?;
                match self.eval(task)? {
                    Value::Task(cell) => {
                        cell.task.cancel_with_message(&msg);
                    }
                    Value::Future(f) => {
                        f.cancel();
                    }
                    other => {
                        return Err(type_error(format!("cannot cancel {}", other.type_name())));
                    }
                }
            }
            StepKind::Cancel(e) => match self.eval(e)? {
                Value::Task(cell) => {
                    cell.task.cancel();
                }
                Value::Future(f) => {
                    f.cancel();
                }
                other => return Err(type_error(format!("cannot cancel {}", other.type_name()))),
            },
            StepKind::Gather {
                items,
                each,
                return_exceptions,
                into,
            } => {
                let cells = self.cells_each(items, each)?;
                let handles = task_handles(&cells)?;
                let re = *return_exceptions;
                self.start_val(
                    async move {
                        if re {
                            let rs = gather_tasks_return_exceptions(handles).await;
                            Ok(Value::List(Rc::new(
                                rs.into_iter()
                                    .map(|r| r.unwrap_or_else(Value::Error))
                                    .collect(),
                            )))
                        } else {
                            let vs = gather_tasks(handles).await?;
                            Ok(Value::List(Rc::new(vs)))
                        }
                    },
                    Then::Assign(into.clone()),
                );
            }
            StepKind::WaitFor {
                target,
                timeout,
                into,
            } => {
                let d = self.duration(timeout)?.as_duration();
                let py = engine::with_core("wait_for", |c| c.cfg.python);
                match (py, target) {
                    (PythonVersion::Py312 | PythonVersion::Py313, Target::Call(c))
                        if !d.is_zero() =>
                    {
                        // `async with timeout(d): return await coro` — inline.
                        let co = self.prog.scenario.coroutines[&c.name].clone();
                        let args = self.call_args(c)?;
                        self.push_block(
                            Rc::from(Vec::new()),
                            Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                        );
                        self.push_call(&co, args, Ret::Var(into.clone()))?;
                    }
                    (PythonVersion::Py312 | PythonVersion::Py313, Target::Value(_))
                        if !d.is_zero() =>
                    {
                        let fut: LocalBoxFuture<'static, VmResult> = match self.awaitable(target)? {
                            Awaitable::Coro(vm) => vm.boxed_local(),
                            Awaitable::Task(h) => async move { flatten(h.await) }.boxed_local(),
                            Awaitable::Fut(f) => async move { f.await }.boxed_local(),
                        };
                        self.push_block(
                            Rc::from(Vec::new()),
                            Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                        );
                        self.start_val(fut, Then::Assign(into.clone()));
                    }
                    _ => {
                        let fut: LocalBoxFuture<'static, VmResult> = match self.awaitable(target)? {
                            Awaitable::Coro(vm) => {
                                async move { flatten(wait_for(vm, d).await) }.boxed_local()
                            }
                            Awaitable::Task(h) => {
                                async move { flatten(wait_for_task(h, d).await) }.boxed_local()
                            }
                            Awaitable::Fut(f) => {
                                async move { flatten(wait_for(f.into_future(), d).await) }
                                    .boxed_local()
                            }
                        };
                        self.start_val(fut, Then::Assign(into.clone()));
                    }
                }
            }
            StepKind::Timeout { delay, body } => {
                let d = self.duration(delay)?.as_duration();
                self.push_block(
                    body.clone(),
                    Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                );
            }
            StepKind::AsCompleted {
                items,
                each,
                bind,
                body,
                timeout,
            } => {
                let cells = self.cells_each(items, each)?;
                let t = match timeout {
                    Some(t) => Some(self.duration(t)?.as_duration()),
                    None => None,
                };
                let handles = task_handles(&cells)?;
                let it = Rc::new(RefCell::new(Some(as_completed(handles, t))));
                self.push_block(
                    body.clone(),
                    Kind::AsCompleted {
                        it,
                        var: bind.clone(),
                    },
                );
                let top = self.frames.last_mut().expect("pushed");
                top.pc = top.steps.len(); // the first result comes from the loop head
            }
            StepKind::TaskGroup { calls, each, into } => {
                let mut vms = Vec::new();
                for (c, args) in self.calls_each(calls, each)? {
                    let co = self.prog.scenario.coroutines[&c.name].clone();
                    let label = call_label(&c.name, &args);
                    vms.push((label, Vm::for_call(self.prog.clone(), &co, args)));
                }
                self.start_val(
                    async move {
                        let handles = TaskGroup::run(|tg| {
                            let hs: Vec<_> = vms
                                .into_iter()
                                .map(|(label, vm)| tg.spawn_with(Builder::new().label(label), vm))
                                .collect();
                            async move { hs }
                        })
                        .await?;
                        let mut out = Vec::new();
                        for h in handles {
                            out.push(flatten(h.await)?);
                        }
                        Ok(Value::List(Rc::new(out)))
                    },
                    Then::Assign(into.clone()),
                );
            }
            StepKind::Shield { target, into } => {
                let fut: LocalBoxFuture<'static, VmResult> = match self.awaitable(target)? {
                    Awaitable::Coro(vm) => async move { flatten(shield(vm).await) }.boxed_local(),
                    Awaitable::Task(h) => {
                        async move { flatten(shield_task(h).await) }.boxed_local()
                    }
                    Awaitable::Fut(f) => {
                        async move { flatten(shield(f.into_future()).await) }.boxed_local()
                    }
                };
                self.start_val(fut, Then::Assign(into.clone()));
            }
            StepKind::Raise { kind, message } => {
                let msg = match message {
                    Some(t) => self.render(t)?,
                    None => String::new(),
                };
                return Err(exception(kind, msg));
            }
            StepKind::Try {
                body,
                handler,
                finally,
            } => self.push_block(
                body.clone(),
                Kind::Try {
                    handler: handler.clone(),
                    finally: finally.clone(),
                    phase: TryPhase::Body,
                    pending: None,
                    caught: None,
                },
            ),
            StepKind::Reraise => {
                // The exception of the innermost handler running.
                let caught = self.frames.iter().rev().find_map(|f| match &f.kind {
                    Kind::Try {
                        phase: TryPhase::Handler,
                        caught,
                        ..
                    } => caught.clone(),
                    _ => None,
                });
                return Err(caught.unwrap_or_else(|| {
                    Error::raised("RuntimeError", "No active exception to reraise")
                }));
            }
            StepKind::If {
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
            StepKind::Return(e) => {
                let v = match e {
                    Some(e) => self.eval(e)?,
                    None => Value::None,
                };
                self.unwind(Completion::Return(v));
            }
            StepKind::Repeat { times, index, body } => {
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
            StepKind::While { cond, body } => {
                if self.eval(cond)?.truthy() {
                    self.push_block(body.clone(), Kind::While { cond: cond.clone() });
                }
            }
            StepKind::Break => self.unwind(Completion::Break),
            StepKind::Continue => self.unwind(Completion::Continue),
            StepKind::For { var, iter, body } => {
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
            StepKind::AsyncFor {
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
                    co.name.clone(),
                    co.params.clone(),
                    co.body.clone(),
                    args,
                    Ret::Gen,
                    Some(gen_for),
                )?;
            }
            StepKind::AsyncWith { ctx, bind, body } => {
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
                    cm.name.clone(),
                    cm.params.clone(),
                    cm.enter.clone(),
                    args,
                    Ret::WithEnter,
                    None,
                )?;
            }
            StepKind::Yield(e) => {
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
            StepKind::Set { var, value } => {
                let v = self.eval(value)?;
                self.assign(&Some(var.clone()), v);
            }
            StepKind::NewFuture(var) => self.assign(
                &Some(var.clone()),
                Value::Future(SimFuture::with_label(var)),
            ),
            StepKind::CallLater {
                delay,
                future,
                value,
            } => {
                let f = self.future(future)?;
                let v = self.eval(value)?;
                let d = self.duration(delay)?.as_duration();
                call_later(d, move || {
                    let _ = f.set_result(v);
                });
            }
            StepKind::Callback { delay, body } => {
                let vars = self.snapshot();
                let vm = Vm::for_callback(self.prog.clone(), body.clone(), vars)?;
                match delay {
                    Some(d) => {
                        let d = self.duration(d)?.as_duration();
                        call_later(d, move || run_callback(vm));
                    }
                    None => {
                        call_soon(move || run_callback(vm));
                    }
                }
            }
            StepKind::SetResult { future, value } => {
                let f = self.future(future)?;
                let v = self.eval(value)?;
                f.set_result(v)?;
            }
            StepKind::Condition { name, body } => {
                let cond = self.prog.condition(name);
                self.start(
                    async move { OpOut::Cond(cond.acquire().await) }.boxed_local(),
                    Then::PushCondition(name.clone(), body.clone()),
                );
            }
            StepKind::BarrierWait { name, into } => {
                let b = self.prog.barrier(name);
                self.start_val(
                    async move { b.wait().await.map(|i| Value::Int(i as i64)) },
                    Then::Assign(into.clone()),
                );
            }
            StepKind::BarrierAbort(name) | StepKind::BarrierReset(name) => {
                let b = self.prog.barrier(name);
                let abort = matches!(step.kind, StepKind::BarrierAbort(_));
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
            StepKind::CondWait(name) => {
                let (i, g) = self.condition_guard(name, "wait on")?;
                self.start(
                    async move { OpOut::Cond(g.wait().await) }.boxed_local(),
                    Then::PutCondition(i),
                );
            }
            StepKind::Notify { name, n } => {
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
            StepKind::NotifyAll(name) => {
                self.with_condition_guard(name, "notify on", |g| g.notify_all())?;
            }
            StepKind::Acquire(name) => {
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
            StepKind::Release(name) => {
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
            StepKind::Lock { name, body } => {
                let lock = self.prog.lock(name);
                self.start(
                    async move { OpOut::Lock(lock.acquire().await) }.boxed_local(),
                    Then::PushLock(name.clone(), body.clone()),
                );
            }
            StepKind::Semaphore { name, body } => {
                let sem = self.prog.semaphore(name);
                self.start(
                    async move { OpOut::Permit(sem.acquire().await) }.boxed_local(),
                    Then::PushPermit(name.clone(), body.clone()),
                );
            }
            StepKind::Section { name, body } => {
                let g = section(name);
                self.push_block(body.clone(), Kind::Guard(Some(Guard::Section(g))));
            }
            StepKind::EventSet(n) => self.prog.event(n).set(),
            StepKind::EventClear(n) => self.prog.event(n).clear(),
            StepKind::EventWait(n) => {
                let ev = self.prog.event(n);
                self.start_val(
                    async move {
                        ev.wait().await;
                        Ok(Value::Bool(true))
                    },
                    Then::Discard,
                );
            }
            StepKind::Put {
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
            StepKind::Get {
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
            StepKind::TaskDone(n) => self.prog.queue(n).task_done()?,
            StepKind::Join(n) => {
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

/// A handle of each task for a combinator (`gather`, `as_completed`).
fn task_handles(cells: &[Rc<TaskCell>]) -> Result<Vec<crate::JoinHandle<VmResult>>, Error> {
    cells
        .iter()
        .map(|c| c.handle.clone().ok_or_else(super::no_handle))
        .collect()
}

impl Vm {
    /// Stops the run at a program limit, saying which, where and how to
    /// raise it; the error unwinds the task.
    pub(super) fn over_limit(
        &self,
        key: &'static str,
        value: u64,
        line: impl Into<Option<usize>>,
        what: &str,
    ) -> Error {
        let file = &self.prog.scenario.file;
        let at = match line.into() {
            Some(line) => format!("{file}:{line}"),
            // A loop's next round: the loop's last step ran at this line.
            None => format!("{file}:{} (a loop's next round)", self.line),
        };
        crate::stop_at_limit(key, format!("more than {value} {what}, at {at}"));
        Error::raised(
            "LimitExceeded",
            format!("more than {value} {what} (`{key}`)"),
        )
    }
}

impl Vm {
    /// Counts an interpreted step (a step, or a loop's next round) against
    /// `max_steps`; stops too once the run has hit any other limit (a step
    /// that spawns or prints in a loop never yields to the loop that would
    /// stop it).
    pub(super) fn count_step(&self, line: Option<usize>) -> Result<(), Error> {
        let n = self.prog.steps.get() + 1;
        self.prog.steps.set(n);
        let max = self.prog.scenario.settings.limits.max_steps;
        if n > max {
            return Err(self.over_limit("max_steps", max, line, "interpreted steps"));
        }
        if n.is_multiple_of(1024)
            && let Some(limit) = crate::limit_hit()
        {
            return Err(Error::raised(
                "LimitExceeded",
                format!("the run exceeded `{}`", limit.name()),
            ));
        }
        Ok(())
    }
}

/// How deeply lists may nest inside each other (as expressions may): deeper
/// values could not be printed, compared or dropped without deep recursion.
pub(super) const MAX_VALUE_NESTING: usize = 64;

impl Vm {
    /// Charges building a value of `len` items against `max_steps` (one step
    /// per 8 items, so that quadratic accumulation stops instead of
    /// hanging) and checks it against `max_value_len`.
    pub(super) fn check_len(&self, len: usize) -> Result<(), Error> {
        let len = len as u64;
        let settings = &self.prog.scenario.settings;
        if len > settings.max_value_len {
            return Err(self.over_limit(
                "max_value_len",
                settings.max_value_len,
                self.line,
                "characters or items in one value",
            ));
        }
        self.charge(len / 8)
    }

    /// Charges `steps` interpreted steps of work against `max_steps`.
    pub(super) fn charge(&self, steps: u64) -> Result<(), Error> {
        let settings = &self.prog.scenario.settings;
        let n = self.prog.steps.get() + steps;
        self.prog.steps.set(n);
        if n > settings.limits.max_steps {
            return Err(self.over_limit(
                "max_steps",
                settings.limits.max_steps,
                self.line,
                "interpreted steps (building values counts one per 8 items)",
            ));
        }
        Ok(())
    }

    /// `v`, after [`Vm::check_len`] on a string or list.
    pub(super) fn sized(&self, v: Value) -> Result<Value, Error> {
        match &v {
            Value::Str(s) => self.check_len(s.len())?,
            Value::List(l) => self.check_len(l.len())?,
            _ => {}
        }
        Ok(v)
    }

    /// Refuses a list whose items nest lists deeper than
    /// [`MAX_VALUE_NESTING`] (walked without recursion; the walk is charged
    /// as building).
    pub(super) fn check_nesting(&self, items: &[Value]) -> Result<(), Error> {
        let mut todo: Vec<(&Value, usize)> = items.iter().map(|v| (v, 1)).collect();
        let mut visited = 0;
        while let Some((v, depth)) = todo.pop() {
            visited += 1;
            let inner: Option<Vec<&Value>> = match v {
                Value::List(l) => Some(l.iter().collect()),
                Value::Dict(d) => Some(d.iter().flat_map(|(k, x)| [k, x]).collect()),
                _ => None,
            };
            if let Some(inner) = inner {
                if depth >= MAX_VALUE_NESTING {
                    return Err(Error::raised(
                        "RecursionError",
                        format!(
                            "a list nested more than {MAX_VALUE_NESTING} levels deep (line {}); keep values flatter",
                            self.line
                        ),
                    ));
                }
                todo.extend(inner.into_iter().map(|x| (x, depth + 1)));
            }
        }
        self.check_len(visited)
    }
}

impl Vm {
    /// The innermost `condition` block of `name` in this task: its frame
    /// index. Asyncio raises `RuntimeError` when the lock is not held.
    fn condition_frame(&self, name: &str, what: &str) -> Result<usize, Error> {
        self.frames
            .iter()
            .rposition(
                |f| matches!(&f.kind, Kind::Guard(Some(Guard::Condition(n, Some(_)))) if n == name),
            )
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

/// Runs a callback's steps to the end, in the loop, outside any task. An
/// exception in it goes to asyncio's exception handler (a log line on
/// stderr in CPython): the run goes on.
fn run_callback(mut vm: Vm) {
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    // Plain steps never wait, so one poll runs them all.
    let _ = std::pin::Pin::new(&mut vm).poll(&mut cx);
}

impl Vm {
    /// A copy of the variables the current step sees.
    fn snapshot(&self) -> Vec<(String, Value)> {
        let s = self.frames.last().map(|f| f.scope).unwrap_or(0);
        self.frames
            .get(s)
            .and_then(|f| f.vars.as_ref())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// A VM running a callback's body on `vars`.
    fn for_callback(
        prog: Rc<Program>,
        body: Rc<[Step]>,
        vars: Vec<(String, Value)>,
    ) -> Result<Vm, Error> {
        let mut vm = Vm::new(prog);
        let (names, values): (Vec<String>, Vec<Value>) = vars.into_iter().unzip();
        vm.push_frame_call("<callback>".into(), names, body, values, Ret::Main, None)?;
        Ok(vm)
    }
}
