"""Presets (keras_resnets.presets): save -> load round trips on real images, new heads, and every refusal."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras.src.saving.serialization_lib import SafeModeScope

import keras_resnets
from keras_resnets import presets
from tests import tiny_models
from tests.real_data import load_sample

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASS_NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat"]


def real_images(count=16):
    """Fashion-MNIST images as raw 32x32 RGB pixels: padded by 2 (28 -> 32) and the gray channel repeated."""
    images, _ = load_sample(count)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return np.repeat(padded, 3, axis=-1).astype("float32")


def trained_looking(model, seed=0):
    """`model` with every weight moved off its initial value (BatchNorm statistics included), so that a load
    that missed any variable would change the predictions."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        value = keras.ops.convert_to_numpy(variable)
        value = value + 0.1 * rng.standard_normal(value.shape).astype(value.dtype)
        variable.assign(np.abs(value) if "moving_variance" in variable.path else value)
    return model


def tiny(label, **kwargs):
    """A tiny variant taking raw pixels (its preprocessing inside), and the architecture overrides it used."""
    return tiny_models.build(label, include_preprocessing=True, **kwargs), dict(tiny_models.TINY[label][1])


@pytest.fixture
def saved(tmp_path):
    """A tiny ResNet with non-trivial weights, saved as a preset with class names: (model, preset folder)."""
    model, overrides = tiny("resnet_basic")
    trained_looking(model)
    folder = presets.save_preset(model, tmp_path / "preset", class_names=CLASS_NAMES, model_kwargs=overrides)
    return model, folder


# ----------------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("label", ["resnet_basic", "densenet"])
def test_round_trip_gives_the_same_predictions_on_real_images(label, tmp_path):
    model, overrides = tiny(label)
    trained_looking(model)
    folder = presets.save_preset(model, tmp_path / label, class_names=CLASS_NAMES, model_kwargs=overrides,
                                 metadata={"dataset": "fashion_mnist"})
    assert sorted(os.listdir(folder)) == sorted(presets.PRESET_FILES)

    loaded = keras_resnets.from_preset(folder)
    images = real_images()
    expected, got = model.predict(images, verbose=0), loaded.predict(images, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert (got.argmax(-1) == expected.argmax(-1)).all()
    assert loaded.name == model.name and loaded.count_params() == model.count_params()

    config = presets.load_preset_config(folder)
    assert config["model_name"] == tiny_models.TINY[label][0]
    assert config["class_names"] == CLASS_NAMES
    assert config["preprocessing"] == {"mode": "torch", "in_model": True}
    assert config["input_shape"] == [32, 32, 3]
    assert config["keras_resnets_version"] == keras_resnets.__version__
    with open(os.path.join(folder, presets.METADATA_FILE)) as f:
        metadata = json.load(f)
    assert metadata["parameter_count"] == model.count_params() and metadata["dataset"] == "fashion_mnist"
    assert metadata["files"][presets.WEIGHTS_FILE]["bytes"] == os.path.getsize(os.path.join(folder, "model.weights.h5"))


def test_a_registered_model_saves_without_model_kwargs(tmp_path):
    model = trained_looking(keras_resnets.create_model("resnet20", classes=10, classifier_activation=None))
    folder = presets.save_preset(model, tmp_path / "resnet20")
    config = presets.load_preset_config(folder)
    assert config["model_name"] == "resnet20"
    assert config["kwargs"]["classifier_activation"] is None
    assert config["preprocessing"] == {"mode": "tf", "in_model": False}
    images = keras_resnets.preprocess_input(real_images(8), mode="tf")
    np.testing.assert_allclose(keras_resnets.from_preset(folder).predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=0, atol=1e-6)


def test_include_preprocessing_true_is_recorded_as_the_variants_mode(tmp_path):
    model, overrides = tiny("densenet")
    folder = presets.save_preset(model, tmp_path / "p", model_kwargs={**overrides, "include_preprocessing": True})
    assert presets.load_preset_config(folder)["preprocessing"] == {"mode": "torch", "in_model": True}


def test_a_keras_applications_model_name_maps_to_its_registry_name(tmp_path):
    overrides = dict(tiny_models.TINY["resnet_v2"][1])
    model = keras_resnets.create_model("resnet50_v2", name="resnet50v2", input_shape=(32, 32, 3), classes=5,
                                       **overrides)
    folder = presets.save_preset(model, tmp_path / "v2", model_kwargs=overrides)
    config = presets.load_preset_config(folder)
    assert (config["model_name"], config["kwargs"]["name"]) == ("resnet50_v2", "resnet50v2")


def test_a_features_only_model_round_trips(tmp_path):
    model, overrides = tiny("densenet", features_only=True)
    trained_looking(model)
    folder = presets.save_preset(model, tmp_path / "features", model_kwargs=overrides)
    assert presets.load_preset_config(folder)["kwargs"]["features_only"] is True
    images = real_images(4)
    expected, got = model.predict(images, verbose=0), keras_resnets.from_preset(folder).predict(images, verbose=0)
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=1e-6)


def test_a_model_built_under_mixed_precision_loads_in_float32(tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    model, overrides = tiny("resnet_basic")
    trained_looking(model)
    folder = presets.save_preset(model, tmp_path / "mixed", model_kwargs=overrides)
    keras.config.set_dtype_policy("float32")
    loaded = keras_resnets.from_preset(folder)
    assert loaded.get_layer("conv1_conv").compute_dtype == "float32"
    for mine, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_a_preset_loads_only_in_its_image_data_format(saved):
    _, folder = saved
    keras.config.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match=r"saved with image_data_format='channels_last'"):
        keras_resnets.from_preset(folder)


def test_a_preset_loads_in_safe_mode(saved):
    model, folder = saved
    with SafeModeScope(True):
        loaded = keras_resnets.from_preset(folder)
    images = real_images(8)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------------------------
# Overrides: a new head, another input size


def test_override_classes_keeps_the_backbone_and_builds_a_fresh_head(saved):
    model, folder = saved
    loaded = keras_resnets.from_preset(folder, classes=3)
    assert loaded.output_shape == (None, 3)
    for layer in loaded.layers:
        if layer.weights and layer.name != "predictions":
            for mine, theirs in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(mine, theirs)
    assert loaded.get_layer("predictions").get_weights()[0].shape == (8, 3)


def test_override_to_a_backbone_gives_the_presets_features_on_real_images(saved):
    model, folder = saved
    backbone = keras_resnets.from_preset(folder, include_top=False, pooling="avg")
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    images = real_images()
    np.testing.assert_allclose(backbone.predict(images, verbose=0), features.predict(images, verbose=0),
                               rtol=0, atol=1e-6)


def test_override_input_size_keeps_every_weight(saved):
    model, folder = saved
    loaded = keras_resnets.from_preset(folder, input_shape=(48, 48, 3))
    assert loaded.input_shape == (None, 48, 48, 3)
    for mine, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_an_override_that_changes_the_backbone_is_refused(saved):
    _, folder = saved
    with pytest.raises(ValueError, match=r"only the classifier.*conv1_conv"):
        keras_resnets.from_preset(folder, input_shape=(32, 32, 1), include_preprocessing="tf")
    with pytest.raises(ValueError, match="`weights` cannot be overridden"):
        keras_resnets.from_preset(folder, weights="imagenet")


# ----------------------------------------------------------------------------------------------------
# What save_preset refuses


def test_save_checks_the_directory_argument_before_any_work():
    for bad in (None, 123, ""):
        with pytest.raises(ValueError, match=r"`directory` must be a non-empty str or os.PathLike"):
            presets.save_preset("not a model", bad)


def test_save_refuses_a_non_empty_folder_or_a_file_and_touches_neither(saved, tmp_path):
    model, _ = saved
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        presets.save_preset(model, folder, model_kwargs=dict(tiny_models.TINY["resnet_basic"][1]))
    assert os.listdir(folder) == ["notes.txt"] and (folder / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="existing file"):
        presets.save_preset(model, folder / "notes.txt")
    assert (folder / "notes.txt").read_text() == "keep me"


def test_save_fills_an_empty_folder_and_makes_missing_parents(saved, tmp_path):
    model, _ = saved
    overrides = dict(tiny_models.TINY["resnet_basic"][1])
    (tmp_path / "empty").mkdir()
    presets.save_preset(model, tmp_path / "empty", model_kwargs=overrides)
    presets.save_preset(model, tmp_path / "a" / "b" / "preset", model_kwargs=overrides)
    for folder in (tmp_path / "empty", tmp_path / "a" / "b" / "preset"):
        assert sorted(os.listdir(folder)) == sorted(presets.PRESET_FILES)


def test_a_failed_save_leaves_nothing_behind(saved, tmp_path, monkeypatch):
    model, _ = saved

    def broken_save_weights(path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save_weights", broken_save_weights)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(OSError, match="disk full"):
        presets.save_preset(model, tmp_path / "new" / "preset", model_kwargs=dict(tiny_models.TINY["resnet_basic"][1]))
    assert sorted(os.listdir(tmp_path)) == before  # no preset, no temporary folder, no parent made for it


def test_save_refuses_a_model_it_cannot_rebuild(tmp_path):
    model, overrides = tiny("resnet_basic")
    with pytest.raises(ValueError, match=r"does not rebuild this model.*model_kwargs="):
        presets.save_preset(model, tmp_path / "p")  # the tiny widths are not visible in the model
    renamed = keras_resnets.create_model("resnet18", name="my_net", input_shape=(32, 32, 3), classes=5, **overrides)
    with pytest.raises(ValueError, match=r"Pass `model_name=`.*my_net"):
        presets.save_preset(renamed, tmp_path / "p", model_kwargs=overrides)
    folder = presets.save_preset(renamed, tmp_path / "p", model_name="resnet18", model_kwargs=overrides)
    assert presets.load_preset_config(folder)["kwargs"]["name"] == "my_net"
    with pytest.raises(ValueError, match="Unknown model 'resnet_18'"):
        presets.save_preset(renamed, tmp_path / "q", model_name="resnet_18", model_kwargs=overrides)
    assert not os.path.exists(tmp_path / "q")


def test_save_checks_class_names_metadata_and_weights(saved, tmp_path):
    model, _ = saved
    overrides = dict(tiny_models.TINY["resnet_basic"][1])
    with pytest.raises(ValueError, match=r"one name per class \(5\)\. Received 2"):
        presets.save_preset(model, tmp_path / "p", model_kwargs=overrides, class_names=["a", "b"])
    with pytest.raises(ValueError, match="reserved|written by save_preset itself"):
        presets.save_preset(model, tmp_path / "p", model_kwargs=overrides, metadata={"date": "today"})
    with pytest.raises(ValueError, match="`metadata` must be JSON data"):
        presets.save_preset(model, tmp_path / "p", model_kwargs=overrides, metadata={"f": object()})
    with pytest.raises(ValueError, match="pass a named activation"):
        presets.save_preset(model, tmp_path / "p", model_kwargs={**overrides, "classifier_activation": np.tanh})
    model.get_layer("conv1_conv").kernel.assign(np.full((7, 7, 3, 8), np.nan, "float32"))
    with pytest.raises(ValueError, match="non-finite weights"):
        presets.save_preset(model, tmp_path / "p", model_kwargs=overrides)
    assert not os.path.exists(tmp_path / "p")


# ----------------------------------------------------------------------------------------------------
# What from_preset refuses


def test_a_folder_that_is_not_a_preset_names_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match="lacks config.json, model.weights.h5, metadata.json"):
        keras_resnets.from_preset(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"lacks model.weights.h5, metadata.json\."):
        keras_resnets.from_preset(tmp_path)
    with pytest.raises(ValueError, match=r"not a folder\. For a Hugging Face repo write 'hf://someone/model'"):
        keras_resnets.from_preset("someone/model")
    with pytest.raises(ValueError, match="must be a folder path"):
        keras_resnets.from_preset(3)


def edit_config(folder, **changes):
    path = os.path.join(folder, presets.CONFIG_FILE)
    with open(path) as f:
        config = json.load(f)
    for key, value in changes.items():
        if key == "kwargs":
            config["kwargs"].update(value)
        else:
            config[key] = value
    with open(path, "w") as f:
        json.dump(config, f)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(kwargs={"classifier_activation": {"class_name": "Lambda", "config": {}}}), "classifier_activation="),
        (dict(model_name="resnet_18"), "Unknown model 'resnet_18'"),
        (dict(format_version=99), "upgrade keras_resnets"),
        (dict(format="keras_hub"), "not a keras_resnets preset config"),
        (dict(kwargs={"weights": "imagenet"}), "cannot record"),
    ],
)
def test_a_tampered_config_is_refused(saved, changes, message):
    _, folder = saved
    edit_config(folder, **changes)
    with pytest.raises(ValueError, match=message):
        keras_resnets.from_preset(folder)


def test_a_damaged_weight_file_is_refused(saved):
    _, folder = saved
    path = os.path.join(folder, presets.WEIGHTS_FILE)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])  # flipped, so the bytes surely change
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(ValueError, match="SHA-256 differs from metadata.json"):
        keras_resnets.from_preset(folder)


def test_a_hub_preset_fails_offline_within_seconds_saying_how_to_load_a_local_folder(tmp_path):
    script = textwrap.dedent(
        """
        import json, time
        import keras_resnets
        start = time.time()
        try:
            keras_resnets.from_preset("hf://someone/resnet18-preset")
        except ValueError as err:
            print(json.dumps({"seconds": time.time() - start, "message": str(err)}))
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["seconds"] < 10
    assert "'someone/resnet18-preset'" in report["message"]
    assert "keras_resnets.from_preset('my_preset')" in report["message"]


def test_a_malformed_hub_id_is_refused_before_any_download():
    with pytest.raises(ValueError, match=r"must be 'hf://<user>/<repo>'"):
        keras_resnets.from_preset("hf://no-repo-name")


# ----------------------------------------------------------------------------------------------------
# Uploading


def test_upload_preset_creates_the_repo_and_uploads_the_folder(saved, monkeypatch):
    import huggingface_hub

    _, folder = saved
    calls = []
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda *args, **kwargs: calls.append(("create", args, kwargs)))
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kwargs: calls.append(("upload", (), kwargs)) or "ok")
    assert keras_resnets.upload_preset(folder, "hf://me/tiny-resnet18") == "ok"
    assert calls == [
        ("create", ("me/tiny-resnet18",), dict(repo_type="model", private=None, exist_ok=True)),
        ("upload", (), dict(repo_id="me/tiny-resnet18", folder_path=folder, repo_type="model",
                            commit_message="Upload keras_resnets preset")),
    ]


def test_upload_preset_checks_its_arguments_before_calling_the_hub(saved, tmp_path, monkeypatch):
    import huggingface_hub

    _, folder = saved
    calls = []
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kwargs: calls.append(kwargs))
    with pytest.raises(ValueError, match="`repo_id` must be"):
        keras_resnets.upload_preset(folder, "no-slash")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ValueError, match="lacks config.json"):
        keras_resnets.upload_preset(tmp_path / "elsewhere", "me/repo")
    assert calls == []
