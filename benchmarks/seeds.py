"""`python -m benchmarks.seeds RUN [RUN ...]`: a recipe's figures over seeds, mean ± standard deviation.

Reads each finished run's `summary.json` and `config.json` (what `python -m training` writes in its
workdir; `benchmarks/runs/` keeps copies of the headline runs) and prints one Markdown table: per recipe
and machine, the number of seeds, then the mean ± sample standard deviation of the final test accuracy (with
flip TTA apart, where the recipe reports it), the last epoch's validation accuracy and the wall time from
start to export. Runs of one recipe on different machines are never pooled: the machine (CPU model and
the features that matter) is part of each row's key.

Examples:
    python -m benchmarks.seeds benchmarks/runs/fashion_mnist_resnet20_fast-seed*
    python -m benchmarks.seeds benchmarks/runs/* --json
"""

import argparse
import json
import os
import statistics
import sys

FIELDS = (
    ("test_accuracy", "test accuracy", 4),
    ("test_accuracy_flip_tta", "test, flip TTA", 4),
    ("validation_accuracy", "validation", 4),
    ("total_seconds", "minutes (start to export)", 1),
)


def read_run(path):
    """A finished run's facts: its recipe, seed, machine and summary (a `ValueError` names what is missing)."""
    found = {}
    for name in ("summary.json", "config.json"):
        file = os.path.join(path, name)
        try:
            with open(file) as f:
                found[name] = json.load(f)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path} is not a finished run: cannot read {name} ({err}).") from err
    summary, config = found["summary.json"], found["config.json"]
    machine = summary.get("machine") or {}
    key = (config.get("recipe", "?"), machine.get("cpu", "unknown CPU"), tuple(machine.get("cpu_features", ())),
           machine.get("cpus"))
    return {"run": path, "key": key, "seed": config.get("seed"), "summary": summary}


def mean_std(values):
    """(mean, sample standard deviation or None for one value, n)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None), len(values)


def aggregate(runs):
    """{key: {"seeds": [...], "runs": [...], field: (mean, std, n)}} over the runs of each recipe and machine."""
    groups = {}
    for run in runs:
        groups.setdefault(run["key"], []).append(run)
    table = {}
    for key, members in groups.items():
        row = {"seeds": sorted(m["seed"] for m in members), "runs": [m["run"] for m in members]}
        for field, _, _ in FIELDS:
            values = [m["summary"][field] for m in members if m["summary"].get(field) is not None]
            if field == "total_seconds":
                values = [v / 60 for v in values]
            if values:
                row[field] = mean_std(values)
        table[key] = row
    return table


def cell(stat, digits):
    if stat is None:
        return "-"
    mean, std, _ = stat
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def markdown(table):
    header = "| recipe | machine | seeds | " + " | ".join(title for _, title, _ in FIELDS) + " |"
    lines = [header, "|" + "---|" * (3 + len(FIELDS))]
    for (recipe, cpu, features, cpus), row in sorted(table.items()):
        machine = f"{cpu}, {cpus} cores ({', '.join(features) or 'no listed features'})"
        seeds = ", ".join(str(s) for s in row["seeds"])
        lines.append(f"| {recipe} | {machine} | {seeds} | "
                     + " | ".join(cell(row.get(field), digits) for field, _, digits in FIELDS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seeds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="finished run folders (workdirs or their copies)")
    parser.add_argument("--json", action="store_true", help="print the aggregate as JSON instead of Markdown")
    args = parser.parse_args(argv)
    try:
        table = aggregate([read_run(path) for path in args.runs])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{"recipe": k[0], "cpu": k[1], "cpu_features": list(k[2]), "cpus": k[3], **v}
                          for k, v in sorted(table.items())], indent=1))
    else:
        print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
