"""Run real asyncio under a virtual clock (the judge loopsim's `asyncio` model is compared with).

`VirtualLoop.time()` returns a virtual float; the selector's `select(timeout)`
advances it by `timeout` instead of sleeping. Blocking work is modelled with
`block(loop, seconds)`, which advances the virtual time inside the step.
"""
import asyncio
import selectors


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop_ref):
        super().__init__()
        self._loop_ref = loop_ref

    def select(self, timeout=None):
        if timeout is None:
            raise RuntimeError("deadlock: nothing ready and no timer")
        if timeout > 0:
            self._loop_ref().vtime += timeout
        return super().select(0)


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        self.vtime = 0.0
        ref = []
        super().__init__(selector=_VirtualSelector(lambda: ref[0]))
        ref.append(self)

    def time(self):
        return self.vtime


def block(seconds):
    asyncio.get_running_loop().vtime += seconds


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
