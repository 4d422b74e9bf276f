"""Where a cell's time goes (issue 19): one run of `wheelmatrix validate` over a native and an
emulated cell, then the run directory's profile.jsonl (create and start, install, network cut,
each scenario) and results (each check) printed side by side, with the emulated / native ratio
of each phase. Every later speed change is judged by this table.

Usage:
  python bench/bench_phases.py                              # pillow==11.0.0, debian-12
  python bench/bench_phases.py scikit-learn==1.5.2 scipy==1.14.1 --distro debian-13
Nothing is asserted: machines are noisy; read the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("inputs", nargs="*", default=["pillow==11.0.0"], help="wheels or requirements")
    parser.add_argument("--distro", default="debian-12")
    parser.add_argument("--scenario", action="append", default=[], help="default: the default scenarios")
    parser.add_argument("--warm", action="store_true", help="run once first (warm images and caches)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wm-bench-phases-"))
    cmd = [sys.executable, "-m", "wheelmatrix", "validate", *args.inputs, "--distro", args.distro]
    cmd += ["--arch", "x86_64", "--arch", "aarch64", "--jobs", "1"]
    for name in args.scenario:
        cmd += ["--scenario", name]
    if args.warm:
        subprocess.run([*cmd, "--runs-dir", str(work / "warm")], capture_output=True, text=True)
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "--runs-dir", str(work / "runs")], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if not (work / "runs").is_dir():
        sys.exit(f"the run did not start (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    (run,) = [p for p in (work / "runs").iterdir() if p.is_dir()]
    phases: dict[str, dict[str, float]] = defaultdict(dict)  # cell -> phase -> seconds
    for line in (run / "profile.jsonl").read_text().splitlines():
        rec = json.loads(line)
        phases[rec["cell"]][rec["phase"]] = phases[rec["cell"]].get(rec["phase"], 0.0) + rec["s"]
    checks: dict[str, dict[str, float]] = defaultdict(dict)
    for line in (run / "results.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "check" in rec and "arch" in rec:
            cell = f"{rec['distro']}/{rec['arch']}/py{rec['python']}"
            checks[cell][f"  {rec['scenario']}: {rec['check']}"] = rec.get("duration_s", 0.0)
    native = next((c for c in phases if "/x86_64/" in c), "")
    emulated = next((c for c in phases if "/aarch64/" in c), "")
    print(f"{' '.join(args.inputs)} on {args.distro}; whole run {wall:.1f} s (exit {proc.returncode})")
    print(f"{'phase':58} {'native s':>9} {'emulated s':>11} {'ratio':>6}")
    # "SCENARIO: STEP" phases are steps a probe timed inside a scenario: printed under it, not summed
    every = list(dict.fromkeys([*phases[native], *phases[emulated]]))
    rows = [p for p in every if ": " not in p]
    for phase in rows:
        a, b = phases[native].get(phase, 0.0), phases[emulated].get(phase, 0.0)
        print(f"{phase[:58]:58} {a:9.2f} {b:11.2f} {(b / a if a else 0):6.1f}")
        # steps timed inside a phase: "symbols: STEP" under "scenario symbols", "bytecode: STEP"
        # under "bytecode, compiled natively"
        scenario = phase.removeprefix("scenario ").split(",")[0]
        for step in (p for p in every if p.startswith(f"{scenario}: ")):
            a, b = phases[native].get(step, 0.0), phases[emulated].get(step, 0.0)
            label = "  step " + step[len(scenario) + 2 :]
            print(f"{label[:58]:58} {a:9.2f} {b:11.2f} {(b / a if a else 0):6.1f}")
        if phase.startswith("scenario "):
            for check in list(dict.fromkeys([*checks[native], *checks[emulated]])):
                if check.startswith(f"  {scenario}: "):
                    a, b = checks[native].get(check, 0.0), checks[emulated].get(check, 0.0)
                    if max(a, b) >= 0.05:
                        print(f"{check[:58]:58} {a:9.2f} {b:11.2f} {(b / a if a else 0):6.1f}")
    totals = [sum(s for p, s in phases[c].items() if ": " not in p) for c in (native, emulated)]
    ratio = totals[1] / totals[0] if totals[0] else 0.0
    print(f"{'sum of phases':58} {totals[0]:9.2f} {totals[1]:11.2f} {ratio:6.1f}")
    print(f"profile: {run / 'profile.jsonl'}")


if __name__ == "__main__":
    main()
