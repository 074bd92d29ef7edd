"""The registry and the public factories."""

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


@pytest.mark.parametrize("factory", ["ResNet50", "DenseNet121", "ResNet50V2"])
def test_factory_signature_mirrors_keras_applications(factory):
    ours = inspect.signature(getattr(keras_resnets, factory)).parameters
    theirs = inspect.signature(getattr(keras.applications, factory)).parameters
    for arg, param in theirs.items():
        assert arg in ours, arg
        assert ours[arg].kind == inspect.Parameter.KEYWORD_ONLY
        assert ours[arg].default == param.default, arg


def test_non_pretrained_factories_default_to_random_weights():
    assert inspect.signature(keras_resnets.ResNet18).parameters["weights"].default is None
    assert inspect.signature(keras_resnets.ResNet20).parameters["classes"].default == 10


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
