"""Run a Python program and write its own peak RSS (kB) to $MIGMA_BENCH_PEAK_FILE at exit.

    python benchmarks/peak_rss.py -m migma_contract.cli check ...
    python benchmarks/peak_rss.py benchmarks/replay.py URL FILE

`wait4`'s ru_maxrss cannot tell it: a child started by a large parent (this benchmark,
holding openapi-core and the rest) inherits the parent's high-water mark at fork and keeps
it across exec. /proc/self/status's VmHWM belongs to the program's own address space.
"""

import atexit
import os
import runpy
import sys


def _report() -> None:
    with open("/proc/self/status") as status:
        peak = next((line.split()[1] for line in status if line.startswith("VmHWM:")), "0")
    with open(os.environ["MIGMA_BENCH_PEAK_FILE"], "w") as out:
        out.write(peak)


if __name__ == "__main__":
    atexit.register(_report)
    if sys.argv[1] == "-m":
        module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
