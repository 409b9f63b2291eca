"""The gateway CLI watched for the soak's memory diagnosis (benchmark only, not the product).

    python -m benchmarks.traced_gateway DIR serve --config ...      # tracemalloc on
    python -m benchmarks.traced_gateway - serve --config ...        # allocator figures only

Each SIGUSR1 prints glibc's `malloc_stats()` (bytes the allocator holds from the system
against bytes in use, per arena) and pymalloc's `sys._debugmallocstats()` (arenas held
against bytes in used blocks) to stderr and, with DIR, writes a tracemalloc snapshot to
DIR/snapshot-N.pickle (N counting from 1); compare two with
`python -m benchmarks.traced_gateway --compare A B`. Tracing slows the gateway several
times over and its own tables grow with every new traceback: with it, RSS is no figure;
the snapshots say whether Python objects grow, the allocator figures what RSS is made of.
With PREFILL_IDS=1 in the environment, `encode_id`'s cache of 16,384 ids is filled at start
(the soak's growth after minute 5 was mostly that cache filling, docs/performance.md).
"""

from __future__ import annotations

import ctypes
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

FRAMES = 12


def compare(first: str, second: str, top: int = 25) -> None:
    before = tracemalloc.Snapshot.load(first)
    after = tracemalloc.Snapshot.load(second)
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__),
              tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    total = sum(stat.size for stat in after.statistics("filename"))
    print(f"traced now {total / 1e6:.1f} MB")
    for key in ("lineno", "traceback"):
        print(f"== top growth by {key}")
        for stat in after.compare_to(before, key)[:top if key == "lineno" else 8]:
            print(f"{stat.size_diff / 1e3:+9.1f} kB {stat.count_diff:+7d} blocks "
                  f"(now {stat.size / 1e3:.1f} kB)")
            frames = stat.traceback.format(limit=FRAMES if key == "traceback" else 1,
                                           most_recent_first=True)
            print("    " + "\n    ".join(frames[::2] if key == "traceback" else frames[:1]))


def main() -> None:
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
        return
    folder = None if sys.argv[1] == "-" else Path(sys.argv[1])
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        tracemalloc.start(FRAMES)
    libc = ctypes.CDLL("libc.so.6")
    taken = 0

    def dump(signum: int, frame: FrameType | None) -> None:
        nonlocal taken
        taken += 1
        sys.stderr.flush()
        print(f"malloc_stats {taken}:", file=sys.stderr, flush=True)
        libc.malloc_stats()
        sys._debugmallocstats()  # pymalloc: arenas held against bytes in used blocks
        if folder is not None:
            tracemalloc.take_snapshot().dump(str(folder / f"snapshot-{taken}.pickle"))

    signal.signal(signal.SIGUSR1, dump)
    import os

    if os.environ.get("PREFILL_IDS"):  # experiment: encode_id's cache full from the start
        from gateway.domain.ids import encode_id

        for n in range(16384):
            encode_id("Invoice", "cloud", f"prefill{n:06d}-6c2f-4f43-9a8c-1c7a2b3c4d5e")
    from gateway.cli.main import main as cli

    raise SystemExit(cli(sys.argv[2:]))


if __name__ == "__main__":
    main()
