#!/usr/bin/env python3
"""The order CPython's heapq pops a long history with many ties in: the
history of `matches_cpython_heapq_on_a_long_history_with_ties` in
src/engine/heapq.rs (items compared by key only, as asyncio's TimerHandle
is), then a heapify of 4666 items. Prints the FNV-1a digest of the popped
payloads (each as 4 little-endian bytes), the constant that test checks."""
import heapq


class Item:
    __slots__ = ("key", "val")

    def __init__(self, key, val):
        self.key, self.val = key, val

    def __lt__(self, other):
        return self.key < other.key


def main():
    out, h, x, m = [], [], 12345, 2**64
    for i in range(30000):
        x = (x * 6364136223846793005 + 1442695040888963407) % m
        heapq.heappush(h, Item(float((x >> 33) % 50), i))
        if (x >> 20) % 3 == 0:
            out.append(heapq.heappop(h).val)
    while h:
        out.append(heapq.heappop(h).val)
    g = [Item(float((i * 7919) % 31), i) for i in range(7000) if i % 3 != 0]
    heapq.heapify(g)
    while g:
        out.append(heapq.heappop(g).val)
    assert len(out) == 34666
    d = 0xCBF29CE484222325
    for v in out:
        for b in v.to_bytes(4, "little"):
            d = ((d ^ b) * 0x100000001B3) % 2**64
    print(f"0x{d:016x}")


if __name__ == "__main__":
    main()
