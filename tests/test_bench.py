"""The load benchmark still runs (a second of each load): a bench that rots proves nothing.

The figures themselves are printed, never asserted (docs/capacity.md); this checks that every
request of each load was answered as expected and that the ratios come out.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_load_bench_runs_end_to_end():
    result = subprocess.run(
        [sys.executable, "bench/load.py", "--seconds", "1", "--phones", "4", "--concurrency", "2",
         "--raw-rows", "1000"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for name in ("trivial GET /api/time", "POST /api/checkins", "POST /api/sync x100"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert re.search(r"errors 0\b", line), line
        assert float(line.split()[len(name.split())]) > 0, line  # requests per second
    assert len(re.findall(r"^RATIO .*: \d+\.\d\d$", out, re.M)) == 3, out
