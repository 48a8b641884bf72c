#!/usr/bin/env python3
"""Paired A/B timing of two commands: runs them alternately N times (which
goes first alternates too), and prints the median wall time of each and the
median of the per-pair ratios B/A. This machine's timings are noisy; a ratio
taken within each pair is not.

    tools/ab.py 11 target/release/loopsim bench --one loopsim:2 -- \\
                   target/release/loopsim bench --one loopsim:bin2
"""
import statistics
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or "--" not in sys.argv[2:]:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    rest = sys.argv[2:]
    i = rest.index("--")
    a, b = rest[:i], rest[i + 1 :]
    ta, tb, ratios = [], [], []
    for k in range(n):
        got = {}
        for name, cmd in ([("a", a), ("b", b)] if k % 2 == 0 else [("b", b), ("a", a)]):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            got[name] = time.perf_counter() - t0
        ta.append(got["a"])
        tb.append(got["b"])
        ratios.append(got["b"] / got["a"])
    print(
        f"A {statistics.median(ta) * 1e3:.1f} ms  B {statistics.median(tb) * 1e3:.1f} ms  "
        f"B/A median {statistics.median(ratios):.3f} (min {min(ratios):.3f} max {max(ratios):.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
