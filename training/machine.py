"""What machine and code a measurement came from: CPU model, the features that change speed, cores, commit.

`python -m training` records `machine_facts()` and `git_commit()` in every run's summary.json, and the
benchmark suite in every results.json, so that no figure is read without the machine it was measured on.
"""

import multiprocessing
import os
import platform
import subprocess
import time

# /proc/cpuinfo flags that change what a CPU computes fast: AVX2/FMA/F16C (float32), AVX-512, int8 dot products
# (VNNI, AMX-INT8) and native bfloat16 (AVX-512 BF16, AMX-BF16). Machines sold under one name differ in these.
CPU_FEATURES = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (Linux), or an empty set where they cannot be read."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_facts():
    """Platform, Python, core count, date, CPU model and its `CPU_FEATURES` (where /proc/cpuinfo exists)."""
    facts = {"platform": platform.platform(), "python": platform.python_version(),
             "cpus": multiprocessing.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and "cpu" not in facts:
                    facts["cpu"] = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    facts["cpu_features"] = [f for f in CPU_FEATURES if f in flags]
                    break
    except OSError:
        pass
    return facts


def git_commit(directory=None):
    """The commit checked out where this code lives (with `+changes` when the tree differs), or None."""
    directory = directory or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if dirty else "")
