"""Loaded by every Python process started with this directory on PYTHONPATH (benchmarks/api_clock.py): the
pipeline's API clock (`SystemClock` in orchestration/clients/budget.py) reads the machine's time plus
BENCH_API_CLOCK_OFFSET_S, the sandbox's offset, so a `warehouse sync` started by the benchmark runs on the
sandbox's later day. The patch is applied when that module is imported (nothing is imported early: the
command's start-up is measured); its `sleep` stays real, as the sandbox's clock runs at real speed too."""

import importlib.abc
import importlib.util
import os
import sys
import time

_OFFSET = float(os.environ.get("BENCH_API_CLOCK_OFFSET_S") or 0.0)
_MODULE = "orchestration.clients.budget"


def _shifted(self) -> float:
    return time.time() + _OFFSET


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)  # found once; the lookup below must not come back here
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            module.SystemClock.time = _shifted

        spec.loader.exec_module = exec_and_patch
        return spec


if _OFFSET:
    sys.meta_path.insert(0, _PatchOnImport())
