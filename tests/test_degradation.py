"""examples/degradation.py in process: the per-epoch state, --resume, and the verdict on each half of He et al.'s
Figure 6 (the end-to-end command line is in tests/test_examples.py)."""

import argparse
import importlib.util
import json
import os
from pathlib import Path

import pytest

from tests.real_data import load_sample

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("degradation_example", ROOT / "examples" / "degradation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(out, **overrides):
    values = dict(dataset="fashion_mnist", depths="8", epochs=2, train_size=256, test_size=64, batch_size=64, lr=0.05,
                  weight_decay=1e-4, log_every=2, seed=0, out=str(out), save_models=False, precision="float32",
                  resume=False)
    return argparse.Namespace(**(values | overrides))


def _data():
    images, labels = load_sample(320)
    x = images.astype("float32") / 255.0
    return (x[:256], labels[:256]), (x[256:], labels[256:]), x.shape[1:], 10


def test_state_after_every_epoch_and_resume(tmp_path, capsys):
    example = _example()
    data = _data()
    first = example.train_one(8, True, data, _args(tmp_path))
    model_path, curve_path = example._state_paths(str(tmp_path), "resnet8")
    state = json.loads(Path(curve_path).read_text())
    assert state["epochs_done"] == 2 and state["step"] == 8 and len(state["test"]) == 2
    assert [tuple(p) for p in state["test"]] == [tuple(p) for p in first["test_curve"]]
    assert os.path.getsize(model_path) > 10_000 and not [n for n in os.listdir(tmp_path / "state") if n.startswith(".tmp")]
    # A run that stopped after epoch 1: --resume trains epoch 2 only, continuing the step count and the curves.
    state.update(epochs_done=1, step=4, train=state["train"][:2], test=state["test"][:1])
    Path(curve_path).write_text(json.dumps(state))
    resumed = example.train_one(8, True, data, _args(tmp_path, resume=True))
    assert "resnet8: resumed after epoch 1/2" in capsys.readouterr().out
    assert [step for step, _ in resumed["test_curve"]] == [4, 8] and resumed["test_curve"][0] == first["test_curve"][0]
    assert len(resumed["train_curve"]) == 4 and resumed["params"] == first["params"]
    # Resuming with another schedule would continue a different run: refused, naming both settings.
    with pytest.raises(SystemExit, match="other settings than the saved run's"):
        example.train_one(8, True, data, _args(tmp_path, resume=True, epochs=3))


def test_verdict_on_each_half_of_the_claim():
    example = _example()

    def result(name, error):
        return {"model": name, "final_train_error": error}

    paper = example.verdict([result("plain20", 0.05), result("plain56", 0.08), result("resnet20", 0.04),
                             result("resnet56", 0.02)])
    assert paper["plain"]["holds"] and paper["residual"]["holds"]
    assert (paper["plain"]["shallow"], paper["plain"]["deep"]) == ("plain20", "plain56")
    short = example.verdict([result("plain20", 0.05), result("plain56", 0.04), result("resnet20", 0.04),
                             result("resnet56", 0.06)])
    assert not short["plain"]["holds"] and not short["residual"]["holds"]
    assert example.verdict([result("resnet20", 0.04)]) == {}  # one depth: nothing to compare
