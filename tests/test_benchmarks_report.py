"""`python -m benchmarks report`: RESULTS.md and plots come from committed files alone, byte for byte, grouped by
machine; a measurement run adds its own results file and never edits another's."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from benchmarks import report, runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
XEON = {"cpu": "Intel Xeon", "cpu_features": ["avx2", "amx_bf16"], "cpus": 2, "python": "3.11.7",
        "date": "2026-12-03 10:00 UTC"}
EPYC = {"cpu": "AMD EPYC", "cpu_features": ["avx2"], "cpus": 2, "python": "3.11.7", "date": "2026-12-01 09:00 UTC"}


def _results(machine, command, cases, commit="0123456789ab"):
    return {"machine": machine, "git_commit": commit, "quick": False, "rounds": 3, "command": command,
            "cases": cases}


def _pipeline(images_per_second):
    return {"flip": {"stats": {"median": images_per_second, "min": images_per_second - 10.0,
                               "max": images_per_second + 10.0, "n": 3}}}


def _run(folder, recipe, seed, machine, accuracies, test):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"recipe": recipe, "seed": seed}))
    (folder / "summary.json").write_text(json.dumps({
        "test_accuracy": test, "validation_accuracy": accuracies[-1], "total_seconds": 60.0 * len(accuracies) + 30,
        "machine": machine, "command": f"python -m training {recipe} --seed {seed}", "git_commit": "fedcba987654"}))
    rows = ["epoch,epoch_seconds,epoch_wall_seconds,val_accuracy"]
    rows += [f"{i},55.0,60.0,{a}" for i, a in enumerate(accuracies)]
    (folder / "history.csv").write_text("\n".join(rows) + "\n")


def test_committed_results_md_and_plots_regenerate_byte_for_byte():
    """The committed RESULTS.md and plots are exactly what the committed results/ and runs/ give."""
    files = report.report_files(BENCHMARKS)
    assert "RESULTS.md" in files and any(name.startswith("plots/") for name in files)
    for rel, data in files.items():
        want = data.encode() if isinstance(data, str) else data
        with open(os.path.join(BENCHMARKS, rel), "rb") as f:
            assert f.read() == want, f"benchmarks/{rel} is stale: run python -m benchmarks report --out benchmarks"
    # Every plot under benchmarks/plots is one the report makes (no orphan from an earlier layout).
    assert sorted(f"plots/{n}" for n in os.listdir(os.path.join(BENCHMARKS, "plots"))) == \
        sorted(n for n in files if n.startswith("plots/"))


def test_report_groups_by_machine_and_reads_training_runs(tmp_path):
    out = tmp_path / "bench"
    (out / "results").mkdir(parents=True)
    (out / "results" / "20261201-0900-pipeline.json").write_text(json.dumps(
        _results(EPYC, "python -m benchmarks --cases pipeline", {"pipeline": _pipeline(1000.0)})))
    (out / "results" / "20261203-1000-pipeline.json").write_text(json.dumps(
        _results(XEON, "python -m benchmarks --cases pipeline --rounds 3", {"pipeline": _pipeline(2000.0)})))
    _run(out / "runs" / "fast-seed0", "fast", 0, XEON, [0.90, 0.925, 0.941], 0.938)
    _run(out / "runs" / "fast-seed1", "fast", 1, XEON, [0.91, 0.93, 0.935], 0.936)
    (out / "runs" / "fast-seed1" / "note.txt").write_text("shared the cores with another run.\n")
    files = report.report_files(str(out))
    text = files["RESULTS.md"]
    assert text.startswith(report.GENERATED + "\n")
    epyc = text.index("## Machine: AMD EPYC, 2 cores (avx2)")
    xeon = text.index("## Machine: Intel Xeon, 2 cores (avx2, amx_bf16)")
    # Each machine's figures sit under its own heading, never in a table with the other's.
    assert epyc < text.index("| flip | 1000 (990-1010) |") < xeon < text.index("| flip | 2000 (1990-2010) |")
    assert "File `results/20261203-1000-pipeline.json`; git commit 0123456789ab" in text
    assert "`python -m benchmarks --cases pipeline --rounds 3`" in text
    # The seeds' mean ± sample std (test 0.938, 0.936: mean 0.9370, std 0.0014) and per-run time to accuracy.
    assert "| fast | 0, 1 | 0.9370 ± 0.0014 | - | 0.9380 ± 0.0042 | 3.5 ± 0.0 |" in text
    assert "| fast-seed0 | 0 | 2.0 | 3.0 | 0.9410 | 0.9380 | n/a | 3.5 | fedcba987654 |" in text
    assert "| fast-seed1 | 1 | 2.0 | n/a | 0.9350 | 0.9360 | n/a | 3.5 | fedcba987654 |" in text
    assert "- fast-seed1: `python -m training fast --seed 1`. Note: shared the cores with another run." in text
    assert "- fast-seed0: `python -m training fast --seed 0`\n" in text
    assert text.index("### Training runs") > xeon  # the runs' machine
    curve_plots = [name for name in files if name.startswith("plots/time-to-accuracy-intel-xeon-")]
    assert len(curve_plots) == 1 and files[curve_plots[0]][:8] == b"\x89PNG\r\n\x1a\n"
    # Same inputs, same bytes.
    assert report.report_files(str(out)) == files


def test_report_command_writes_checks_and_refuses_folders_not_its_own(tmp_path):
    out = tmp_path / "bench"
    shutil.copytree(os.path.join(BENCHMARKS, "results"), out / "results")
    shutil.copytree(os.path.join(BENCHMARKS, "runs"), out / "runs")
    shutil.copytree(os.path.join(BENCHMARKS, "tuning"), out / "tuning")
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "benchmarks", "report", *args], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=300)

    assert cli("--out", str(out), "--check").returncode == 1  # nothing written yet
    done = cli("--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    with open(os.path.join(BENCHMARKS, "RESULTS.md"), "rb") as f:
        assert (out / "RESULTS.md").read_bytes() == f.read()
    assert cli("--out", str(out), "--check").returncode == 0
    # A new measurement file makes the report stale until it is regenerated.
    (out / "results" / "20991231-2359-pipeline.json").write_text(json.dumps(
        _results(XEON, "python -m benchmarks --cases pipeline", {"pipeline": _pipeline(5.0)})))
    assert cli("--out", str(out), "--check").returncode == 1
    # A folder with someone else's RESULTS.md, or nothing to report on: exit 2, nothing written.
    home = tmp_path / "home"
    (home / "results").mkdir(parents=True)
    (home / "RESULTS.md").write_text("my own results\n")
    done = cli("--out", str(home))
    assert done.returncode == 2 and "did not write" in done.stderr
    assert (home / "RESULTS.md").read_text() == "my own results\n" and sorted(os.listdir(home)) == ["RESULTS.md", "results"]
    done = cli("--out", str(tmp_path / "empty"))
    assert done.returncode == 2 and "neither results/ nor runs/" in done.stderr
    assert not (tmp_path / "empty").exists()


def test_a_run_without_a_validation_curve_is_a_clear_error(tmp_path):
    out = tmp_path / "bench"
    _run(out / "runs" / "old", "fast", 0, XEON, [0.9], 0.9)
    (out / "runs" / "old" / "history.csv").write_text("epoch,epoch_seconds,val_accuracy\n0,60.0,NA\n")
    with pytest.raises(ValueError, match="has no validation curve"):
        report.report_files(str(out))


def _tuning_run(folder, seed, machine, validation, *, label_smoothing, erasing, tested=False):
    folder.mkdir(parents=True)
    config = {"recipe": "fast", "seed": seed, "run_name": folder.name, "export_dir": f"runs/{folder.name}",
              "epochs": 14, "loss": {"label_smoothing": label_smoothing}, "augment": {"random_erasing": erasing}}
    (folder / "config.json").write_text(json.dumps(config))
    summary = {"evaluated_on": "test" if tested else "validation", "validation_accuracy": validation,
               "total_seconds": 780.0, "machine": machine, "git_commit": "abcdef012345",
               "command": f"python -m training fast --seed {seed} --set evaluate_test=False"}
    (folder / "summary.json").write_text(json.dumps(summary | ({"test_accuracy": 0.9} if tested else {})))


def test_tuning_runs_are_listed_per_recipe_with_the_settings_they_compared(tmp_path):
    out = tmp_path / "bench"
    base = out / "tuning" / "fast"
    _tuning_run(base / "ls0.1-erasing-seed0", 0, XEON, 0.9401, label_smoothing=0.1, erasing=True)
    _tuning_run(base / "ls0-erasing-seed0", 0, XEON, 0.9377, label_smoothing=0.0, erasing=True)
    _tuning_run(base / "ls0.1-no-erasing-seed0", 0, EPYC, 0.9333, label_smoothing=0.1, erasing=False)
    (base / "plan.sh").write_text("bash scripts/tune.sh fast 0 ls0.1-erasing\n")  # beside the runs: not a run
    (base / "ls0-erasing-seed0" / "note.txt").write_text("shared the cores.\n")
    text = report.report_files(str(out))["RESULTS.md"]
    epyc, xeon = text.index("## Machine: AMD EPYC"), text.index("## Machine: Intel Xeon")
    # Per machine; the columns are the settings that differ between the machine's runs of the recipe (run names,
    # export folders and seeds are not settings).
    assert epyc < text.index("| run | seed | validation | validation, flip TTA | minutes | commit |\n|---|---|---|---|---|---|\n") < xeon
    assert "| ls0.1-no-erasing-seed0 | 0 | 0.9333 | n/a | 13.0 | abcdef012345 |" in text
    header = text.index("| run | seed | `loss.label_smoothing` | validation | validation, flip TTA | minutes | commit |")
    assert header > xeon
    assert "| ls0.1-erasing-seed0 | 0 | 0.1 | 0.9401 | n/a | 13.0 | abcdef012345 |" in text
    assert "| ls0-erasing-seed0 | 0 | 0.0 | 0.9377 | n/a | 13.0 | abcdef012345 |" in text
    assert ("- ls0-erasing-seed0: `python -m training fast --seed 0 --set evaluate_test=False`. Note: shared the "
            "cores.") in text
    # A run that read the test split is not a tuning run.
    _tuning_run(base / "peeked-seed1", 1, XEON, 0.95, label_smoothing=0.1, erasing=True, tested=True)
    with pytest.raises(ValueError, match=r"peeked-seed1 is not a tuning run: it evaluated the test split \(test_accuracy\)"):
        report.report_files(str(out))


def test_each_measurement_run_writes_its_own_file(tmp_path, monkeypatch):
    """The runner saves a run as results/<date>-<cases>.json with its command, commit and machine, and a later
    run adds a file beside it instead of editing it."""
    calls = []

    def fake_pipeline(ctx):
        calls.append(ctx.rounds)
        return _pipeline(100.0 * len(calls))

    monkeypatch.setitem(runner.CASE_FUNCTIONS, "pipeline", fake_pipeline)
    out = tmp_path / "bench"
    assert runner.main(["--cases", "pipeline", "--rounds", "2", "--out", str(out), "--quiet"]) == 0
    (first,) = sorted(os.listdir(out / "results"))
    first_bytes = (out / "results" / first).read_bytes()
    saved = json.loads(first_bytes)
    assert first.endswith("-pipeline.json") and saved["rounds"] == 2
    assert saved["command"] == f"python -m benchmarks --cases pipeline --rounds 2 --out {out} --quiet"
    assert saved["git_commit"] and saved["machine"]["cpus"] == os.cpu_count()
    assert saved["cases"]["pipeline"]["flip"]["stats"]["median"] == 100.0
    assert runner.main(["--cases", "pipeline", "--out", str(out), "--quiet"]) == 0
    names = sorted(os.listdir(out / "results"))
    assert len(names) == 2 and (out / "results" / first).read_bytes() == first_bytes
    text = (out / "RESULTS.md").read_text()
    # Both runs are reported, newest first, each under its own heading.
    assert text.index("| flip | 200 (190-210) |") < text.index("| flip | 100 (90-110) |")
    assert report.report_files(str(out))["RESULTS.md"] == text


@pytest.mark.parametrize("args, said", [
    (["fast", "x", "label"], "the seed is an integer >= 0. Received: 'x'"),
    (["fast", "0", "../up"], "the label is a plain name"),
    (["fast", "0", ".hidden"], "the label is a plain name"),
    (["fast", "0", "label", "epochs"], "overrides are KEY=VALUE. Received: 'epochs'"),
    (["fast", "0"], "usage: bash scripts/tune.sh RECIPE SEED LABEL"),
])
def test_tune_script_refuses_bad_arguments_before_any_work(args, said):
    """scripts/tune.sh checks its arguments before it trains or writes anything (a label becomes a folder)."""
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "tune.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, "VENV": "/nonexistent-venv"})  # a run would fail: python not found
    assert done.returncode == 2 and said in done.stderr, done.stderr
    assert not os.path.exists(os.path.join(BENCHMARKS, "tuning", "fast"))
