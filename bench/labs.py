"""Lab run times: each solved lab notebook executed top to bottom in a fresh kernel, as a learner would run it.

    python bench/labs.py [--repeat 3] [--lab lab02] [--lang en]

For every notebook in solutions/labs/<lang>/ (both languages unless --lang) and every repeat: start a new kernel
(timed on its own: "kernel s" is starting the kernel process and waiting until it answers), then run the cells
one by one with nbclient, timing each from sending it to its reply. "notebook s" is the sum over all cells,
imports included, kernel start excluded (target: at most 10 s); "self-checks" are the cells whose source calls
`self_check(` (target: each at most 1 s). Prints the median of each figure over the repeats; for the self-check
cells, the median and the slowest of their per-cell medians. The kernels import the course package from this
checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_TARGET_S = 10.0
CHECK_TARGET_S = 1.0
# A call, not the import line or a definition.
SELF_CHECK = re.compile(r"(?<!def )(?<![\w.])self_check\(")


def run_once(path: Path) -> tuple[float, list[float], list[int]]:
    """Kernel start seconds, seconds per code cell, and the indices (into that list) of the self-check cells."""
    nb = nbformat.read(path, as_version=4)
    # The kernel's warning about unencrypted local TCP is noise in a table.
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    client.reset_execution_trackers()
    started = time.perf_counter()
    with client.setup_kernel():
        client.wait_for_reply(client.kc.kernel_info())
        kernel = time.perf_counter() - started
        cells, checks = [], []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if SELF_CHECK.search(cell.source):
                checks.append(len(cells))
            t0 = time.perf_counter()
            client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            cells.append(time.perf_counter() - t0)
    return kernel, cells, checks


def measure(path: Path, repeat: int) -> dict:
    runs = [run_once(path) for _ in range(repeat)]
    checks = runs[0][2]
    per_check = [statistics.median(run[1][i] for run in runs) for i in checks]
    return {
        "kernel": statistics.median(run[0] for run in runs),
        "notebook": statistics.median(sum(run[1]) for run in runs),
        "checks": per_check,
    }


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lab", action="append", help="only this lab, e.g. lab02 (repeatable)")
    parser.add_argument("--lang", action="append", help="only this language (repeatable)")
    args = parser.parse_args()
    # The kernels must import gradcourse from this checkout, not from wherever the venv's editable install points.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    notebooks = sorted(
        p for lang in (args.lang or ["en", "es"]) for p in (ROOT / "solutions" / "labs" / lang).glob("*.ipynb")
        if not args.lab or p.stem in args.lab
    )
    print(f"solved labs, fresh kernel each run, median of {args.repeat}, {os.cpu_count()} cores (seconds)")
    print(f"{'lab':<11} {'kernel s':>8} {'notebook s':>10} {'<=10 s':>6} {'checks':>6} {'median':>7} {'max':>6} "
          f"{'<=1 s':>5}")
    for path in notebooks:
        r = measure(path, args.repeat)
        checks = r["checks"] or [float("nan")]
        ok_nb, ok_checks = r["notebook"] <= NOTEBOOK_TARGET_S, max(checks) <= CHECK_TARGET_S
        print(f"{path.parent.name + '/' + path.stem:<11} {r['kernel']:>8.2f} {r['notebook']:>10.2f} {yes(ok_nb):>6} "
              f"{len(r['checks']):>6} {statistics.median(checks):>7.2f} {max(checks):>6.2f} {yes(ok_checks):>5}",
              flush=True)
    print("targets: the notebook (kernel start excluded) <= 10 s; every self-check cell <= 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
