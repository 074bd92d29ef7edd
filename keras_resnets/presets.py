"""Presets: a model as a folder of config, weights and metadata, saved, loaded and shared keras-hub style.

A preset folder holds three files:

- `config.json`: how to rebuild the model: its registry name and the `create_model` arguments it was built
  with, its preprocessing, class names, input shape and the keras_resnets version that wrote it.
- `model.weights.h5`: the weights (`model.save_weights`).
- `metadata.json`: facts about the save (versions, parameter count, date, the weight file's size and SHA-256)
  and the caller's own `metadata`.

keras-hub's presets (`keras_hub/src/utils/preset_utils.py`) use the same three names; ours are simpler
because every model is `create_model(name, **kwargs)` of the registry. Loading never deserializes code: the
config is plain JSON data checked against the registry, so a preset from the Hub is as safe as its weights.

Example:
```python
model = keras_resnets.create_model("resnet18", classes=3, input_shape=(96, 96, 3))
keras_resnets.save_preset(model, "my_resnet18", class_names=["cat", "dog", "fox"])
same = keras_resnets.from_preset("my_resnet18")
backbone = keras_resnets.from_preset("my_resnet18", include_top=False, pooling="avg")
keras_resnets.upload_preset("my_resnet18", "hf://me/my_resnet18")
```
"""

import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import tempfile

import keras
import numpy as np

from keras_resnets._registry import create_model, get_model_spec, list_models
from keras_resnets.layers import ImagePreprocessing

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
PRESET_FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
FORMAT = "keras_resnets.preset"
FORMAT_VERSION = 1
HF_PREFIX = "hf://"
# The classifier is the one layer an override may rebuild fresh (`classes=N`).
CLASSIFIER_LAYER = "predictions"
# `create_model` arguments a preset cannot record: its weights are the preset's own, and a tensor is not data.
_UNRECORDED_ARGS = ("weights", "input_tensor")
_RESERVED_METADATA = ("keras_resnets_version", "keras_version", "backend", "parameter_count", "date", "files")
_HF_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_HF_TIMEOUT_S = 10


# ----------------------------------------------------------------------------------------------------
# Saving


def save_preset(model, directory, *, class_names=None, metadata=None, model_name=None, model_kwargs=None):
    """Saves `model` as a preset folder: config.json, model.weights.h5 and metadata.json.

    The folder is written into a temporary sibling and renamed into place when complete, so a failure leaves
    nothing half-written. `directory` must be new or an empty folder: nothing of the user's is replaced.

    How the model was built is read from it where it can be (the registry name from `model.name`; input
    shape, head, pooling and preprocessing from its layers) and checked by rebuilding it: the recorded
    `create_model(model_name, **kwargs)` must build a model with the same layers and layer configs, or
    nothing is written. Architecture overrides (`stage_depths=...`, `drop_path_rate=...`) cannot be read
    back from a model: pass them in `model_kwargs`.

    Args:
        model: keras.Model, built by `keras_resnets.create_model` or a factory (`keras_resnets.ResNet18`).
        directory: str or os.PathLike, the preset folder to create.
        class_names: list of str or None, one name per output class (model with a classifier only).
        metadata: dict or None, JSON data added to metadata.json (dataset, accuracy, licence, ...).
        model_name: str or None, the registry name; default: `model.name` when it is a registered name.
        model_kwargs: dict or None, the `create_model` arguments the model was built with; they override
            what is read from the model. `weights` and `input_tensor` are not recorded.

    Returns:
        The absolute path of the preset folder.

    Raises:
        ValueError: a bad argument, a `directory` that exists and is not an empty folder, a model whose
            name or arguments cannot be told, or non-finite weights.

    Example:
    ```python
    model = keras_resnets.create_model("resnet20", classes=10, stage_depths=(2, 2, 2))
    keras_resnets.save_preset(model, "resnet20_small", model_kwargs=dict(stage_depths=(2, 2, 2)))
    ```
    """
    target = _check_new_directory(directory)
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    name = _resolve_model_name(model, model_name)
    kwargs = _recorded_kwargs(model, name, model_kwargs)
    class_names = _check_class_names(class_names, model, kwargs)
    metadata = _check_metadata(metadata)
    _check_finite(model)
    config = _preset_config(model, name, kwargs, class_names)
    with _atomic_directory(target) as tmp:
        weights_path = os.path.join(tmp, WEIGHTS_FILE)
        model.save_weights(weights_path)
        _write_json(os.path.join(tmp, CONFIG_FILE), config)
        _write_json(os.path.join(tmp, METADATA_FILE), {**metadata, **_save_facts(model, weights_path)})
    return target


def _check_new_directory(directory):
    """The absolute preset path: a str / PathLike naming a path that is absent or an empty folder."""
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise ValueError(f"`directory` must be a non-empty str or os.PathLike. Received: directory={directory!r}")
    target = os.path.abspath(os.fspath(directory))
    if os.path.islink(target):
        raise ValueError(f"`directory` is a symbolic link; give a new folder. Received: directory={directory!r}")
    if os.path.lexists(target) and not os.path.isdir(target):
        raise ValueError(f"`directory` is an existing file; give a new folder. Received: directory={directory!r}")
    if os.path.isdir(target) and os.listdir(target):
        raise ValueError(
            f"`directory` is a folder that is not empty; save_preset never writes into or replaces a user's "
            f"folder. Choose a new folder or remove this one yourself. Received: directory={directory!r}"
        )
    return target


def _resolve_model_name(model, model_name):
    """The registry name: `model_name`, else `model.name` when registered (or a keras.applications name)."""
    if model_name is not None:
        get_model_spec(model_name)  # a ValueError with close matches for an unknown name
        return model_name
    if model.name in list_models():
        return model.name
    for name in list_models():
        if get_model_spec(name).keras_name == model.name:
            return name  # a drop-in keeps keras.applications' model name (`resnet50v2`)
    raise ValueError(
        f"Cannot tell which registered variant the model {model.name!r} is: its name is not a registry name. "
        f"Pass `model_name=` (a name from keras_resnets.list_models()). Received: model.name={model.name!r}"
    )


def _read_kwargs(model):
    """The `create_model` arguments that a model shows in its layers: input shape, head and preprocessing."""
    outputs = model.output  # a dict for features_only models (and attention models' extra outputs)
    kwargs = {"input_shape": list(model.input_shape[1:]), "name": model.name}
    layer_names = {layer.name for layer in model.layers}
    if isinstance(outputs, dict) and CLASSIFIER_LAYER not in outputs:
        kwargs["features_only"] = True
    elif CLASSIFIER_LAYER in layer_names:
        classifier = model.get_layer(CLASSIFIER_LAYER)
        activation = keras.activations.serialize(classifier.activation)
        kwargs.update(include_top=True, classes=classifier.units,
                      classifier_activation=None if activation == "linear" else activation)
    else:
        pooling = {"avg_pool": "avg", "max_pool": "max"}
        found = [mode for layer, mode in pooling.items() if layer in layer_names]
        kwargs.update(include_top=False, pooling=found[0] if found else None)
    preprocessing = [layer for layer in model.layers if isinstance(layer, ImagePreprocessing)]
    kwargs["include_preprocessing"] = preprocessing[0].mode if preprocessing else False
    return kwargs


def _recorded_kwargs(model, name, model_kwargs):
    """What config.json records, checked: `create_model(name, **kwargs)` rebuilds `model`'s architecture."""
    if model_kwargs is not None and not isinstance(model_kwargs, dict):
        raise ValueError(f"`model_kwargs` must be a dict or None. Received: model_kwargs={model_kwargs!r}")
    given = {key: value for key, value in (model_kwargs or {}).items() if key not in _UNRECORDED_ARGS}
    kwargs = _as_json_data({**_read_kwargs(model), **given}, "model_kwargs")
    rebuilt = create_model(name, **_from_json(kwargs))
    difference = _first_difference(_architecture(model), _architecture(rebuilt))
    if difference:
        raise ValueError(
            f"`create_model({name!r}, **{kwargs})` does not rebuild this model ({difference}). Architecture "
            "overrides cannot be read back from a model: pass `model_kwargs=` with the arguments it was built "
            "with (e.g. model_kwargs=dict(stage_depths=(2, 2, 2))) and `model_name=` if needed."
        )
    return kwargs


def _architecture(model):
    """Each layer's class, name and config, without what does not change the weights or the computation.

    The input layer's name is left out (Keras numbers it per session), and so are `dtype` (the policy in
    force when the model was built: mixed-precision variables are float32) and `trainable` (a frozen
    backbone is still the same architecture)."""
    found = []
    for layer in model.layers:
        config = {key: value for key, value in layer.get_config().items()
                  if key not in ("name", "dtype", "trainable")}
        name = None if isinstance(layer, keras.layers.InputLayer) else layer.name
        found.append((type(layer).__name__, name, json.loads(json.dumps(config, default=str))))
    return found


def _first_difference(ours, rebuilt):
    """A short description of where two `_architecture` lists differ first, or None."""
    for index, (mine, theirs) in enumerate(zip(ours, rebuilt)):
        if mine[:2] != theirs[:2]:
            return f"layer {index} is {mine[0]} {mine[1]!r} here, {theirs[0]} {theirs[1]!r} rebuilt"
        if mine != theirs:
            changed = sorted(key for key in set(mine[2]) | set(theirs[2]) if mine[2].get(key) != theirs[2].get(key))
            return f"layer {mine[1]!r} differs in {changed}"
    if len(ours) != len(rebuilt):
        return f"{len(ours)} layers here, {len(rebuilt)} rebuilt"
    return None


def _as_json_data(kwargs, what):
    """`kwargs` as plain JSON data (tuples become lists): strings, numbers, booleans, None and lists."""

    def plain(key, value):
        if isinstance(value, (list, tuple)):
            return [plain(key, item) for item in value]
        if value is None or isinstance(value, (str, bool, int, float)):
            return value
        raise ValueError(
            f"`{what}` must hold only strings, numbers, booleans, None and lists of them (what config.json can "
            f"record); pass a named activation rather than a function. Received: {key}={value!r}"
        )

    return {key: plain(key, value) for key, value in kwargs.items()}


def _from_json(kwargs):
    """JSON lists back to the tuples the package's arguments are (`stage_depths=(3, 4, 6, 3)`)."""

    def tuples(value):
        return tuple(tuples(item) for item in value) if isinstance(value, list) else value

    return {key: tuples(value) for key, value in kwargs.items()}


def _check_class_names(class_names, model, kwargs):
    """None, or one string per class of a model with a classifier."""
    if class_names is None:
        return None
    classes = kwargs.get("classes") if kwargs.get("include_top") else None
    if classes is None:
        raise ValueError(
            f"`class_names` needs a model with a classifier; {model.name!r} has none (include_top=False or "
            f"features_only=True). Received: class_names={class_names!r}"
        )
    if not isinstance(class_names, (list, tuple)) or not all(isinstance(c, str) for c in class_names):
        raise ValueError(f"`class_names` must be a list of strings. Received: class_names={class_names!r}")
    if len(class_names) != classes:
        raise ValueError(
            f"`class_names` must have one name per class ({classes}). Received {len(class_names)}: "
            f"class_names={list(class_names)!r}"
        )
    return list(class_names)


def _check_metadata(metadata):
    """None or a dict of JSON data whose keys are not the ones save_preset writes itself."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(f"`metadata` must be a dict or None. Received: metadata={metadata!r}")
    reserved = sorted(set(metadata) & set(_RESERVED_METADATA))
    if reserved:
        raise ValueError(f"`metadata` keys {reserved} are written by save_preset itself; rename them. "
                         f"Reserved: {list(_RESERVED_METADATA)}")
    try:
        return json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(f"`metadata` must be JSON data ({err}). Received: metadata={metadata!r}") from None


def _check_finite(model):
    """A diverged model (NaN or infinite weights) is not worth sharing; refuse it before writing anything."""
    bad = [v.path for v in model.weights if not np.all(np.isfinite(keras.ops.convert_to_numpy(v)))]
    if bad:
        raise ValueError(f"The model has non-finite weights (NaN or inf), nothing was saved: {bad[:5]}")


def _preset_config(model, name, kwargs, class_names):
    """config.json: everything `from_preset` needs to rebuild the model."""
    import keras_resnets  # the package's version; imported here, once the package has finished loading

    spec = get_model_spec(name)
    mode = kwargs.get("include_preprocessing") or False
    mode = spec.preprocessing if mode is True else mode  # True: the variant's own mode
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": name,
        "kwargs": kwargs,
        # `in_model`: the model takes raw [0, 255] pixels (its ImagePreprocessing layer applies `mode`);
        # otherwise feed it `keras_resnets.preprocess_input(x, mode=mode)`.
        "preprocessing": {"mode": mode if mode else spec.preprocessing, "in_model": bool(mode)},
        "class_names": class_names,
        "input_shape": list(model.input_shape[1:]),
        "image_data_format": keras.config.image_data_format(),
        "keras_resnets_version": keras_resnets.__version__,
    }


def _save_facts(model, weights_path):
    """metadata.json's own keys (keras-hub's, plus the weight file's size and hash)."""
    import keras_resnets

    return {
        "keras_resnets_version": keras_resnets.__version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "parameter_count": int(model.count_params()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": {WEIGHTS_FILE: {"bytes": os.path.getsize(weights_path), "sha256": _sha256(weights_path)}},
    }


def _write_json(path, data):
    """`data` as indented JSON, ending in a newline."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def _sha256(path):
    """The SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _atomic_directory(target):
    """Yields a temporary sibling of `target` that is renamed to `target` when the block completes.

    Missing parent folders are created, and removed again (when still empty) if the save fails; an existing
    empty `target` folder is replaced by the rename (POSIX), a non-empty one never."""
    created, tmp = [], None
    try:
        _make_parents(target, created)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.tmp-", dir=os.path.dirname(target))
    except OSError as err:
        _remove_own(tmp, created)
        raise ValueError(f"Cannot write the preset folder {target}: {err.strerror or err}.") from err
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; a preset is an ordinary folder
        try:
            os.rename(tmp, target)  # fails if `target` became a non-empty folder meanwhile
        except OSError as err:
            raise ValueError(f"Cannot move the preset into {target}: {err.strerror or err}. Nothing was "
                             "replaced.") from err
    except BaseException:
        _remove_own(tmp, created)
        raise


def _make_parents(target, created):
    """Creates `target`'s missing parent folders, outermost first, listing each in `created` as it is made."""
    missing, parent = [], os.path.dirname(target)
    while not os.path.lexists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for folder in reversed(missing):
        os.mkdir(folder)
        created.append(folder)


def _remove_own(tmp, created):
    """Removes what a failed save created: its temporary folder, then the parents it made (if still empty)."""
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:
            break  # something else was put there meanwhile: leave it


# ----------------------------------------------------------------------------------------------------
# Loading


def from_preset(preset, **overrides):
    """Builds the model a preset folder describes and loads its weights.

    Args:
        preset: str or os.PathLike, a local preset folder (`save_preset`), or `"hf://<user>/<repo>"` for one
            on the Hugging Face Hub, downloaded through `huggingface_hub` into its cache.
        **overrides: `create_model` arguments that replace the recorded ones. A new head (`classes=37`,
            `include_top=False`, `pooling="avg"`, `features_only=True`) keeps every weight but the
            classifier's, which starts fresh; a new input size keeps them all. `weights` is not allowed (the
            weights are the preset's).

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: `preset` is not a preset folder (the error lists the missing files), its files are
            damaged, a Hub download fails (offline: within seconds, with how to pass a local folder), or an
            override changes a layer that has weights other than the classifier.

    Example:
    ```python
    model = keras_resnets.from_preset("my_resnet18", classes=5)  # fine-tune on 5 new classes
    ```
    """
    folder = preset_folder(preset)
    config = load_preset_config(folder)
    if "weights" in overrides:
        raise ValueError(f"`weights` cannot be overridden: a preset loads its own {WEIGHTS_FILE}. "
                         f"Received: weights={overrides['weights']!r}")
    kwargs = _from_json(config["kwargs"])
    model = create_model(config["model_name"], **kwargs)
    _load_weights(model, folder)
    if not overrides:
        return model
    target = create_model(config["model_name"], **{**kwargs, **overrides})
    _transfer_weights(model, target, folder)
    return target


def preset_folder(preset):
    """The local folder of `preset`: the folder itself, or the Hub repo's downloaded snapshot.

    Args:
        preset: str or os.PathLike, a local folder or `"hf://<user>/<repo>"`.

    Returns:
        str, a folder holding config.json, model.weights.h5 and metadata.json.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(f"`preset` must be a folder path or 'hf://<user>/<repo>'. Received: preset={preset!r}")
    preset = os.fspath(preset)
    folder = _download(preset) if preset.startswith(HF_PREFIX) else preset
    if not os.path.isdir(folder):
        hint = (f" For a Hugging Face repo write 'hf://{preset}'." if _HF_REPO_ID.fullmatch(preset) else "")
        raise ValueError(f"`preset` is not a folder.{hint} Received: preset={preset!r}")
    missing = [name for name in PRESET_FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise ValueError(
            f"{folder} is not a keras_resnets preset: it lacks {', '.join(missing)}. A preset folder holds "
            f"{', '.join(PRESET_FILES)} (written by keras_resnets.save_preset)."
        )
    return folder


def load_preset_config(preset):
    """The checked config.json of a preset (registry name, kwargs, preprocessing, class names, ...).

    Args:
        preset: str or os.PathLike, a local preset folder or `"hf://<user>/<repo>"`.

    Returns:
        dict, the config; `config["class_names"]` names the model's outputs (or is None).
    """
    folder = preset_folder(preset)
    path = os.path.join(folder, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not readable JSON ({err}).") from None
    _check_config(config, path)
    return config


def _check_config(config, path):
    """config.json is data for `create_model` only: a known format, a registered name, plain kwargs."""
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path} is not a keras_resnets preset config (its 'format' is not {FORMAT!r}).")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} has format_version {version!r}; this keras_resnets reads up to {FORMAT_VERSION}: "
                         "upgrade keras_resnets.")
    get_model_spec(config.get("model_name"))  # registered, or a ValueError with close matches
    kwargs = config.get("kwargs")
    if not isinstance(kwargs, dict):
        raise ValueError(f"{path}: 'kwargs' must be a JSON object. Received: {kwargs!r}")
    _as_json_data(kwargs, f"{path} kwargs")  # no objects: a config can never name code to deserialize
    recorded = sorted(set(kwargs) & set(_UNRECORDED_ARGS))
    if recorded:
        raise ValueError(f"{path}: a preset cannot record {recorded}.")
    data_format = config.get("image_data_format", "channels_last")
    if data_format != keras.config.image_data_format():
        raise ValueError(
            f"{path} was saved with image_data_format={data_format!r}; Keras is set to "
            f"{keras.config.image_data_format()!r}. Call keras.config.set_image_data_format({data_format!r}) first."
        )


def _load_weights(model, folder):
    """Loads the preset's weight file, checked against metadata.json's size and SHA-256 when it lists them."""
    path = os.path.join(folder, WEIGHTS_FILE)
    listed = _listed_file(folder)
    if listed is not None and (os.path.getsize(path) != listed.get("bytes") or _sha256(path) != listed.get("sha256")):
        raise ValueError(f"{path} is not the file the preset was saved with (its size or SHA-256 differs from "
                         f"metadata.json): a damaged copy or download. Get the preset again.")
    try:
        model.load_weights(path)
    except Exception as err:  # Keras raises several types (OSError, ValueError) for a bad file
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:400]
        raise ValueError(f"Could not load {path} into {model.name!r}, the model its config.json describes: "
                         f"{reason}") from err


def _listed_file(folder):
    """metadata.json's entry for the weight file, or None when it has none."""
    try:
        with open(os.path.join(folder, METADATA_FILE), encoding="utf-8") as f:
            entry = json.load(f).get("files", {}).get(WEIGHTS_FILE)
    except (OSError, ValueError, AttributeError):
        return None
    return entry if isinstance(entry, dict) else None


def _transfer_weights(source, target, folder):
    """Copies `source`'s weights into `target` layer by layer, by name; only the classifier may start fresh."""
    by_name = {layer.name: layer for layer in source.layers}
    copies, problems = [], []
    for layer in target.layers:
        if not layer.weights:
            continue
        weights = by_name[layer.name].get_weights() if layer.name in by_name else None
        if weights is not None and [w.shape for w in weights] == [tuple(v.shape) for v in layer.weights]:
            copies.append((layer, weights))
        elif layer.name != CLASSIFIER_LAYER:
            found = [w.shape for w in weights] if weights is not None else "absent"
            problems.append(f"{layer.name} (preset: {found}, model: {[tuple(v.shape) for v in layer.weights]})")
    if problems:
        raise ValueError(
            f"The overrides change layers whose weights the preset {folder} holds; only the classifier "
            f"({CLASSIFIER_LAYER!r}) can be rebuilt fresh (keep the input channels and the architecture): "
            f"{'; '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}"
        )
    for layer, weights in copies:
        layer.set_weights(weights)


def _download(preset):
    """The local snapshot of `hf://<user>/<repo>`, downloaded (or found in the cache) by huggingface_hub."""
    repo_id = preset[len(HF_PREFIX):]
    if not _HF_REPO_ID.fullmatch(repo_id):
        raise ValueError(f"A Hugging Face preset must be 'hf://<user>/<repo>'. Received: preset={preset!r}")
    try:
        import huggingface_hub
    except ImportError:
        raise ValueError(f"Loading {preset!r} needs the huggingface_hub package: pip install huggingface_hub. "
                         "Or download the folder elsewhere and pass its local path.") from None
    import keras_resnets

    try:
        return huggingface_hub.snapshot_download(
            repo_id, allow_patterns=list(PRESET_FILES), etag_timeout=_HF_TIMEOUT_S,
            library_name="keras_resnets", library_version=keras_resnets.__version__,
        )
    except Exception as err:  # offline, unknown repo, gated, Hub down: huggingface_hub raises many types
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise ValueError(
            f"Could not download the preset {preset!r} (Hugging Face repo {repo_id!r}): {reason}. Without network, "
            f"download the folder elsewhere (`hf download {repo_id} --local-dir my_preset`), copy it here and pass "
            "its path: keras_resnets.from_preset('my_preset')."
        ) from err


# ----------------------------------------------------------------------------------------------------
# Sharing


def upload_preset(directory, repo_id, *, private=None, commit_message="Upload keras_resnets preset"):
    """Uploads a preset folder to a Hugging Face model repo (creating the repo if needed).

    It checks the folder is a preset, then does what this one-liner does after `huggingface-cli login`:
    ```python
    huggingface_hub.upload_folder(repo_id="me/my_resnet18", folder_path="my_resnet18")
    ```
    Anyone can then load it with `keras_resnets.from_preset("hf://me/my_resnet18")`.

    Args:
        directory: str or os.PathLike, a preset folder written by `save_preset`.
        repo_id: str, `"<user>/<repo>"` or `"hf://<user>/<repo>"`.
        private: bool or None, whether a repo created here is private (None: the Hub's default).
        commit_message: str, the commit message of the upload.

    Returns:
        What `huggingface_hub.upload_folder` returns (the commit's info).
    """
    if not isinstance(repo_id, str) or not _HF_REPO_ID.fullmatch(repo_id.removeprefix(HF_PREFIX)):
        raise ValueError(f"`repo_id` must be '<user>/<repo>' or 'hf://<user>/<repo>'. Received: repo_id={repo_id!r}")
    if isinstance(directory, str) and directory.startswith(HF_PREFIX):
        raise ValueError(f"`directory` must be a local preset folder. Received: directory={directory!r}")
    folder = preset_folder(directory)
    load_preset_config(folder)
    repo_id = repo_id.removeprefix(HF_PREFIX)
    try:
        import huggingface_hub
    except ImportError:
        raise ValueError("upload_preset needs the huggingface_hub package: pip install huggingface_hub") from None
    huggingface_hub.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    return huggingface_hub.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="model",
                                         commit_message=commit_message)
