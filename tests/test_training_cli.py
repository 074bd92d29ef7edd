"""The training app's first hour: a quiet start (no TensorFlow/CUDA start-up log unless --verbose), where the
run's files and W&B go, a readable summary at the end, progress bars only in a terminal, a --smoke run that
says what it is and keeps nothing, and --list with one described line per recipe."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from keras_resnets._quiet import silenced_stderr
from training import cli
from training.config import list_recipes
from training.tracking import describe_mode
from training.train import summary_lines

ROOT = Path(__file__).resolve().parents[1]
# The start-up log of `import tensorflow` and of its first device lookup on a machine without a GPU.
NOISE = ("absl::InitializeLog", "oneDNN custom operations", "cudart_stub", "Could not find cuda drivers", "cuInit",
         "rebuild TensorFlow", "cpu_feature_guard")
TINY = ["--set", "model.kwargs.stage_depths=(1, 1, 1)", "--set", "model.kwargs.stage_widths=(4, 8, 8)",
        "--set", "model.kwargs.stem_width=4"]


def _cli(args, tmp_path, **env):
    """`python -m training ARGS` in a fresh process, with nothing of this process's TensorFlow or W&B settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "TF_CPP_"))}
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(base, HOME=str(tmp_path / "home"), **env))


def test_the_cli_starts_quietly_and_verbose_brings_the_log_back(tmp_path):
    quiet = _cli(["--print-config"], tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert [marker for marker in NOISE if marker in quiet.stderr] == [], quiet.stderr[-3000:]
    assert quiet.stdout.startswith("{")
    verbose = _cli(["--print-config", "--verbose"], tmp_path)
    assert verbose.returncode == 0 and verbose.stdout == quiet.stdout
    # TensorFlow 2.21 (pinned) logs its oneDNN and CUDA-stub lines at import: --verbose shows them again.
    assert any(marker in verbose.stderr for marker in NOISE), verbose.stderr[-3000:]


@pytest.mark.parametrize("command", [["-m", "keras_resnets.export", "--help"],
                                     ["-m", "keras_resnets.visualize", "--help"],
                                     ["examples/quickstart.py"]], ids=["export", "visualize", "quickstart"])
def test_the_other_command_lines_start_quietly_too(command, tmp_path):
    """The export and visualize command lines and the examples import the package, and so TensorFlow, before
    their main() runs: keras_resnets/__init__.py starts TensorFlow quietly for them (--verbose: as it is)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP_")}
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=600, env=base)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [marker for marker in NOISE if marker in done.stderr] == [], done.stderr[-3000:]
    if command[0] == "-m":
        verbose = subprocess.run([sys.executable, *command, "--verbose"], cwd=ROOT, capture_output=True, text=True,
                                 timeout=300, env=base)
        assert verbose.returncode == 0 and any(marker in verbose.stderr for marker in NOISE), verbose.stderr[-3000:]


def test_silenced_stderr_hides_writes_and_replays_them_when_the_block_fails(capfd):
    with silenced_stderr():
        os.write(2, b"start-up noise\n")
        print("python noise", file=sys.stderr)
    os.write(2, b"a later error\n")
    err = capfd.readouterr().err
    assert "noise" not in err and "a later error" in err
    with pytest.raises(ImportError):
        with silenced_stderr():
            os.write(2, b"why the import failed\n")
            print("and a Python warning", file=sys.stderr)
            raise ImportError("broken")
    err = capfd.readouterr().err
    assert "why the import failed" in err and "and a Python warning" in err


def test_list_prints_one_described_line_per_recipe_and_marks_the_default(capsys):
    assert cli.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    recipes = list_recipes()
    rows = lines[:len(recipes)]
    assert [row[2:].split()[0] for row in rows] == recipes
    assert [row for row in rows if row.startswith("*")] == [
        next(row for row in rows if row[2:].startswith(cli.DEFAULT_RECIPE + " "))]
    assert "the default recipe" in next(row for row in rows if row.startswith("*"))
    column = {len(row) - len(row[2:].split(None, 1)[1]) for row in rows}
    assert len(column) == 1  # the descriptions start in one column
    assert all(len(row[2:].split(None, 1)[1]) > 20 for row in rows)  # each recipe has a description
    wrn = next(row for row in rows if "cifar10_wrn28_10" in row)
    assert wrn.endswith("Zagoruyko & Komodakis (2016)")  # a summary that runs on is cut, not left mid-sentence


def test_smoke_says_what_it_is_keeps_nothing_and_prints_a_readable_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert cli.main(["cifar10_resnet20", "--smoke", *TINY]) == 0
    out = capsys.readouterr().out
    assert "synthetic data" in out and "mean nothing" in out
    assert "export: none" in out and "W&B: disabled" in out
    assert list(temp_root.glob("training-smoke-*")) == []  # the temporary workdir it made is removed
    assert not (tmp_path / "saved_models").exists() and not (tmp_path / "runs").exists()
    assert "summary: {" not in out and "━" not in out  # no dict, and no progress bar outside a terminal
    rows = [line[2:].split("  ", 1) for line in out[out.index("\ndone: "):].splitlines() if line.startswith("  ")]
    assert [name for name, _ in rows] == ["test accuracy", "wall time", "workdir", "export", "W&B"]
    assert [value.lstrip() for _, value in rows][-2:] == ["none", "disabled"]
    assert len({len(row[0]) + len(row[1]) - len(row[1].lstrip()) for row in rows}) == 1  # one value column


def test_smoke_with_export_and_workdir_keeps_both_and_a_terminal_gets_a_progress_bar(tmp_path, monkeypatch,
                                                                                       capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    workdir = tmp_path / "smoke"
    assert cli.main(["cifar10_resnet20", "--smoke", "--export", "--workdir", str(workdir), "--wandb", "disabled",
                     "--set", f"export_dir={str(tmp_path / 'exports')!r}", *TINY]) == 0
    out = capsys.readouterr().out
    assert "━" in out  # Keras' progress bar (verbose=1)
    assert (workdir / "summary.json").is_file()
    assert (tmp_path / "exports" / "smoke" / "model.keras").is_file()
    assert f"export: {tmp_path / 'exports' / 'smoke'}" in out


def test_a_run_logs_where_its_wandb_files_are_and_how_to_sync_them(tmp_path):
    """A whole run in its own process: nothing of TensorFlow's log on stderr, the W&B line at the start with the
    `wandb sync` command of the offline run, one line per epoch in a log file, and the summary."""
    workdir = tmp_path / "run"
    run = _cli(["cifar10_resnet20", "--smoke", "--workdir", str(workdir), "--wandb", "offline", *TINY], tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert [marker for marker in NOISE if marker in run.stderr] == [], run.stderr[-3000:]
    out = run.stdout
    assert f"W&B: offline; its files in {workdir / 'wandb'}" in out
    sync = [line for line in out.splitlines() if "wandb sync" in line]
    assert sync and all(f"wandb sync {workdir / 'wandb' / 'offline-run-'}" in line for line in sync)
    assert Path(sync[0].split("wandb sync ", 1)[1]).is_dir()
    assert "\r" not in out and "━" not in out and "2/2 - " in out  # verbose=2: one line per epoch
    assert "test accuracy" in out and "wall time" in out and "summary: {" not in out


def test_summary_lines_are_aligned_and_readable():
    lines = summary_lines({"validation_accuracy": 0.91234, "validation_accuracy_flip_tta": 0.915,
                           "evaluated_on": "test", "test_accuracy": 0.92371, "test_accuracy_flip_tta": 0.9301,
                           "total_seconds": 366.4, "train_seconds": 340.0, "images_per_second": 812.3,
                           "workdir": "/w", "export_dir": "/e"}, wandb="wandb sync /w/wandb/offline-run-1")
    assert lines == [
        "  validation accuracy  0.9123 (0.9150 with flip TTA)",
        "  test accuracy        0.9237 (0.9301 with flip TTA)",
        "  wall time            6 min 06 s (5 min 40 s training, 812 images/s)",
        "  workdir              /w",
        "  export               /e",
        "  W&B                  wandb sync /w/wandb/offline-run-1",
    ]


def test_wandb_mode_line_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    assert describe_mode("auto", "/w").startswith("offline (auto: no API key")
    assert describe_mode("auto", "/w").endswith("its files in /w/wandb")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert describe_mode("auto", "/w").startswith("online (auto: an API key is configured)")
    assert describe_mode("disabled", "/w").startswith("disabled")
