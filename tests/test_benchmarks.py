"""The benchmark suite's own correctness: FLOP counting, each measurement kind on tiny sizes, the runner's
interleaving and statistics, and a quick end-to-end run that writes JSON, Markdown and plots. (The
measurements themselves are in benchmarks/RESULTS.md; nothing here times anything against a target.)"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnets
from benchmarks import report, runner, worker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_count_flops_is_exact_on_a_small_model():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(6, 3, padding="same")(inputs)  # 8*8 outputs * 3*3*4 * 6 MACs
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", groups=2)(x)  # 4*4 * 3*3*3 * 6
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 4*4 * 3*3 * 6
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)  # 6 * 10
    model = keras.Model(inputs, outputs)
    macs = 64 * 36 * 6 + 16 * 27 * 6 + 16 * 9 * 6 + 60
    assert worker.count_flops(model) == 2 * macs


def test_count_flops_of_resnet50_matches_the_published_figure():
    # keras.applications' ResNet50 (stride on the 1x1): 3.86 GMACs at 224, i.e. about 7.7 GFLOPs.
    flops = worker.count_flops(keras_resnets.ResNet50(weights=None))
    assert 7.6e9 < flops < 7.9e9


def _check_timings(result, repeats, images=None, flops=None):
    """A measurement's summary: as many repeats as asked, the median between their min and max, and the rates
    derived from the median (`images` per repeat, `flops` per repeat)."""
    assert result["repeats"] == repeats
    assert 0 < result["min_s"] <= result["median_s"] <= result["max_s"]
    if images is not None:
        assert result["images_per_second"] == pytest.approx(images / result["median_s"], rel=1e-12)
    if flops is not None:
        assert result["gflops"] == pytest.approx(flops / result["median_s"] / 1e9, rel=1e-12)


def _check_ceiling(result, n, repeats, backend):
    assert result["n"] == n and result["flops"] == 2 * n**3  # an n x n by n x n matrix product
    for key in ("numpy", backend):
        _check_timings(result[key], repeats, flops=2 * n**3)
    assert result["gflops"] == max(result["numpy"]["gflops"], result[backend]["gflops"])


def test_ceiling_and_inference_kinds():
    backend = keras.backend.backend()
    _check_ceiling(worker.ceiling({"n": 64, "repeats": 2, "warmup": 1, "backend": backend}), 64, 2, backend)
    spec = {"source": "keras_resnets", "model": "resnet20", "image_size": 16, "batch_size": 2, "classes": 10,
            "mode": "compiled", "repeats": 2, "warmup": 1}
    result = worker.inference(spec)
    _check_timings(result, 2, images=2, flops=result["flops_per_batch"])
    assert result["flops_per_batch"] == 2 * worker.count_flops(
        keras_resnets.create_model("resnet20", input_shape=(16, 16, 3), classes=10))
    assert result["batch_norms_folded"] == 0
    folded = worker.inference(dict(spec, fold_batch_norm=True))
    assert folded["batch_norms_folded"] == 19 and folded["flops_per_batch"] == result["flops_per_batch"]
    litert = worker.inference(dict(spec, mode="litert", threads=1))
    assert litert["threads"] == 1 and litert["batch_norms_folded"] == 19
    _check_timings(litert, 2, images=2, flops=litert["flops_per_batch"])
    assert litert["flops_per_batch"] == result["flops_per_batch"] and litert["max_abs_diff"] < 1e-3
    with pytest.raises(ValueError, match="mode must be"):
        worker.inference(dict(spec, mode="fast"))
    with pytest.raises(ValueError, match="source must be"):
        worker.build_model("timm", "resnet50", (32, 32, 3))


def test_training_kinds_measure_whole_epochs(tmp_path):
    common = {"model": "resnet20", "image_size": 16, "batch_size": 4, "steps": 2, "epochs": 2, "classes": 10}
    baseline = worker.train_keras_defaults(common)
    package = worker.train_package(dict(common, recipe="cifar10_resnet20"))
    for result in (baseline, package):
        assert len(result["epoch_images_per_second"]) == 2
        # The first epoch (tracing) is left out of the median: one measured epoch of 2 steps of 4 images.
        _check_timings(result, 1, images=8)
        assert result["min_s"] == result["median_s"] == result["max_s"]
        assert result["images_per_second"] == pytest.approx(result["epoch_images_per_second"][1])
    assert package["steps_per_execution"] == 1
    memory = worker.train_memory({"source": "keras_resnets", "model": "resnet20", "image_size": 16, "batch_size": 2,
                                  "classes": 10, "repeats": 2, "warmup": 1})
    assert memory["parameters"] == keras_resnets.create_model("resnet20", classes=10).count_params()
    _check_timings(memory, 2, images=2)


def test_pipeline_kind_reads_the_training_pipeline():
    result = worker.pipeline({"dataset": "synthetic", "batch_size": 8, "batches": 3, "repeats": 2, "warmup": 1,
                              "augment": {"random_crop": 2, "horizontal_flip": True},
                              "synthetic": {"num_examples": {"train": 32, "test": 8}, "image_shape": [8, 8, 3],
                                            "num_classes": 3}})
    assert result["source"] == "synthetic"
    _check_timings(result, 2, images=3 * 8)  # 3 batches of 8 per repeat


def test_torch_twins_have_the_keras_models_trainable_parameters():
    from benchmarks import torch_models

    for name, classes in (("resnet20", 10), ("resnet50", 1000)):
        model = keras_resnets.create_model(name, classes=classes)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert torch_models.count_parameters(torch_models.build(name, classes)) == trainable
    result = worker.train_torch({"model": "resnet20", "image_size": 16, "batch_size": 4, "steps": 2, "epochs": 2})
    assert len(result["epoch_images_per_second"]) == 2


def test_interleaving_rotates_the_order_and_ratios_are_paired(monkeypatch):
    calls = []

    def fake_worker(ctx, spec, backend="tensorflow", python=None):
        calls.append(spec["name"])
        return {"images_per_second": spec["speed"] * (1 + len(calls) % 2)}

    monkeypatch.setattr(runner, "run_worker", fake_worker)
    ctx = runner.Context(runner.parse_args(["--rounds", "3", "--quiet"]))
    runs = runner.interleaved(ctx, {"a": ({"name": "a", "speed": 2.0}, "tensorflow", None),
                                    "b": ({"name": "b", "speed": 1.0}, "tensorflow", None)})
    assert calls == ["a", "b", "b", "a", "a", "b"]
    # The fake speeds double on odd calls: a measures 4, 2, 4 and b 1, 2, 1 over the three rounds.
    assert [r["images_per_second"] for r in runs["a"]] == [4.0, 2.0, 4.0]
    assert [r["images_per_second"] for r in runs["b"]] == [1.0, 2.0, 1.0]
    assert runner.stat(runs["a"]) == {"median": 4.0, "min": 2.0, "max": 4.0, "n": 3}
    # Ratios are paired by round (4, 1, 4), not the quotient of the medians (4 / 1).
    assert runner.ratio(runs["a"], runs["b"]) == {"median": 4.0, "min": 1.0, "max": 4.0, "n": 3}
    assert runner.ratio(runs["a"], runs["b"], invert=True) == {"median": 0.25, "min": 0.25, "max": 1.0, "n": 3}
    assert runner.stat([{"error": "boom"}])["error"] == "boom"


def test_runner_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exited:
        runner.parse_args(["--cases", "inference,warp_speed"])
    assert exited.value.code == 2 and "unknown case(s) ['warp_speed']; allowed: " in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        runner.parse_args(["--rounds", "0"])
    assert exited.value.code == 2 and "--rounds must be >= 1. Received: 0" in capsys.readouterr().err


def test_runner_writes_only_into_its_own_output_folders(tmp_path, capsys):
    """--out must be new, empty or an earlier benchmark output (a RESULTS.md that the report generated): a user's
    RESULTS.md elsewhere is never overwritten."""
    from tests.safety_helpers import snapshot, user_tree

    root = user_tree(tmp_path / "home")
    (tmp_path / "home" / "RESULTS.md").write_text("my own results\n")
    before = snapshot(root)
    for out in (root, os.path.join(root, "notes"), os.path.join(root, "link_to_outside"),
                os.path.join(root, "README.md")):
        with pytest.raises(SystemExit) as exit_:
            runner.parse_args(["--cases", "ceiling", "--out", out])
        assert exit_.value.code == 2 and "python -m benchmarks" in capsys.readouterr().err
    assert snapshot(root) == before
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "RESULTS.md").write_text(report.GENERATED + "\n")
    for out in (tmp_path / "ours", tmp_path / "new", tmp_path / "home" / "outside" / "fresh"):
        assert runner.parse_args(["--cases", "ceiling", "--out", str(out)]).out == str(out)


def test_quick_run_writes_json_markdown_and_plots(tmp_path, fashion_mnist_dir):
    """The pipeline case reads the real Fashion-MNIST (the Debian package), so this test needs it."""
    out = tmp_path / "bench"
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--cases", "ceiling,pipeline,scaling",
                           "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    (name,) = os.listdir(out / "results")
    results = json.loads((out / "results" / name).read_text())
    assert results["quick"] and set(results["cases"]) == {"ceiling", "pipeline", "scaling"}
    assert results["rounds"] == 1
    ceiling = results["cases"]["ceiling"]
    for backend in ("tensorflow", "jax"):
        assert len(ceiling[backend]) == 1
        _check_ceiling(ceiling[backend][0], 256, 3, backend)  # --quick: n=256, 3 repeats
    assert ceiling["gflops"] == max(run["gflops"] for backend in ("tensorflow", "jax") for run in ceiling[backend])
    pipelines = {label: entry for label, entry in results["cases"]["pipeline"].items()
                 if label not in ("seconds", "measured")}
    assert len(pipelines) == 3
    for label, entry in pipelines.items():
        [run] = entry["runs"]  # one round
        _check_timings(run, 1, images=5 * 16)  # --quick: 5 batches of 16, one repeat
        assert entry["stats"] == {"median": run["images_per_second"], "min": run["images_per_second"],
                                  "max": run["images_per_second"], "n": 1}, label
        assert run["source"] == ("synthetic" if label.startswith("CIFAR") else f"idx:{fashion_mnist_dir}"), label
    assert results["command"].startswith("python -m benchmarks --quick")
    text = (out / "RESULTS.md").read_text()
    assert "QUICK MODE" in text and "#### How cost grows" in text and "#### Input pipeline alone" in text
    assert (out / "plots" / f"{name[:-len('.json')]}-scaling.png").stat().st_size > 1000
    # The Markdown renders every case from the JSON alone.
    assert report.report_files(str(out))["RESULTS.md"] == text


def test_memory_efficient_densenet_keeps_fewer_live_tensors():
    # TensorFlow's allocator statistics (BFC allocator, fresh processes) count the live tensors at the peak
    # of a training step exactly: the memory-efficient form must keep far less than the plain one.
    ctx = runner.Context(runner.parse_args(["--quiet"]))
    peaks = {}
    for efficient in (False, True):
        result = runner.run_worker(ctx, {
            "kind": "train_memory", "source": "keras_resnets", "model": "densenet_bc_100_12", "image_size": 16,
            "batch_size": 16, "classes": 10, "repeats": 1, "warmup": 1,
            "model_kwargs": {"block_depths": [6, 6, 6], "growth_rate": 12, "memory_efficient": efficient},
            "env": {"TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_ENABLE_ONEDNN_OPTS": "1"}})
        assert "peak_tensor_mib" in result, result
        peaks[efficient] = result["peak_tensor_mib"]
    assert 0 < peaks[True] < 0.7 * peaks[False], peaks


@pytest.mark.parametrize("torch_version", [None, "2.13.0+cpu"])
def test_training_settings_changes_one_setting_per_candidate(monkeypatch, torch_version):
    specs = []

    def fake_worker(ctx, spec, *, backend="tensorflow", python=None):
        specs.append(spec)
        if spec["kind"] == "train_torch":
            assert backend == "numpy" and python == ctx.torch_python
            return {"images_per_second": 200.0}
        return {"images_per_second": 100.0 if not spec.get("env") and not spec.get("set") else 50.0}

    monkeypatch.setattr(runner, "run_worker", fake_worker)
    monkeypatch.setattr(runner, "torch_available", lambda python: torch_version)
    ctx = runner.Context(runner.parse_args(["--quick", "--cases", "training_settings"]))
    section = runner.case_training_settings(ctx)
    torch_specs = [s for s in specs if s["kind"] == "train_torch"]
    specs = [s for s in specs if s["kind"] != "train_torch"]
    # PyTorch runs in the same rounds as the reference where it is installed, and only then.
    assert len(torch_specs) == (1 if torch_version else 0)
    if torch_version:
        assert torch_specs[0]["model"] == "resnet20" and torch_specs[0]["batch_size"] == specs[0]["batch_size"]
        assert section["ratios"][runner.TORCH_REFERENCE]["median"] == 2.0
    assert len(specs) == 6 and all(s["kind"] == "train_package" and s["recipe"] == "cifar10_resnet20" for s in specs)
    changes = [(s.get("env"), s.get("set")) for s in specs]
    assert changes[0] == (None, None) and len({repr(c) for c in changes}) == 6  # each a different single change
    assert {"TF_ENABLE_ONEDNN_OPTS": "0"} in [e for e, _ in changes] and {"augment": {}} in [c for _, c in changes]
    assert section["ratios"]["no augmentation"]["median"] == 0.5
    markdown = report.markdown({"machine": runner.machine_facts(), "rounds": 1, "quick": True,
                                "command": "python -m benchmarks --cases training_settings",
                                "cases": {"training_settings": section}})
    assert "## Where ResNet-20's training time goes" in markdown and "| no augmentation | 50.0 | 0.50 |" in markdown
    assert (f"| {runner.TORCH_REFERENCE} | 200.0 | 2.00 |" in markdown) == bool(torch_version)
    # Opt-in: a default run does not include it.
    assert "training_settings" not in runner.parse_args([]).cases and "training" in runner.parse_args([]).cases


def test_seeds_aggregates_mean_and_std_per_recipe_and_machine(tmp_path, capsys):
    from benchmarks import seeds

    machine = {"cpu": "Xeon", "cpu_features": ["avx2", "amx_bf16"], "cpus": 2}
    values = {0: (0.9400, 0.9410, 0.9380, 840.0), 1: (0.9380, 0.9420, 0.9360, 900.0), 2: (0.9420, 0.9430, 0.9400, 870.0)}
    runs = []
    for seed, (test, tta, val, seconds) in values.items():
        run = tmp_path / f"fast-seed{seed}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"recipe": "fashion_mnist_resnet20_fast", "seed": seed}))
        (run / "summary.json").write_text(json.dumps({"test_accuracy": test, "test_accuracy_flip_tta": tta,
                                                      "validation_accuracy": val, "total_seconds": seconds,
                                                      "machine": machine}))
        runs.append(str(run))
    other = tmp_path / "other-machine"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"recipe": "fashion_mnist_resnet20_fast", "seed": 0}))
    (other / "summary.json").write_text(json.dumps({"test_accuracy": 0.5, "total_seconds": 60.0,
                                                    "machine": {"cpu": "EPYC", "cpu_features": ["avx2"], "cpus": 2}}))
    assert seeds.main([*runs, str(other)]) == 0
    out = capsys.readouterr().out
    # Mean ± sample std of 0.9400, 0.9380, 0.9420 (std 0.0020); minutes 14.0, 15.0, 14.5 (std 0.5).
    assert "| fashion_mnist_resnet20_fast | Xeon, 2 cores (avx2, amx_bf16) | 0, 1, 2 | 0.9400 ± 0.0020 | " \
           "0.9420 ± 0.0010 | 0.9380 ± 0.0020 | 14.5 ± 0.5 |" in out
    assert "| EPYC, 2 cores (avx2) | 0 | 0.5000 | - | - | 1.0 |" in out  # another machine: its own row
    assert seeds.main([str(tmp_path / "missing")]) == 2
    assert "cannot read summary.json" in capsys.readouterr().err


def test_fit_feed_worker_times_each_feed_for_real():
    """The fit_on_arrays case's worker: plain Keras and our ResNet-20, each feed, a few tiny epochs."""
    from benchmarks import worker

    for source, feed in (("plain", "arrays"), ("plain", "finite"), ("keras_resnets", "endless"),
                         ("plain", "train_on_batch")):
        result = worker.fit_feed({"kind": "fit_feed", "feed": feed, "model_source": source, "epochs": 3, "steps": 2,
                                  "batch_size": 4})
        assert len(result["epoch_seconds"]) == 3 and result["images_per_second"] > 0
        assert result["max_over_median"] >= 1.0 and 0 <= result["slow_epochs"] <= 2


def test_fit_on_arrays_case_interleaves_six_feeds_and_reports_them(monkeypatch):
    from benchmarks import report, runner

    specs = []

    def fake_worker(ctx, spec, *, backend="tensorflow", python=None):
        specs.append(spec)
        slow = spec["feed"] == "arrays"
        return {"images_per_second": 400.0 if slow else 800.0, "max_over_median": 1.9 if slow else 1.02,
                "slow_epochs": 4 if slow else 0}

    monkeypatch.setattr(runner, "run_worker", fake_worker)
    ctx = runner.Context(runner.parse_args(["--quick", "--cases", "fit_on_arrays"]))
    section = runner.case_fit_on_arrays(ctx)
    assert {(s["model_source"], s["feed"]) for s in specs} == {
        ("plain", "arrays"), ("plain", "finite"), ("plain", "endless"), ("plain", "train_on_batch"),
        ("keras_resnets", "arrays"), ("keras_resnets", "endless")}
    assert section["ratios"]["keras_resnets endless / arrays"]["median"] == 2.0
    markdown = report.markdown({"machine": runner.machine_facts(), "rounds": 1, "quick": True,
                                "command": "python -m benchmarks --cases fit_on_arrays",
                                "cases": {"fit_on_arrays": section}})
    assert "| keras_resnets, arrays | 400 | 1.90 | 4 |" in markdown
    assert "fit_on_arrays" not in runner.parse_args([]).cases


def test_torch_workers_run_in_bfloat16_autocast():
    """The bfloat16 case's PyTorch side: training and inference under torch.autocast, for real on a tiny setup."""
    from benchmarks import worker

    spec = {"model": "resnet20", "image_size": 16, "batch_size": 4, "classes": 10, "autocast": "bfloat16"}
    trained = worker.train_torch(dict(spec, steps=2, epochs=2))
    inferred = worker.infer_torch(dict(spec, repeats=2, warmup=1))
    assert trained["autocast"] == inferred["autocast"] == "bfloat16"
    assert trained["images_per_second"] > 0 and inferred["images_per_second"] > 0
    with pytest.raises(ValueError, match="autocast must be 'bfloat16'"):
        worker.infer_torch(dict(spec, autocast="float16", repeats=1, warmup=0))


def test_torch_inference_worker_folds_batch_norms_and_flushes_denormals():
    import torch
    from torch.fx.experimental.optimization import fuse

    from benchmarks import torch_models, worker

    # The fold the worker applies keeps the network's outputs (eval mode) and leaves no BatchNorm.
    torch.manual_seed(0)
    model = torch_models.build("resnet20", num_classes=10).eval()
    folded = fuse(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-4, rtol=1e-4)
    spec = {"model": "resnet20", "image_size": 16, "batch_size": 4, "classes": 10, "autocast": "bfloat16",
            "repeats": 2, "warmup": 1, "fuse_batch_norm": True, "flush_denormals": True}
    try:
        result = worker.infer_torch(spec)
        assert torch.tensor(1e-40).item() == 0.0  # subnormals flushed in this process now
    finally:
        torch.set_flush_denormal(False)
    assert result["fuse_batch_norm"] and result["flush_denormals"] and result["images_per_second"] > 0


def test_bfloat16_case_pairs_each_precision_with_pytorch(monkeypatch):
    from benchmarks import report, runner

    specs = []

    def fake_worker(ctx, spec, *, backend="tensorflow", python=None):
        specs.append((spec, backend))
        fast = spec.get("autocast") == "bfloat16" or spec.get("dtype_policy") == "mixed_bfloat16" or (
            spec.get("set", {}).get("precision") == "mixed_bfloat16")
        return {"images_per_second": (300.0 if fast else 200.0) * (1.5 if backend == "tensorflow" else 1.0)}

    monkeypatch.setattr(runner, "run_worker", fake_worker)
    monkeypatch.setattr(runner, "torch_available", lambda python: "2.13.0")
    ctx = runner.Context(runner.parse_args(["--quick", "--cases", "bfloat16"]))
    section = runner.case_bfloat16(ctx)
    entry = section["resnet20 batch 8 at 32, training"]
    assert entry["ratios"]["ours / PyTorch, bfloat16"]["median"] == 1.5
    assert entry["ratios"]["keras_resnets bfloat16 / float32"]["median"] == 1.5
    kinds = {(s["kind"], s.get("autocast"), (s.get("set") or {}).get("precision"), s.get("dtype_policy"))
             for s, _ in specs}
    assert ("train_torch", "bfloat16", None, None) in kinds and ("infer_torch", None, None, None) in kinds
    assert ("train_package", None, "mixed_bfloat16", None) in kinds and ("inference", None, None, "float32") in kinds
    markdown = report.markdown({"machine": runner.machine_facts(), "rounds": 1, "quick": True,
                                "command": "python -m benchmarks --cases bfloat16", "cases": {"bfloat16": section}})
    assert "| ours / PyTorch, float32 | 1.50 |" in markdown
    inference = section["resnet20 batch 8 at 32, inference"]
    assert {"keras_resnets bfloat16, folded", "PyTorch float32, folded"} <= set(inference["runs"])
    assert inference["ratios"]["ours / PyTorch, bfloat16, folded"]["median"] == 1.5
    assert "ours / PyTorch, bfloat16, folded" not in entry["ratios"]  # training has no folded rows
    folded = [s for s, _ in specs if s.get("fold_batch_norm") or s.get("fuse_batch_norm")]
    assert len(folded) == 4 and all(s["kind"] in ("inference", "infer_torch") for s in folded)
    assert all(s.get("flush_denormals") for s, _ in specs if s["kind"].endswith("_torch"))
