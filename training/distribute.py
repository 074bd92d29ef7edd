"""Distribution for training: pick a strategy, describe it, and make Keras 3 `fit` work under it.

TensorFlow backend: `get_strategy(name)` returns a `tf.distribute.Strategy`; build, compile and fit
the model inside `strategy.scope()`. JAX backend: `get_jax_distribution(name)` returns (and installs) a
`keras.distribution.DataParallel`. Both backends: `replica_info` says who this process is (for
logging and for deciding which worker writes files) and `check_global_batch` turns a global batch
size into the per-replica one.

```python
strategy = get_strategy("auto", sync_batch_norm=True)
info = replica_info(strategy)
per_replica = check_global_batch(128, strategy)
with strategy.scope():
    model = keras_resnets.create_model("resnet20", classes=10)
    if info["sync_batch_norm"]:
        model = synchronize_batch_norm(model)
    model.compile(...)
model.fit(dataset_with_global_batch_128, ...)  # Keras splits each global batch over the replicas
if info["is_chief"]:
    model.save(...)
```

Synchronized BatchNorm. By default every replica normalizes with the statistics of its own slice of
the global batch (per-replica batch = global / replicas), so small per-replica batches give noisy
statistics and results that depend on the replica count. `keras.layers.BatchNormalization(
synchronized=True)` (TensorFlow backend only) all-reduces the sum, the sum of squares and the count
across all replicas at every training step, so each replica normalizes with the global-batch
statistics: training then matches single-device training on the same global batch, at the cost of
three small all-reduces per BN layer per step. `synchronize_batch_norm(model)` switches every
BatchNormalization layer of a built model. It does not reach `keras_resnets.layers.ConcatBatchNormReLU`
and `DenseLayer` (the memory-efficient DenseNet's layers), which always use per-replica statistics; it
warns when the model has them. On JAX, `DataParallel` runs one SPMD program over the global batch, so BatchNorm
statistics are already global there.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: this module loads no TensorFlow on the JAX path
    import keras
    import tensorflow as tf

STRATEGY_NAMES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
JAX_DISTRIBUTION_NAMES = ("auto", "data_parallel", "none")

# Set on each strategy returned by get_strategy; replica_info reports it.
_SYNC_BN_ATTR = "_keras_resnets_sync_batch_norm"


# --------------------------------------------------------------------------------------------------
# Strategy selection (TensorFlow)
# --------------------------------------------------------------------------------------------------


def get_strategy(name: str = "auto", *, sync_batch_norm: bool = False) -> tf.distribute.Strategy:
    """Returns the `tf.distribute.Strategy` to build, compile and fit under.

    Create it at the start of the program, before any other TensorFlow work: multi-worker and TPU
    strategies configure the runtime, which TensorFlow only allows before it is initialized.

    Args:
        name: str, one of `STRATEGY_NAMES`:
            `"auto"`: a TPU when one is configured (`TPU_NAME` / `COLAB_TPU_ADDR` set, or a local TPU
            device `/dev/accel*`; checked from the environment only, so it never waits on a network
            probe), else `"multi_worker"` when `TF_CONFIG` names more than one worker, else
            `"mirrored"` when more than one GPU is visible, else `"default"`.
            `"default"`: TensorFlow's default (no-op) strategy, one replica.
            `"one_device"`: everything on the first GPU, or the CPU.
            `"mirrored"`: one replica per local GPU; without GPUs, one per logical CPU device (one
            unless `tf.config.set_logical_device_configuration` split the CPU).
            `"multi_worker"`: `MultiWorkerMirroredStrategy` over the workers in `TF_CONFIG`, with
            `enable_multi_worker_fit()` applied so that `model.fit` works on Keras 3.
            `"tpu"`: `TPUStrategy` on `TPU_NAME` (`"local"` on a TPU VM).
        sync_batch_norm: bool, whether the caller wants synchronized BatchNorm. The strategy is the
            same either way (synchronized BN is a layer setting, see `synchronize_batch_norm`); the
            request is recorded on the strategy and `replica_info(strategy)["sync_batch_norm"]` says
            whether it takes effect (only with more than one replica in sync).

    Returns:
        A `tf.distribute.Strategy`.

    Example:
    ```python
    strategy = get_strategy("auto")
    with strategy.scope():
        model = keras_resnets.create_model("resnet56", classes=10)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ```
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"Unknown distribution strategy. Received: name={name!r}. Allowed: {list(STRATEGY_NAMES)}.")
    if not isinstance(sync_batch_norm, bool):
        raise TypeError(f"`sync_batch_norm` must be a bool. Received: sync_batch_norm={sync_batch_norm!r}")
    if sync_batch_norm:
        import keras

        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "Synchronized BatchNorm needs the TensorFlow backend (Keras supports "
                f"`BatchNormalization(synchronized=True)` only there). Backend: {keras.backend.backend()!r}."
            )
    import tensorflow as tf

    if name == "auto":
        name = _auto_strategy_name()
    strategy = _STRATEGY_BUILDERS[name](tf)
    setattr(strategy, _SYNC_BN_ATTR, sync_batch_norm)
    return strategy


def _auto_strategy_name():
    """What "auto" means here: a configured TPU, else a multi-worker TF_CONFIG, else several GPUs, else the default."""
    if _tpu_address() is not None:
        return "tpu"
    if _tf_config_worker_count() > 1:
        return "multi_worker"
    import tensorflow as tf

    # list_physical_devices does not initialize the runtime (list_logical_devices would).
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def _tpu_address():
    """The TPU to connect to, from the environment only; None when no TPU is configured.

    `TPUClusterResolver()` without an address asks the GCE metadata server, which off Google Cloud
    means waiting on network timeouts; so `auto` only builds a resolver when this finds an address.
    """
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if glob.glob("/dev/accel*"):  # TPU VM: the chips are local devices.
        return "local"
    return None


def _tf_config():
    """TF_CONFIG as a dict ({} when unset); a clear error when it is not a JSON object."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}). Received: TF_CONFIG={text!r}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object. Received: TF_CONFIG={text!r}")
    return config


def _tf_config_worker_count():
    """Number of training workers ("chief" plus "worker" tasks) that TF_CONFIG names."""
    cluster = _tf_config().get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def _default_strategy(tf):
    return tf.distribute.get_strategy()


def _one_device_strategy(tf):
    device = "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)


def _mirrored_strategy(tf):
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])


def _multi_worker_strategy(tf):
    enable_multi_worker_fit()
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu_strategy(tf):
    """`TPUStrategy` on the configured TPU (`_tpu_address`), connecting to it and initializing it first."""
    address = _tpu_address()
    if address is None:
        raise ValueError(
            "No TPU configured: set TPU_NAME to the TPU's name or grpc:// address (TPU_NAME=local on a "
            "TPU VM), or pick another strategy from " + str(list(STRATEGY_NAMES)) + "."
        )
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    if address != "local":
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


_STRATEGY_BUILDERS = {
    "default": _default_strategy,
    "one_device": _one_device_strategy,
    "mirrored": _mirrored_strategy,
    "multi_worker": _multi_worker_strategy,
    "tpu": _tpu_strategy,
}


# --------------------------------------------------------------------------------------------------
# Describing a strategy
# --------------------------------------------------------------------------------------------------


def replica_info(strategy) -> dict:
    """Who this process is within the run.

    Args:
        strategy: a `tf.distribute.Strategy`, or a `keras.distribution.Distribution` (JAX), or None
            for the current `keras.distribution.distribution()` / single-process run.

    Returns:
        dict with `strategy` (class name), `num_replicas_in_sync`, `num_workers`, `worker_index`
        (0-based; with a "chief" task the chief is worker 0 and "worker" task i is worker i + 1),
        `is_chief` (the one process that should write checkpoints, logs and exports: worker 0, or the
        "chief" task) and `sync_batch_norm` (synchronized BatchNorm requested with
        `get_strategy(..., sync_batch_norm=True)` and more than one replica in sync).
    """
    if strategy is None or _is_keras_distribution(strategy):
        return _jax_replica_info(strategy)
    replicas = int(strategy.num_replicas_in_sync)
    num_workers, worker_index, is_chief = 1, 0, True
    resolver = getattr(strategy, "cluster_resolver", None)
    if _is_tpu_strategy(strategy):
        num_workers = int(getattr(strategy.extended, "num_hosts", 1))
    elif resolver is not None and resolver.task_type is not None:
        cluster = resolver.cluster_spec().as_dict()
        chiefs, workers = len(cluster.get("chief", [])), len(cluster.get("worker", []))
        task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
        num_workers = max(chiefs + workers, 1)
        if task_type == "chief":
            worker_index, is_chief = task_id, True
        elif task_type == "worker":
            worker_index = task_id + chiefs
            is_chief = worker_index == 0
        else:  # "evaluator", "ps": not a training worker.
            worker_index, is_chief = -1, False
    return {
        "strategy": type(strategy).__name__,
        "num_replicas_in_sync": replicas,
        "num_workers": num_workers,
        "worker_index": worker_index,
        "is_chief": is_chief,
        "sync_batch_norm": bool(getattr(strategy, _SYNC_BN_ATTR, False)) and replicas > 1,
    }


def _jax_replica_info(distribution):
    """`replica_info` for a `keras.distribution.Distribution` (or the one set, or none): JAX processes are workers."""
    import keras

    if distribution is None:
        distribution = keras.distribution.distribution()
    if distribution is None:
        replicas, name = 1, "None"
    else:
        replicas, name = int(distribution.device_mesh.devices.size), type(distribution).__name__
    num_workers, worker_index = 1, 0
    if keras.backend.backend() == "jax":
        import jax

        num_workers, worker_index = jax.process_count(), jax.process_index()
    return {
        "strategy": name,
        "num_replicas_in_sync": replicas,
        "num_workers": num_workers,
        "worker_index": worker_index,
        "is_chief": worker_index == 0,
        "sync_batch_norm": False,  # SPMD over the global batch: BN statistics are already global.
    }


def _is_keras_distribution(obj):
    # keras.distribution exports DataParallel/ModelParallel but not their base class.
    return hasattr(obj, "device_mesh") and not hasattr(obj, "num_replicas_in_sync")


def _is_tpu_strategy(strategy):
    return any(cls.__name__.startswith("TPUStrategy") for cls in type(strategy).__mro__)


def check_global_batch(global_batch_size: int, strategy) -> int:
    """Returns the per-replica batch size, refusing global batches that do not split evenly.

    Args:
        global_batch_size: int, the batch the dataset yields (what `fit` sees); Keras splits it over
            the replicas, and the learning rate should be tuned for it.
        strategy: a `tf.distribute.Strategy`, a `keras.distribution.Distribution`, or an int number of
            replicas.

    Returns:
        int, `global_batch_size // num_replicas_in_sync`.
    """
    if isinstance(strategy, int) and not isinstance(strategy, bool):
        replicas, where = strategy, f"{strategy} replicas"
    else:
        info = replica_info(strategy)
        replicas = info["num_replicas_in_sync"]
        where = f"the {replicas} replicas in sync of {info['strategy']}"
    if isinstance(global_batch_size, bool) or not isinstance(global_batch_size, int) or global_batch_size < 1:
        raise ValueError(
            f"`global_batch_size` must be a positive int. Received: global_batch_size={global_batch_size!r}"
        )
    if global_batch_size % replicas:
        lower = max(global_batch_size // replicas, 1) * replicas
        upper = (global_batch_size // replicas + 1) * replicas
        suggestions = sorted({lower, upper} - {global_batch_size})
        raise ValueError(
            f"Global batch size {global_batch_size} does not split evenly over {where}. Set the global "
            f"batch size to a multiple of {replicas} (e.g. {' or '.join(map(str, suggestions))}), or change "
            f"the number of devices/workers. Received: global_batch_size={global_batch_size}."
        )
    return global_batch_size // replicas


# --------------------------------------------------------------------------------------------------
# Synchronized BatchNorm
# --------------------------------------------------------------------------------------------------


def synchronize_batch_norm(model: keras.Model) -> keras.Model:
    """A copy of a built functional (or Sequential) model whose BatchNormalization layers are synchronized.

    Call it inside `strategy.scope()` so that the copy's variables are distributed. Weights (including
    the moving statistics) are copied; nested functional models are cloned too.

    Args:
        model: keras.Model, built (functional models always are).

    Returns:
        keras.Model, the clone with `synchronized=True` on every `keras.layers.BatchNormalization`.
    """
    import keras

    from keras_resnets._common import deep_recursion

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "`synchronize_batch_norm` needs the TensorFlow backend: Keras supports "
            f"`BatchNormalization(synchronized=True)` only there. Backend: {keras.backend.backend()!r}."
        )
    if not model.built:
        raise ValueError(f"`model` must be built (call it on a batch first). Received: model={model.name!r}")
    unsynced = [layer.name for layer in _all_layers(model)
                if type(layer).__name__ in ("ConcatBatchNormReLU", "DenseLayer")]
    if unsynced:
        warnings.warn(
            f"{len(unsynced)} ConcatBatchNormReLU/DenseLayer layers (memory-efficient DenseNet, e.g. {unsynced[0]!r}) "
            "keep per-replica batch statistics; build with memory_efficient=False for fully synchronized BN.",
            stacklevel=2,
        )

    def clone_layer(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["synchronized"] = True
        return type(layer).from_config(config)

    with deep_recursion():  # cloning walks the graph recursively (ResNet-1202 nests past the default limit)
        clone = keras.models.clone_model(
            model, input_tensors=_named_inputs(model), clone_function=clone_layer, recursive=True
        )
    clone.set_weights(model.get_weights())
    return clone


def _named_inputs(model):
    """New inputs named like the model's input layers (clone_model would name them "keras_tensor...")."""
    import keras

    if isinstance(model, keras.Sequential):
        return None
    try:
        return keras.tree.map_structure(
            lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t._keras_history.operation.name),
            model.input,
        )
    except AttributeError:  # not a functional graph (or Keras changed its internals): keep Keras' names
        return None


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


# --------------------------------------------------------------------------------------------------
# MultiWorkerMirroredStrategy + Keras 3 model.fit (keras-team/keras#20585, tensorflow/tensorflow#72388)
# --------------------------------------------------------------------------------------------------
#
# Out of the box, `model.fit` under MultiWorkerMirroredStrategy with more than one worker fails on
# Keras 3 (reproduced on Keras 3.15.1 / TF 2.21, two CPU workers) because of two bugs in
# keras/src/backend/tensorflow/trainer.py, met one after the other:
#
# 1. `TensorFlowTrainer._maybe_symbolic_build` (run by fit/evaluate/predict whenever the model was
#    created under a strategy scope) takes one batch from the distributed iterator and calls
#    `strategy.reduce("MEAN", batch, axis=None)` on the whole (x, y) tuple, only to read its shapes.
#    `Strategy.reduce` is only specified for one value ("TODO(josh11b): support `value` being a nest"
#    in distribute_lib.py). MirroredStrategy's `_reduce_to` happens to map over nests; the one of
#    MultiWorkerMirroredStrategy (CollectiveAllReduceExtended) does not, and with several workers it
#    hands the whole tuple to its collective ops, which try to convert it to one tensor:
#      ValueError: Attempt to convert a value (PerReplica:{ 0: <tf.Tensor: shape=(4, 8, 8, 3) ...>})
#      with an unsupported type (<class '...values.PerReplica'>) to a Tensor.
#    Fix: in multi-worker mode hand `_maybe_symbolic_build` the first local replica's batch (no
#    collective at all; only shapes and dtypes are used), and let the original do the rest.
#
# 2. `reduce_per_replica(..., reduction="auto")` turns the per-replica metric results of each train
#    and test step into single values. "auto" means "mean" off TPU; on one worker that is
#    `tf.reduce_mean(local_results, axis=0)`, axis 0 being the stacked *replica* axis. The multi-worker
#    branch calls `strategy.reduce("MEAN", v, axis=0)` instead, where `axis` is a dimension *inside*
#    each replica's value (reduced in addition to the cross-replica reduction). Metric results are
#    scalars, so tracing the train step fails (the error of tensorflow#72388):
#      ValueError: Invalid reduction dimension 0 for input with 0 dimensions. for '{{node Sum_3}} =
#      Sum[T=DT_FLOAT, Tidx=DT_INT32, keep_dims=false](div_no_nan_1, Sum_3/reduction_indices)' ...
#    Fix: in multi-worker mode reduce "mean"/"auto" with `strategy.reduce("MEAN", v, axis=None)`, the
#    cross-replica mean, which is what the single-worker branch computes; every worker then logs the
#    same global values. Other reductions ("sum", "concat", "first") are left to Keras.
#
# Both patches wrap the Keras function and delegate to it whenever the strategy is not multi-worker,
# so single-worker behaviour is untouched. Each is applied on the Keras releases that have its bug, chosen by
# version (`KerasBug` below): bug 1 since Keras 3.5.0, where `_maybe_symbolic_build` first reduces the batch,
# bug 2 since 3.3.0; both are still in 3.15.1 and in Keras' main branch of August 2026 (3.16.0). A bug that
# no release has fixed yet has no end to its range. tests/test_training_distribute.py runs two workers on the
# unpatched Keras and fails, naming the bug, on the first release that fixes one: then set its `fixed_in` to
# that release (the patch is skipped from there on), and remove this block once the oldest Keras that
# pyproject.toml allows has both fixes.


@dataclasses.dataclass(frozen=True)
class KerasBug:
    """A bug of Keras' TensorFlow trainer that `enable_multi_worker_fit` patches, and the releases that have it.

    Attributes:
        function: str, the function with the bug, in `keras.src.backend.tensorflow.trainer`.
        since: str, the first Keras release with the bug.
        fixed_in: str or None, the first release without it; None while every release since `since` has it.
        symptom: str, what a multi-worker `fit` on the unpatched function raises (the tests look for it).
    """

    function: str
    since: str
    fixed_in: str | None = None
    symptom: str = ""

    def present(self, version=None) -> bool:
        """Whether Keras `version` (default: the installed one) has the bug."""
        from packaging.version import Version

        if version is None:
            import keras

            version = keras.version()
        version = Version(version)
        return Version(self.since) <= version and (self.fixed_in is None or version < Version(self.fixed_in))


SYMBOLIC_BUILD_BUG = KerasBug("TensorFlowTrainer._maybe_symbolic_build", since="3.5.0",
                              symptom="Attempt to convert a value (PerReplica")
REDUCE_BUG = KerasBug("reduce_per_replica", since="3.3.0",
                      symptom="Invalid reduction dimension 0 for input with 0 dimensions")  # tensorflow#72388
_PATCH_MARK = "_keras_resnets_multi_worker_fix"


def enable_multi_worker_fit() -> None:
    """Makes `model.fit`/`evaluate` work under a multi-worker `MultiWorkerMirroredStrategy` (Keras 3, TF).

    Patches two functions of Keras' TensorFlow trainer (see the comment above `KerasBug`) on the Keras
    releases that have their bugs; a no-op for the others, and when called again. `get_strategy("multi_worker")`
    and `get_strategy("auto")` with a multi-worker TF_CONFIG call it for you.
    """
    _patch_symbolic_build()
    _patch_reduce_per_replica()


def _patch_symbolic_build():
    """Bug 1 (`SYMBOLIC_BUILD_BUG`): wraps `TensorFlowTrainer._maybe_symbolic_build` when the installed Keras has it."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    if getattr(original, _PATCH_MARK, False) or not SYMBOLIC_BUILD_BUG.present():
        return

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if iterator is not None and self._distribute_strategy is not None and _in_multi_worker_mode(strategy):
            import keras

            for _, _, it in iterator:
                batch = next(it)
                data_batch = keras.tree.map_structure(lambda v: strategy.experimental_local_results(v)[0], batch)
                break
            iterator = None
        return original(self, iterator=iterator, data_batch=data_batch)

    setattr(_maybe_symbolic_build, _PATCH_MARK, True)
    _maybe_symbolic_build.__wrapped__ = original  # inspect.unwrap() gives Keras' own function back
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build


def _patch_reduce_per_replica():
    """Bug 2 (`REDUCE_BUG`): wraps the trainer module's `reduce_per_replica`, when the installed Keras has it."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    if getattr(original, _PATCH_MARK, False) or not REDUCE_BUG.present():
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _in_multi_worker_mode(strategy):
            import keras

            return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    setattr(reduce_per_replica, _PATCH_MARK, True)
    reduce_per_replica.__wrapped__ = original
    # The train/test functions look `reduce_per_replica` up in the module when they are traced.
    tf_trainer.reduce_per_replica = reduce_per_replica


def _in_multi_worker_mode(strategy):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` over more than one worker."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    in_multi_worker_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    if in_multi_worker_mode is not None:
        return bool(in_multi_worker_mode())
    return replica_info(strategy)["num_workers"] > 1


# --------------------------------------------------------------------------------------------------
# JAX
# --------------------------------------------------------------------------------------------------


def get_jax_distribution(name: str = "auto"):
    """Data parallelism on the JAX backend: returns and installs a `keras.distribution.DataParallel`.

    Call it before building the model: variables are laid out when they are created.

    Args:
        name: str, one of `JAX_DISTRIBUTION_NAMES`: `"auto"` (DataParallel over all devices when there
            is more than one, else None), `"data_parallel"` (always), `"none"` (None, nothing set).

    Returns:
        The `keras.distribution.DataParallel` now set with `keras.distribution.set_distribution`, or
        None.

    Example:
    ```python
    # KERAS_BACKEND=jax; XLA_FLAGS=--xla_force_host_platform_device_count=2 to try it on a CPU
    distribution = get_jax_distribution("auto")
    check_global_batch(128, distribution)  # 64 per device on two devices
    model = keras_resnets.create_model("resnet20", classes=10)  # variables replicated on all devices
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=128)  # each global batch is split over the devices
    ```
    """
    if name not in JAX_DISTRIBUTION_NAMES:
        raise ValueError(f"Unknown JAX distribution. Received: name={name!r}. Allowed: {list(JAX_DISTRIBUTION_NAMES)}.")
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(
            "`get_jax_distribution` needs KERAS_BACKEND=jax; with TensorFlow use `get_strategy`. "
            f"Backend: {keras.backend.backend()!r}."
        )
    if name == "none":
        return None
    devices = keras.distribution.list_devices()
    if name == "auto" and len(devices) < 2:
        return None
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    return distribution
