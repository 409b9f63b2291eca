"""A serving process collects garbage less often, but still collects it (gateway.cli.main.tune_gc).

Run in a child process: freezing the test process's objects would outlive the test."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import gc, weakref
    from gateway.cli.main import tune_gc
    from gateway.upstream.plugins.gcpace import BACKSTOP as GC_THRESHOLD, GcPacer

    class Node:
        pass

    untouched = gc.get_threshold()
    pacer = GcPacer()  # built by the app for `gc_pacing: true`: changes nothing yet
    assert gc.get_threshold() == untouched and not pacer.enabled
    tune_gc([pacer])
    assert gc.get_threshold() == GC_THRESHOLD, gc.get_threshold()
    assert gc.get_freeze_count() > 1000, gc.get_freeze_count()  # start-up objects frozen
    assert gc.isenabled()
    assert pacer.enabled

    # Cycles made while serving are still freed automatically, without gc.collect().
    refs = []
    for _ in range(5 * GC_THRESHOLD[0]):
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a))
        del a, b
    dead = sum(ref() is None for ref in refs)
    assert dead > len(refs) // 2, (dead, len(refs))
    print("ok", dead, len(refs))
""")


def test_tune_gc_freezes_start_up_and_still_frees_cycles() -> None:
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
