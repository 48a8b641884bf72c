"""Run real asyncio under a virtual clock (the judge loopsim's `asyncio` model is compared with).

`VirtualLoop.time()` returns a virtual float; the selector's `select(timeout)`
advances it by `timeout` instead of sleeping. Blocking work is modelled with
`block(loop, seconds)`, which advances the virtual time inside the step.

Work outside the loop (a pool thread's job) is a *world event* due at a
virtual time: while the loop waits in `select`, world events due before its
timeout run first, in order, and the first that leaves a callback ready
(a thread's `call_soon_threadsafe`) ends the wait at its time; a blocking
call runs those due by its end. `VirtualThreadPool` is a thread pool whose
jobs are world events: the job's function returns how long it takes, and the
real `concurrent.futures.Future` it completes reaches the loop through
asyncio's own `wrap_future` and `call_soon_threadsafe`.
"""
import asyncio
import collections
import concurrent.futures
import heapq
import itertools
import selectors


class _World:
    def __init__(self):
        self.heap = []
        self.seq = itertools.count()

    def schedule(self, when, fn):
        heapq.heappush(self.heap, (when, next(self.seq), fn))

    def head(self):
        return self.heap[0][0] if self.heap else None

    def pop(self):
        return heapq.heappop(self.heap)[2]


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop_ref):
        super().__init__()
        self._loop_ref = loop_ref

    def select(self, timeout=None):
        loop = self._loop_ref()
        world = loop.world
        loop.run_world_due()
        # Nothing ready: the world events due before the timeout run, the
        # first that makes something ready ends the wait.
        while not loop._ready and world.head() is not None and (
            timeout is None or world.head() <= loop.vtime + timeout
        ):
            when = world.head()
            if timeout is not None:
                timeout -= max(0.0, when - loop.vtime)
            loop.vtime = max(loop.vtime, when)
            world.pop()()
        if loop._ready:
            return super().select(0)
        if timeout is None:
            raise RuntimeError("deadlock: nothing ready and no timer")
        if timeout > 0:
            loop.vtime += timeout
        return super().select(0)


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        self.vtime = 0.0
        self.world = _World()
        ref = []
        super().__init__(selector=_VirtualSelector(lambda: ref[0]))
        ref.append(self)

    def time(self):
        return self.vtime

    def run_world_due(self):
        while self.world.head() is not None and self.world.head() <= self.vtime:
            self.world.pop()()

    async def shutdown_default_executor(self, timeout=None):
        # The virtual pool has no threads to join.
        if self._default_executor is not None:
            self._default_executor.shutdown(wait=False)


def block(seconds):
    loop = asyncio.get_running_loop()
    loop.vtime += seconds
    loop.run_world_due()


def io_work(seconds):
    """A pool job's function: blocking I/O for `seconds` (virtual)."""
    return seconds


class VirtualThreadPool(concurrent.futures.ThreadPoolExecutor):
    """`ThreadPoolExecutor(max_workers)` on the virtual clock: a FIFO of jobs,
    a new thread per job while fewer than `max_workers` exist and none is
    idle, the longest-idle thread first; a job's function returns its
    duration (`io_work`)."""

    def __init__(self, loop, max_workers):
        # A ThreadPoolExecutor (asyncio's default executor must be one) that
        # never starts a thread: `submit` below replaces its queue.
        super().__init__(max_workers=max_workers)
        self._loop = loop
        self._max = max_workers
        self._started = 0
        self._idle = collections.deque()
        self._jobs = collections.deque()

    def submit(self, fn, /, *args, **kwargs):
        f = concurrent.futures.Future()
        self._jobs.append((f, fn, args, kwargs))
        self._adjust()
        return f

    def _adjust(self):
        while self._jobs:
            if self._idle:
                worker = self._idle.popleft()
            elif self._started < self._max:
                worker = self._started
                self._started += 1
            else:
                return
            f, fn, args, kwargs = self._jobs.popleft()
            if not f.set_running_or_notify_cancel():
                self._idle.appendleft(worker)
                continue
            seconds = fn(*args, **kwargs)
            self._loop.world.schedule(
                self._loop.vtime + seconds, lambda f=f, w=worker: self._finish(f, w)
            )

    def _finish(self, f, worker):
        f.set_result(None)
        self._idle.append(worker)
        self._adjust()

    def shutdown(self, wait=True, *, cancel_futures=False):
        pass


def run(coro):
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def run_like_asyncio_run(main):
    """asyncio.run semantics (wrap in a task, cancel leftovers) on the virtual loop."""
    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        return runner.run(main)
