"""The baseline workloads W1-W4 on CPython's own asyncio under a virtual clock.

    python3 tools/bench_cpython.py W [SCALE_DOWN]

runs workload W (1-4, the shapes of `loopsim::workloads`) once on
`vclock.VirtualLoop` and prints the seconds it took (the run only: not the
interpreter's start). `loopsim bench --compare cpython` runs it paired
with loopsim's `asyncio` model.
"""
import asyncio
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vclock  # noqa: E402


async def sleepers(tasks):
    rng = random.Random(1)
    ts = [asyncio.create_task(asyncio.sleep(rng.randint(1, 1000) / 1000)) for _ in range(tasks)]
    for t in ts:
        await t


async def yields(tasks, n):
    async def one():
        for _ in range(n):
            await asyncio.sleep(0)

    ts = [asyncio.create_task(one()) for _ in range(tasks)]
    for t in ts:
        await t


async def sequential_sleeps(tasks, n):
    rng = random.Random(1)

    async def one():
        for _ in range(n):
            await asyncio.sleep(rng.randint(1, 100) / 1000)

    ts = [asyncio.create_task(one()) for _ in range(tasks)]
    for t in ts:
        await t


async def pipeline(producers, messages, consumers, capacity):
    q = asyncio.Queue(capacity)
    total = producers * messages

    async def consume(n):
        s = 0
        for _ in range(n):
            s += await q.get()
        return s

    async def produce(p):
        for m in range(messages):
            await q.put(p * 1_000_003 + m)

    cs = [
        asyncio.create_task(consume(total // consumers + (total % consumers if i == 0 else 0)))
        for i in range(consumers)
    ]
    ps = [asyncio.create_task(produce(p)) for p in range(producers)]
    for t in ps + cs:
        await t


def main():
    w = int(sys.argv[1])
    f = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    s = lambda n: max(1, n // f)  # noqa: E731
    prog = {
        1: lambda: sleepers(s(100_000)),
        2: lambda: yields(s(1_000), 1_000),
        3: lambda: sequential_sleeps(s(10_000), 100),
        4: lambda: pipeline(s(100), 1_000, min(10, s(100)), 100),
    }[w]
    loop = vclock.VirtualLoop()
    t0 = time.perf_counter()
    loop.run_until_complete(prog())
    took = time.perf_counter() - t0
    loop.close()
    print(f"{took:.6f}")


if __name__ == "__main__":
    main()
