"""training/distribute.py: strategy choice, replica bookkeeping, synchronized BatchNorm, and the Keras 3
MultiWorkerMirroredStrategy fix, checked with real multi-process / multi-device runs on the CPU.

Distributed runs live in subprocesses (tests/distribute_workers/): a TF_CONFIG cluster, a split CPU and
forced JAX host devices all have to be set before the runtime starts. Every subprocess has a timeout, so
a hung collective fails the test with the workers' output instead of hanging CI.
"""

import inspect
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.virtual_devices import TWO_CPU_DEVICES
from training import distribute

ROOT = Path(__file__).resolve().parents[1]
WORKERS = ROOT / "tests" / "distribute_workers"
TIMEOUT_S = 240  # a hang guard only; each run takes 10-20 s on 2 cores


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR", "XLA_FLAGS")}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT), **extra})
    return env


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_processes(commands, log_dir, timeout=TIMEOUT_S):
    """Starts every (argv, env) at once; returns [(returncode, output)], killing all on timeout."""
    procs, logs = [], []
    for i, (argv, env) in enumerate(commands):
        log_path = Path(log_dir) / f"process_{i}.log"
        log = open(log_path, "w")
        logs.append(log_path)
        procs.append((subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log))
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        for proc, _ in procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                timed_out = True
                break
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    outputs = [p.read_text(errors="replace") for p in logs]
    if timed_out:
        tails = "\n".join(f"--- process {i} ---\n{out[-4000:]}" for i, out in enumerate(outputs))
        pytest.fail(f"Distributed run did not finish within {timeout} s; killed. Output:\n{tails}")
    return [(proc.returncode, out) for (proc, _), out in zip(procs, outputs)]


def _run_two_workers(mode, out_dir):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    commands = [
        (
            [sys.executable, str(WORKERS / "multi_worker_fit.py"), str(out_dir), mode],
            _clean_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
        )
        for i in range(2)
    ]
    return _run_processes(commands, out_dir)


def _result_line(output):
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-4000:]
    return json.loads(lines[-1][len("RESULT ") :])


# --------------------------------------------------------------------------------------------------
# 1. MultiWorkerMirroredStrategy, two worker processes on 127.0.0.1
# --------------------------------------------------------------------------------------------------


def test_multi_worker_fit_with_fix_keeps_workers_in_sync(tmp_path):
    results = _run_two_workers("fixed", tmp_path)
    for index, (code, output) in enumerate(results):
        assert code == 0, f"worker {index} failed:\n{output[-6000:]}"
    infos = [json.loads((tmp_path / f"result_{i}.json").read_text()) for i in range(2)]
    for index, result in enumerate(infos):
        assert isinstance(result["info"].pop("strategy"), str)
        assert result["info"] == {
            "num_replicas_in_sync": 2,
            "num_workers": 2,
            "worker_index": index,
            "is_chief": index == 0,
            "sync_batch_norm": True,
        }
        assert result["per_replica_batch"] == 4
        assert result["synchronized_bn"] and all(result["synchronized_bn"])
        assert all(math.isfinite(v) for v in result["history"]["loss"] + [result["evaluation"]["loss"]])
    # Metrics are reduced across workers, so both log the same global values.
    assert infos[0]["history"] == infos[1]["history"]
    assert infos[0]["evaluation"] == infos[1]["evaluation"]

    weights = [np.load(tmp_path / f"weights_{i}.npz") for i in range(2)]
    count = len(weights[0].files) // 2
    for i in range(count):
        np.testing.assert_array_equal(weights[0][f"final_{i}"], weights[1][f"final_{i}"])
        np.testing.assert_array_equal(weights[0][f"init_{i}"], weights[1][f"init_{i}"])
    moved = [i for i in range(count) if not np.allclose(weights[0][f"init_{i}"], weights[0][f"final_{i}"])]
    assert len(moved) == count, f"weights {sorted(set(range(count)) - set(moved))} did not train"


@pytest.mark.parametrize(
    "mode, bug",
    [
        # keras.src.backend.tensorflow.trainer.TensorFlowTrainer._maybe_symbolic_build
        ("unfixed_symbolic_build", distribute.SYMBOLIC_BUILD_BUG),
        # keras.src.backend.tensorflow.trainer.reduce_per_replica (tensorflow/tensorflow#72388)
        ("unfixed_reduce", distribute.REDUCE_BUG),
    ],
    ids=["symbolic_build", "reduce_per_replica"],
)
def test_multi_worker_fit_without_fix_fails_as_documented(tmp_path, mode, bug):
    """The bug each half of `enable_multi_worker_fit` patches, shown on the unpatched Keras. The patches are
    chosen by Keras version (`KerasBug.present`), so this test is what notices a Keras that fixes one: it then
    fails and says which `fixed_in` to set."""
    if not bug.present():
        pytest.skip(f"Keras {keras.version()} is past {bug.function}'s fix ({bug.fixed_in}): its patch is not applied")
    results = _run_two_workers(mode, tmp_path)
    for index, (code, output) in enumerate(results):
        assert code != 0, (
            f"worker {index} succeeded without the fix: Keras {keras.version()} fixed {bug.function}. Set "
            f"fixed_in={keras.version()!r} on its KerasBug in training/distribute.py (or the release that fixed "
            f"it), and remove that half of enable_multi_worker_fit once pyproject.toml needs a fixed Keras:\n"
            f"{output[-3000:]}")
        assert bug.symptom in output, output[-6000:]


def test_the_multi_worker_patches_are_chosen_by_keras_version():
    assert distribute.SYMBOLIC_BUILD_BUG.present("3.15.1") and distribute.REDUCE_BUG.present("3.15.1")
    assert not distribute.SYMBOLIC_BUILD_BUG.present("3.4.1") and distribute.REDUCE_BUG.present("3.4.1")
    assert not distribute.REDUCE_BUG.present("3.2.1")
    fixed = distribute.KerasBug("f", since="3.5.0", fixed_in="3.17.0")
    assert fixed.present("3.16.2") and not fixed.present("3.17.0") and not fixed.present("3.18.0.dev2026")
    assert distribute.REDUCE_BUG.present() == distribute.REDUCE_BUG.present(keras.version())
    # The installed Keras has both bugs (the test above shows them), so enable_multi_worker_fit patches both.
    from keras.src.backend.tensorflow import trainer as tf_trainer

    distribute.enable_multi_worker_fit()
    for function, bug in ((tf_trainer.TensorFlowTrainer._maybe_symbolic_build, distribute.SYMBOLIC_BUILD_BUG),
                          (tf_trainer.reduce_per_replica, distribute.REDUCE_BUG)):
        assert (inspect.unwrap(function) is not function) == bug.present(), bug.function


# --------------------------------------------------------------------------------------------------
# 2. MirroredStrategy over two logical CPU devices
# --------------------------------------------------------------------------------------------------


def test_mirrored_two_cpus_matches_single_device_with_sync_batch_norm(tmp_path):
    [(code, output)] = _run_processes([([sys.executable, str(WORKERS / "mirrored_fit.py")], _clean_env())], tmp_path)
    assert code == 0, output[-6000:]
    result = _result_line(output)
    assert result["info"]["num_replicas_in_sync"] == 2
    assert result["info"]["sync_batch_norm"] is True
    assert len(result["devices"]) == 2 and result["per_replica_batch"] == 4
    assert all(math.isfinite(v) for v in result["losses"].values())
    assert result["synchronized"] and all(result["synchronized"])
    # Same init, same global batches, SGD on the mean loss: Keras divides each replica's loss by the
    # replica count and sums the gradients, which is the global-batch gradient; with synchronized BN the
    # forward pass is the global-batch one too. What is left is float32 rounding from a different
    # summation order (measured 1.2e-7 after 4 steps), so 1e-5 absolute.
    assert result["weights_moved"] > 1e-2
    assert result["max_diff_sync_bn"] < 1e-5, result
    assert abs(result["losses"]["sync_bn"] - result["losses"]["single"]) < 1e-5
    # Per-replica BN normalizes each half-batch on its own, a different computation (measured 6e-2).
    assert result["max_diff_local_bn"] > 100 * max(result["max_diff_sync_bn"], 1e-7), result


# --------------------------------------------------------------------------------------------------
# 3. JAX DataParallel on two host devices
# --------------------------------------------------------------------------------------------------


def test_jax_data_parallel_two_host_devices(tmp_path):
    import jax  # noqa: F401  (the [jax] extra, part of [test]: its absence fails, never skips)
    env = _clean_env(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=TWO_CPU_DEVICES)
    [(code, output)] = _run_processes([([sys.executable, str(WORKERS / "jax_data_parallel.py")], env)], tmp_path)
    assert code == 0, output[-6000:]
    result = _result_line(output)
    assert result["jax_devices"] == 2 and result["mesh_devices"] == 2
    assert result["variable_devices"] == 2  # weights replicated on both devices
    assert result["batch_shard_rows"] == [4, 4]  # each device holds half of the global batch of 8
    assert result["info"]["num_replicas_in_sync"] == 2 and result["info"]["is_chief"]
    assert result["per_replica_batch"] == 4
    assert result["finite"]
    # One SPMD program over the sharded global batch: BatchNorm statistics and the mean loss are global,
    # so training matches one device up to float32 summation order (measured 1.2e-7).
    assert result["max_diff_to_single_device"] < 1e-5, result


# --------------------------------------------------------------------------------------------------
# 4. In-process: selection, errors, bookkeeping, synchronize_batch_norm, the patch itself
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def no_cluster_env(monkeypatch):
    for var in ("TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(var, raising=False)
    if distribute._tpu_address() is not None:
        pytest.skip("this machine has a TPU")


def test_auto_is_default_strategy_quickly_without_probing_tpu(no_cluster_env, monkeypatch):
    def no_probe(*args, **kwargs):
        raise AssertionError("TPUClusterResolver must not be built when no TPU is configured")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", no_probe)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        pytest.skip("several GPUs: auto picks MirroredStrategy")
    start = time.monotonic()
    strategy = distribute.get_strategy("auto")
    assert time.monotonic() - start < 5
    assert strategy is tf.distribute.get_strategy()
    assert distribute.replica_info(strategy) == {
        "strategy": type(strategy).__name__,
        "num_replicas_in_sync": 1,
        "num_workers": 1,
        "worker_index": 0,
        "is_chief": True,
        "sync_batch_norm": False,
    }


def test_auto_with_single_worker_tf_config_stays_local(no_cluster_env, monkeypatch):
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}})
    )
    assert distribute._auto_strategy_name() in ("default", "mirrored")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}}))
    assert distribute._auto_strategy_name() == "multi_worker"
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert distribute._auto_strategy_name() == "tpu"


def test_bad_tf_config_and_missing_tpu_raise(no_cluster_env, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribute.get_strategy("auto")
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(ValueError, match="No TPU configured: set TPU_NAME"):
        distribute.get_strategy("tpu")


def test_unknown_strategy_name_lists_allowed():
    with pytest.raises(ValueError, match=r"Received: name='horovod'.*'auto'.*'multi_worker'.*'tpu'"):
        distribute.get_strategy("horovod")
    with pytest.raises(TypeError, match="sync_batch_norm"):
        distribute.get_strategy("default", sync_batch_norm="yes")


def test_named_single_replica_strategies(no_cluster_env):
    one = distribute.get_strategy("one_device", sync_batch_norm=True)
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    info = distribute.replica_info(one)
    assert info["num_replicas_in_sync"] == 1 and info["is_chief"]
    assert info["sync_batch_norm"] is False  # one replica: nothing to synchronize
    mirrored = distribute.get_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert distribute.replica_info(mirrored)["num_replicas_in_sync"] >= 1


def test_check_global_batch():
    assert distribute.check_global_batch(128, tf.distribute.get_strategy()) == 128
    assert distribute.check_global_batch(12, 4) == 3
    with pytest.raises(ValueError, match=r"10 does not split evenly over 4 replicas.*multiple of 4 \(e\.g\. 8 or 12\)"):
        distribute.check_global_batch(10, 4)
    with pytest.raises(ValueError, match=r"multiple of 8 \(e\.g\. 8\)"):
        distribute.check_global_batch(3, 8)
    fake = SimpleNamespace(num_replicas_in_sync=3, cluster_resolver=None, extended=None)
    with pytest.raises(ValueError, match="3 replicas in sync of SimpleNamespace"):
        distribute.check_global_batch(64, fake)
    for bad in (0, -8, 8.0, True):
        with pytest.raises(ValueError, match="positive int"):
            distribute.check_global_batch(bad, 2)


@pytest.mark.parametrize(
    "cluster, task_type, task_id, expected",
    [
        ({"worker": ["a:1", "b:1", "c:1"]}, "worker", 0, (3, 0, True)),
        ({"worker": ["a:1", "b:1", "c:1"]}, "worker", 2, (3, 2, False)),
        ({"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "chief", 0, (3, 0, True)),
        ({"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "worker", 0, (3, 1, False)),
        ({"chief": ["a:1"], "worker": ["b:1"], "evaluator": ["e:1"]}, "evaluator", 0, (2, -1, False)),
    ],
)
def test_replica_info_reads_the_cluster(cluster, task_type, task_id, expected):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id
    )
    fake = SimpleNamespace(num_replicas_in_sync=expected[0], cluster_resolver=resolver, extended=None)
    info = distribute.replica_info(fake)
    assert (info["num_workers"], info["worker_index"], info["is_chief"]) == expected


def test_synchronize_batch_norm_clones_weights_and_flags():
    import keras_resnets

    model = keras_resnets.create_model(
        "resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4, input_shape=(8, 8, 3), classes=3
    )
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    model(x, training=True)  # move the BN statistics away from their initial values
    synced = distribute.synchronize_batch_norm(model)
    assert synced is not model
    batch_norms = [layer for layer in synced.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms and all(layer.synchronized for layer in batch_norms)
    assert not any(layer.synchronized for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert [layer.name for layer in synced.layers] == [layer.name for layer in model.layers]
    for a, b in zip(model.get_weights(), synced.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(model.predict(x, verbose=0), synced.predict(x, verbose=0), atol=1e-6)
    # Outside a distribution strategy synchronized BN computes plain batch statistics.
    np.testing.assert_allclose(model(x, training=True), synced(x, training=True), atol=1e-5)
    assert keras.layers.BatchNormalization.from_config(batch_norms[0].get_config()).synchronized


def test_synchronize_batch_norm_warns_about_memory_efficient_densenet():
    import keras_resnets

    model = keras_resnets.create_model(
        "densenet121",
        block_depths=(1, 1, 1, 1),
        growth_rate=4,
        stem_width=8,
        memory_efficient=True,
        input_shape=(32, 32, 3),
        classes=3,
    )
    with pytest.warns(UserWarning, match="ConcatBatchNormReLU"):
        distribute.synchronize_batch_norm(model)


def test_enable_multi_worker_fit_is_idempotent_and_leaves_single_worker_alone():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    distribute.enable_multi_worker_fit()
    first = (tf_trainer.TensorFlowTrainer._maybe_symbolic_build, tf_trainer.reduce_per_replica)
    distribute.enable_multi_worker_fit()
    assert (tf_trainer.TensorFlowTrainer._maybe_symbolic_build, tf_trainer.reduce_per_replica) == first
    # Off multi-worker the wrapper hands over to Keras' own reduction.
    strategy = tf.distribute.get_strategy()
    values = {"loss": tf.constant(2.0), "acc": tf.constant([1.0, 3.0])}
    reduced = tf_trainer.reduce_per_replica(values, strategy, "auto")
    assert float(reduced["loss"]) == 2.0 and reduced["acc"].shape == (2,)
    # And fit still works on one device with the patch in place.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.ones((8, 3), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])


def test_get_jax_distribution_refuses_other_backends():
    with pytest.raises(ValueError, match="Allowed"):
        distribute.get_jax_distribution("pmap")
    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
            distribute.get_jax_distribution("auto")
