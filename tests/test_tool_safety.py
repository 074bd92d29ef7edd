"""Hostile output paths for the two tool command lines (`keras_resnets.export`, `keras_resnets.visualize`).

A user's tree (tests/safety_helpers.py) is built in tmp_path and the commands are run from a folder inside it
with outputs that name the user's own folders and files (`..`-style, absolute, through a symbolic link), an
existing file, `--overwrite` aimed at folders that are not exports, and an unwritable place (`/proc/x`).
After every case the tree is byte-for-byte what it was and the exit code is 2 (a usage error). The commands
run in-process (`_cli(argv)`), with one subprocess per tool for the real exit code.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import export
from keras_resnets import tool_io
from keras_resnets import visualize
from tests.safety_helpers import snapshot, user_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORT_FAST = ["--formats", "saved_model", "--no-benchmark", "--num-verify", "4", "--num-calibration", "4"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny classifier (16x16x3 raw pixels in, 5 classes) as a .keras file and 8 images, kept apart from
    the user's tree."""
    folder = tmp_path_factory.mktemp("inputs")
    keras.utils.set_random_seed(0)
    keras_resnets.create_model("resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4,
                               input_shape=(16, 16, 3), classes=5, include_preprocessing=True
                               ).save(folder / "model.keras")
    np.save(folder / "images.npy", np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype("uint8"))
    return folder


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The user's tree, with a folder that looks like an export (a metadata.json that does not list the user's
    file) and a figure; the commands run from `home/notes`, so `..` is the user's whole tree."""
    root = user_tree(tmp_path / "home")
    os.makedirs(os.path.join(root, "runs", "export"))
    with open(os.path.join(root, "runs", "export", "metadata.json"), "w") as f:
        json.dump({"files": {}}, f)
    with open(os.path.join(root, "runs", "export", "mine.txt"), "w") as f:
        f.write("my results\n")
    with open(os.path.join(root, "figure.png"), "wb") as f:
        f.write(b"\x89PNG my own figure")
    monkeypatch.chdir(os.path.join(root, "notes"))
    return root


@pytest.fixture
def no_model_loads(monkeypatch):
    """Hostile outputs must be refused before any model is loaded or built."""

    def never(*args, **kwargs):
        raise AssertionError("a model was loaded before the outputs were checked")

    monkeypatch.setattr(tool_io, "load_keras_model", never)  # both tools load .keras files through tool_io
    monkeypatch.setattr(keras_resnets, "create_model", never)


def _run(cli, argv, capsys):
    code = cli([str(a) for a in argv])
    err = capsys.readouterr().err
    if code:
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return code, err


HOSTILE_DIRS = [
    "..",  # the user's whole tree
    "../notes",  # the folder the command runs in
    ".",
    "../../home",
    "{root}",
    "{root}/outside",
    "../link_to_outside",  # a symbolic link to a folder outside
    "../README.md",  # an existing file
    "../empty_model.keras",
    "../runs/export",  # looks like an export; its metadata.json does not list the user's file
    "../README.md/out",  # below a file
    "/proc/x",
    "/proc/x/out",
]


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_export_refuses_hostile_out_dirs(home, inputs, no_model_loads, capsys, overwrite):
    before = snapshot(home)
    for out_dir in HOSTILE_DIRS:
        argv = [inputs / "model.keras", out_dir.format(root=home), *EXPORT_FAST] + (["--overwrite"] if overwrite
                                                                                  else [])
        code, err = _run(export._cli, argv, capsys)
        assert code == 2, (out_dir, err)
        assert snapshot(home) == before, out_dir
    assert "Refusing to replace" in err or "cannot be written" in err


VISUALIZE_HOSTILE = [
    ["--out", ".."],
    ["--out", "{root}"],
    ["--out", "../link_to_outside"],
    ["--out", "../figure.png"],  # an existing file
    ["--out", "../README.md", "--overwrite"],  # not a PNG, even with --overwrite
    ["--out", "../README.md/x.png"],
    ["--out", "/proc/x/fig.png"],
    ["--out", "../new.png", "--json", "../README.md"],  # the figure must not be written either
    ["--out", "../new.png", "--json", ".."],
    ["--out", "../new.png", "--json", "../link_to_outside", "--overwrite"],
    ["--out", "../new.png", "--json", "/proc/x/numbers.json"],
    ["--out", "../new.png", "--json", "../new.png", "--overwrite"],
]


def test_visualize_refuses_hostile_outputs(home, inputs, no_model_loads, capsys):
    before = snapshot(home)
    for extra in VISUALIZE_HOSTILE:
        argv = ["feature-maps", inputs / "model.keras", "--images", inputs / "images.npy",
                *[a.format(root=home) for a in extra]]
        code, err = _run(visualize._cli, argv, capsys)
        assert code == 2, (extra, err)
        assert snapshot(home) == before, extra


def test_export_into_a_fresh_path_then_overwrite_only_our_own(home, inputs, capsys):
    before = snapshot(home)
    argv = [inputs / "model.keras", "../exports/fresh", *EXPORT_FAST]  # its parent is created
    assert _run(export._cli, argv, capsys)[0] == 0
    fresh = os.path.join(home, "exports", "fresh")
    assert snapshot(home, skip=["exports"]) == before
    assert os.listdir(os.path.join(home, "exports")) == ["fresh"]
    assert {"metadata.json", "model.keras", "saved_model"} <= set(os.listdir(fresh))
    assert _run(export._cli, [*argv, "--overwrite"], capsys)[0] == 0  # our own, unchanged export
    assert snapshot(home, skip=["exports"]) == before
    with open(os.path.join(fresh, "my_notes.txt"), "w") as f:
        f.write("added by the user\n")
    ours = snapshot(fresh)
    code, err = _run(export._cli, [*argv, "--overwrite"], capsys)
    assert code == 2 and "Refusing to replace" in err and "my_notes.txt" in err
    assert snapshot(fresh) == ours and snapshot(home, skip=["exports"]) == before


def test_visualize_into_a_fresh_path(home, inputs, capsys):
    before = snapshot(home)
    argv = ["feature-maps", inputs / "model.keras", "--images", inputs / "images.npy", "--out", "../figs/maps.png",
            "--json", "../figs/maps.json"]
    assert _run(visualize._cli, argv, capsys)[0] == 0
    assert snapshot(home, skip=["figs"]) == before
    assert sorted(os.listdir(os.path.join(home, "figs"))) == ["maps.json", "maps.png"]
    figures = snapshot(os.path.join(home, "figs"))
    code, err = _run(visualize._cli, argv, capsys)
    assert code == 2 and "--out exists" in err and snapshot(os.path.join(home, "figs")) == figures
    assert _run(visualize._cli, [*argv, "--overwrite"], capsys)[0] == 0
    assert sorted(os.listdir(os.path.join(home, "figs"))) == ["maps.json", "maps.png"]
    assert snapshot(home, skip=["figs"]) == before


def test_real_exit_codes_in_a_subprocess(home, inputs):
    """`python -m ...`: exit 2 and one line on stderr, no traceback, for an output that is the user's tree."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    before = snapshot(home)
    commands = [
        [sys.executable, "-m", "keras_resnets.export", str(inputs / "model.keras"), "..", "--overwrite"],
        [sys.executable, "-m", "keras_resnets.visualize", "feature-maps", str(inputs / "model.keras"), "--images",
         str(inputs / "images.npy"), "--out", "../figure.png"],
    ]
    for command in commands:
        done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 2, done.stderr[-2000:]
        lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert snapshot(home) == before
