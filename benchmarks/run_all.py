"""Every figure the project promises, in one table: runs each benchmark (ours and its baseline side
by side in one process, interleaved) one after another on this machine and collects the ratios.

Run: .venv/bin/python benchmarks/run_all.py [--quick] [--only keys,monitor]
(--quick uses fewer rounds: a smoke run, noisier.) Prints a markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (name, full arguments, --quick arguments)
BENCHES = [
    ("overhead", [], ["--steps", "150", "--rounds", "5"]),
    ("compiles", [], ["--rounds", "5"]),
    ("compile_memory", [], ["--rounds", "3"]),
    ("jaxpr", [], ["--rounds", "3"]),
    ("buffers", ["--rounds", "11", "--seconds", "4"], ["--rounds", "5", "--seconds", "2"]),
    ("params", [], ["--blocks", "200", "--rounds", "2", "--live-rounds", "3", "--seconds", "2"]),
    ("nan", [], ["--rounds", "3", "--seconds", "1", "--blocks", "200"]),
    ("keys", [], ["--rounds", "7"]),
    ("monitor", [], ["--seconds", "2", "--rounds", "3"]),
    ("processes", [], ["--rounds", "5", "--seconds", "2"]),
    ("ipyparallel", ["--rounds", "7", "--seconds", "3"], ["--rounds", "3", "--seconds", "2"]),
    ("report", [], ["--compiles", "5000", "--snapshots", "500", "--samples", "600", "--rounds", "3"]),
]


def machine() -> str:
    import jax

    return (
        f"{platform.node() or 'this machine'}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"jax {jax.__version__} ({jax.default_backend()})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        results_path = f.name
    env = dict(os.environ, JAXINSPECT_BENCH_RESULTS=results_path)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    start = time.time()
    failed = []
    for name, full, quick in BENCHES:
        if only and name not in only:
            continue
        cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *(quick if args.quick else full)]
        print(f"$ {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(cmd))}", flush=True)
        proc = subprocess.run(cmd, env=env, cwd=HERE.parent, capture_output=True, text=True)
        print("  " + proc.stdout.strip().replace("\n", "\n  "), flush=True)
        if proc.returncode != 0:
            failed.append(name)
            print(proc.stderr[-2000:], file=sys.stderr)
    rows = [json.loads(line) for line in Path(results_path).read_text().splitlines() if line.strip()]
    os.unlink(results_path)
    print()
    print(f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, in {time.time() - start:.0f} s, "
          f"with `.venv/bin/python benchmarks/run_all.py{' --quick' if args.quick else ''}`:")  # fmt: skip
    print()
    print("| Issue | What | Measured | Target |")
    print("|---|---|---|---|")
    for r in rows:
        v = r["value"]
        shown = f"{v:.3f}" if r["unit"] == "×" else f"{v:.2f}{r['unit']}" if v < 100 else f"{v:,.0f}{r['unit']}"
        print(f"| {r['issue']} | {r['name']} | {shown} | {r['target']} |")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
