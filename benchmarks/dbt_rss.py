"""dbt with its own peak RSS: `python benchmarks/dbt_rss.py DBT ARGS...` runs `DBT ARGS...` and appends one
JSON line (args, exit code, seconds, peak RSS) to the file named by BENCH_DBT_RSS_FILE.

Why a wrapper: the pipeline process's `getrusage(RUSAGE_CHILDREN)` is no measure of dbt. A child's peak
includes the memory image it was forked from (the kernel folds the pre-exec high-water mark into it), so
dbt started from a 900 MiB pipeline process "peaks" at 900 MiB. Started from this small process instead,
the figure is dbt's own, with this interpreter's ~10 MiB as its floor. The benchmark runner points the
dbt resource at it (benchmarks/runner.py); nothing else uses it.
"""

import json
import os
import resource
import subprocess
import sys
import time


def main() -> int:
    command = sys.argv[1:]
    started = time.perf_counter()
    code = subprocess.call(command)  # inherits stdout: dagster-dbt reads dbt's event stream as usual
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = {
        "args": command[1:3],
        "returncode": code,
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mib": usage.ru_maxrss / 1024.0,  # Linux: KiB
    }
    with open(os.environ["BENCH_DBT_RSS_FILE"], "a") as out:
        out.write(json.dumps(line) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
