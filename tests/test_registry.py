"""The registry and the public factories."""

import dataclasses
import inspect

import keras
import pytest

import keras_resnets


def test_every_spec_has_its_factory_and_config():
    names = keras_resnets.list_models()
    assert len(names) == len(set(names)) >= 45
    for name in names:
        spec = keras_resnets.get_model_spec(name)
        factory = getattr(keras_resnets, spec.factory)
        assert factory.__name__ == spec.factory and name in factory.__doc__
        config = keras_resnets.get_model_config(name)
        assert config["family"] == spec.family and config["default_size"] in (32, 224)


DROP_INS = [
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
]


@pytest.mark.parametrize("factory", DROP_INS)
def test_factory_signature_mirrors_keras_applications(factory):
    """A drop-in takes keras.applications' arguments with its defaults, in its positions (issue 21)."""
    ours = inspect.signature(getattr(keras_resnets, factory)).parameters
    theirs = inspect.signature(getattr(keras.applications, factory)).parameters
    for arg, param in theirs.items():
        assert arg in ours, arg
        assert ours[arg].kind == param.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert ours[arg].default == param.default, arg
    assert list(ours)[: len(theirs)] == list(theirs)
    rest = list(ours.values())[len(theirs) :]
    assert all(p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD) for p in rest)


def test_drop_in_takes_arguments_by_position():
    with keras.StatelessScope(initialize_variables=False):
        model = keras_resnets.DenseNet121(False, None, None, (64, 64, 3), "avg")
        reference = keras.applications.DenseNet121(False, None, None, (64, 64, 3), "avg")
    assert model.output_shape == reference.output_shape == (None, 1024) and model.name == reference.name


def test_other_factories_take_keyword_arguments_only():
    for name in keras_resnets.list_models():
        factory = getattr(keras_resnets, keras_resnets.get_model_spec(name).factory)
        if factory.__name__ in DROP_INS:
            continue
        kinds = {p.kind for p in inspect.signature(factory).parameters.values()}
        assert kinds == {inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD}, name
    with pytest.raises(TypeError):
        keras_resnets.ResNet18(False)


def test_non_pretrained_factories_default_to_random_weights():
    assert inspect.signature(keras_resnets.ResNet18).parameters["weights"].default is None
    assert inspect.signature(keras_resnets.ResNet20).parameters["classes"].default == 10


def test_each_factory_is_a_def_in_its_family_module_that_builds_its_variant(monkeypatch):
    """`grep "def ResNet50"` finds every factory, and each one builds the variant it is registered for."""
    built = []
    families = (keras_resnets.resnet, keras_resnets.resnet_v2, keras_resnets.densenet, keras_resnets.attention)
    for module in families:
        monkeypatch.setattr(module, "create_model", lambda model, /, **kwargs: built.append((model, kwargs["name"])))
    for name in keras_resnets.list_models():
        spec = keras_resnets.get_model_spec(name)
        factory = getattr(keras_resnets, spec.factory)
        source = inspect.getsource(inspect.unwrap(factory))
        assert f"def {spec.factory}(" in source and factory.__module__ in {m.__name__ for m in families}
        factory()
        assert built[-1] == (name, spec.keras_name or name)


def test_public_names_are_unchanged():
    factories = sorted(keras_resnets.FACTORIES)
    assert factories == sorted(set(keras_resnets.__all__) - set(API)) and len(factories) == 71
    assert keras_resnets.__all__[: len(API)] == API and keras_resnets.__all__[len(API) :] == factories
    for name in keras_resnets.__all__:
        assert getattr(keras_resnets, name) is not None, name
    assert keras_resnets.FACTORIES["CIFARResNet"] is keras_resnets.resnet.CIFARResNet


API = [
    "create_model",
    "data_config",
    "decode_predictions",
    "flip_tta",
    "fold_batch_norm",
    "from_preset",
    "get_model_config",
    "get_model_spec",
    "layers",
    "list_models",
    "list_pretrained",
    "preprocess_input",
    "preprocessing_mode",
    "save_preset",
    "upload_preset",
]


def test_common_arguments_are_one_config():
    from keras_resnets._common import CommonArgs
    from keras_resnets._registry import COMMON_ARGS

    assert {field.name for field in dataclasses.fields(CommonArgs)} == set(COMMON_ARGS)


def test_list_models_filters():
    assert keras_resnets.list_models("resnext*") == [
        "resnext101_32x4d",
        "resnext101_32x8d",
        "resnext101_64x4d",
        "resnext29_16x64d",
        "resnext29_8x64d",
        "resnext50_32x4d",
    ]
    assert keras_resnets.list_models(family="densenet")[0] == "densenet121"
    assert set(keras_resnets.list_models("plain*")) == {f"plain{d}" for d in (20, 32, 44, 56, 110)}
    with pytest.raises(ValueError, match="family"):
        keras_resnets.list_models(family="vgg")


def test_kwargs_override_the_variant_config():
    model = keras_resnets.create_model("resnet56", stage_depths=(1, 1, 1), classes=7, name="tiny")
    assert model.name == "tiny" and model.output_shape == (None, 7)
    assert model.count_params() < keras_resnets.create_model("resnet56").count_params()
    config = keras_resnets.get_model_config("resnet56")
    config["stage_depths"] = (1, 1, 1)  # a copy: the registry is unchanged
    assert keras_resnets.get_model_config("resnet56")["stage_depths"] == (9, 9, 9)


def test_input_tensor_and_pooling(rng):
    inputs = keras.Input((48, 48, 3))
    model = keras_resnets.ResNet20(input_tensor=inputs, include_top=False, pooling="max")
    assert model.inputs[0] is inputs and model.output_shape == (None, 64)
    assert model.layers[-1].name == "max_pool"
    model = keras_resnets.ResNet18(include_top=False, pooling="avg", input_shape=(None, None, 3))
    assert model(rng.random((1, 97, 131, 3)).astype("float32")).shape == (1, 512)
    model = keras_resnets.DenseNetBC100_12(include_top=False, input_shape=(None, None, 3))
    assert model(rng.random((1, 40, 24, 3)).astype("float32")).shape == (1, 10, 6, 342)


def test_channels_first_builds_with_the_same_counts():
    """Symbolic channels_first builds (TensorFlow on a CPU cannot run NCHW convs; JAX and GPUs can)."""
    counts = {}
    for data_format in ("channels_last", "channels_first"):
        keras.config.set_image_data_format(data_format)
        for name, kwargs in [
            ("resnet50", {}),
            ("resnet20", {}),
            ("resnet50_v2", {}),
            ("densenet_bc_100_12", {}),
            ("attention92_cifar", {}),
            ("resnext29_8x64d", dict(stage_depths=(1, 1, 1))),
        ]:
            shape = (3, 64, 64) if data_format == "channels_first" else (64, 64, 3)
            model = keras_resnets.create_model(name, input_shape=shape, include_preprocessing=True, **kwargs)
            counts.setdefault(name, []).append(model.count_params())
            if data_format == "channels_first":
                assert model.get_layer("preprocessing").data_format == "channels_first"
    assert all(a == b for a, b in counts.values()), counts


def test_models_doc_lists_every_variant_with_its_asserted_counts():
    """docs/models.md (`python scripts/model_table.py > docs/models.md`) is current: one row per registered variant,
    with the counts tests/test_counts.py asserts."""
    import pathlib

    from tests.test_counts import EXPECTED

    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line.split("|") for line in text.splitlines() if line.startswith("| `")}
    assert sorted(rows) == keras_resnets.list_models()
    for name, row in rows.items():
        if name in EXPECTED:
            assert (int(row[6].replace(",", "")), int(row[7].replace(",", ""))) == EXPECTED[name], name
