"""timm / torchvision state dicts loaded onto our models (keras_resnets.conversion), checked on real images.

Each parity test builds the timm model (CPU torch, seeded random initialisation, every BatchNorm's weight,
bias, running mean and variance randomised so that each mapping is really exercised, eval mode), saves its
state dict as `.safetensors` (and `.pth`), loads that file into our model and compares the logits on
Fashion-MNIST images from the committed sample, resized to 64x64 and repeated to three channels, normalised
with ImageNet's mean/std and fed to both. The bar is max abs diff <= 1e-4 (float32) and the same top-1.

Small variants run by default (one or more per family; some at reduced depth, which timm's `layers=` /
`block_config=` and our `stage_depths=` / `block_depths=` both take); the full-size rest are `slow`.
"""

import sys
import types

import numpy as np
import pytest

import keras_resnets
from keras_resnets import conversion
from keras_resnets.conversion import ConversionError, TIMM_VARIANTS, checkpoint_keys, create_from_timm, load_state_dict

ATOL = 1e-4
IMAGES = 6
SIZE = 64
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def _import_timm():
    """timm, imported on CPU torch. The test extra installs torch, torchvision and timm (`bash scripts/test.sh`):
    where one is missing the parity tests fail, saying so, rather than skip."""
    try:
        import torch  # noqa: F401

        _import_torchvision()
        import timm
    except ImportError as err:
        pytest.fail(f"The converter's parity tests need torch, torchvision and timm, which the test extra installs "
                    f"(pip install -e '.[test]'): {err}")
    return timm


def _import_torchvision():
    """torchvision, which timm imports; on CPU torch with PyPI's (CUDA-linked) wheel, without its compiled ops.

    There its compiled operators (nms, roi_align, image decoding) cannot load and `torchvision._meta_registrations`
    fails registering them ("operator torchvision::nms does not exist"). Neither timm's ResNets nor its DenseNets
    use them: that one module is replaced by an empty one and torchvision imported again, the rest of it being
    pure Python. A torchvision that imports (a CPU build, or CUDA torch) is used as it is.
    """
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return  # timm's own import then says what is missing
    except RuntimeError:
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        import torchvision  # noqa: F401


def _pixels(size=SIZE):
    """IMAGES real images resized to `size`, RGB (the grey channel repeated), float32 in [0, 255]."""
    import keras

    images, _ = _sample()
    x = keras.ops.convert_to_numpy(keras.ops.image.resize(images.astype(np.float32), (size, size)))
    return np.repeat(x, 3, axis=-1).astype(np.float32)


def _images(size=SIZE):
    """`_pixels` normalised as timm's ImageNet models expect (NHWC float32)."""
    return ((_pixels(size) / 255.0 - MEAN) / STD).astype(np.float32)


def _sample():
    """One image of each of the first IMAGES classes of the committed sample (200 per class, in class order)."""
    from tests.real_data import load_sample

    images, labels = load_sample()[:2]
    picks = [int(np.flatnonzero(labels == c)[0]) for c in range(IMAGES)]
    return images[picks], labels[picks]


def _randomized_timm(timm, name, x, **kwargs):
    """timm's `name`, seeded, with every BatchNorm's affine parameters and statistics random, in eval mode.

    A random network gives every image nearly the same logits; the classifier's bias is set to minus their mean
    over the images `x`, so that what is left, and each image's top-1, is what differs between images.
    """
    import torch

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, **kwargs)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
                n = module.weight.shape[0]
                module.weight.copy_(torch.rand(n, generator=generator) * 0.5 + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
        # A residual branch's last BatchNorm (timm zero-initialises it) at gamma 0.1-0.2, as in trained ResNets:
        # with gamma near 1 a random ResNet-200's activations grow with depth to logits of 1e3, where float32
        # rounding alone passes 1e-4.
        for module in model.modules():
            if hasattr(module, "zero_init_last"):
                (module.bn3 if hasattr(module, "bn3") else module.bn2).weight.mul_(0.2)
        # timm's classifier starts small (logits about 0.2); scaled up, the 1e-4 bar is a relative 1e-5.
        model.get_classifier().weight.mul_(30.0)
        model.eval()
        model.get_classifier().bias.sub_(torch.from_numpy(_torch_logits(model, x).mean(axis=0)))
    return model


def _torch_logits(model, x):
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()


def _save(model, directory, fmt):
    """The timm model's state dict written as `fmt` ("safetensors" or "pth"); returns the path."""
    import torch

    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    path = str(directory / f"model.{fmt}")
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, path)
    else:
        torch.save(state, path)
    return path


def _check_parity(tmp_path, timm_name, *, timm_kwargs=None, our_kwargs=None, fmt="safetensors", size=SIZE,
                  preprocessing=False):
    """Loads timm's `timm_name` into ours through a `fmt` file; asserts the bar; returns the max abs diff.

    With `preprocessing`, our model includes its "torch" preprocessing layer and gets the raw pixels.
    """
    timm = _import_timm()
    x = _images(size)
    reference = _randomized_timm(timm, timm_name, x, num_classes=10, **(timm_kwargs or {}))
    expected = _torch_logits(reference, x)
    model = create_from_timm(timm_name, _save(reference, tmp_path, fmt), classes=10, input_shape=(size, size, 3),
                             classifier_activation=None, include_preprocessing=preprocessing, **(our_kwargs or {}))
    import keras

    got = keras.ops.convert_to_numpy(model(_pixels(size) if preprocessing else x, training=False))
    diff = float(np.max(np.abs(got - expected)))
    print(f"{timm_name} {timm_kwargs or ''} ({fmt}): max abs diff {diff:.3g}, logits up to "
          f"{np.max(np.abs(expected)):.3g}, top-1 {np.argmax(expected, -1).tolist()}")
    assert diff <= ATOL, f"{timm_name}: max abs diff {diff} > {ATOL}"
    np.testing.assert_array_equal(np.argmax(got, -1), np.argmax(expected, -1))
    assert len(set(np.argmax(expected, -1))) > 1, "the images' top-1 classes should differ"
    return diff


# (timm name, timm kwargs, our kwargs): every family in the default run, reduced where a full model is slow.
FAST = [
    ("resnet18", {}, {}),
    ("resnet26d", {}, {}),
    ("resnet50", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("resnext50_32x4d", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("wide_resnet50_2", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("seresnext50_32x4d", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("ecaresnet50d", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("resnetaa50d", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("resnetblur50", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("resnet50_gn", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("resnetrs50", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    # Dilated last stages: the weights keep their shapes, the features their size.
    ("resnet50d", dict(layers=(1, 2, 1, 2), output_stride=8), dict(stage_depths=(1, 2, 1, 2), output_stride=8)),
    ("resnet18", dict(output_stride=16), dict(output_stride=16)),
    ("resnetblur50", dict(layers=(1, 1, 1, 2), output_stride=16), dict(stage_depths=(1, 1, 1, 2), output_stride=16)),
    ("densenet121", dict(block_config=(2, 2, 2, 2)), dict(block_depths=(2, 2, 2, 2))),
]
SLOW = [name for name in TIMM_VARIANTS if name not in ("resnet18", "resnet26d", "densenet121")]  # full size by default


@pytest.mark.parametrize("timm_name, timm_kwargs, our_kwargs", FAST,
                         ids=[row[0] + (f"-os{row[1]['output_stride']}" if "output_stride" in row[1] else "")
                              for row in FAST])
def test_parity_small(tmp_path, timm_name, timm_kwargs, our_kwargs):
    _check_parity(tmp_path, timm_name, timm_kwargs=timm_kwargs, our_kwargs=our_kwargs)


def test_parity_densenet121_full(tmp_path):
    _check_parity(tmp_path, "densenet121")


@pytest.mark.parametrize("timm_name", ["resnet26d", "densenet121"])
def test_parity_odd_feature_maps(tmp_path, timm_name):
    """72x72 inputs: stride-2 convolutions, ResNet-D's average pools and DenseNet's transitions meet 9x9 and 5x5
    maps, where PyTorch's symmetric padding / ceil_mode pooling and Keras' must still agree."""
    _check_parity(tmp_path, timm_name, size=72)


ODD = [
    ("resnetblur50", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("resnetrs50", dict(layers=(1, 1, 1, 1)), dict(stage_depths=(1, 1, 1, 1))),
    ("resnet50d", dict(layers=(1, 1, 1, 1), output_stride=8), dict(stage_depths=(1, 1, 1, 1), output_stride=8)),
]


@pytest.mark.parametrize("timm_name, timm_kwargs, our_kwargs", ODD, ids=[row[0] for row in ODD])
def test_parity_odd_feature_maps_of_each_option(tmp_path, timm_name, timm_kwargs, our_kwargs):
    """72x72: the blur's padding, ResNet-RS's stem conv and the dilated shortcut's 'same' average pool on 9x9
    and 5x5 maps (average-pool anti-aliasing needs even maps, in timm as here: test_families)."""
    _check_parity(tmp_path, timm_name, timm_kwargs=timm_kwargs, our_kwargs=our_kwargs, size=72)


def test_parity_average_pool_anti_aliasing_with_the_imagenet_stem(tmp_path):
    """timm's `resnetaa50`: the 7x7 stem with a 2x2 average pool in place of the max pool."""
    _check_parity(tmp_path, "resnetaa50", timm_kwargs=dict(layers=(1, 1, 1, 1)),
                  our_kwargs=dict(stage_depths=(1, 1, 1, 1)))


def test_parity_with_our_preprocessing(tmp_path):
    """include_preprocessing=True on raw [0, 255] pixels is timm's ImageNet mean/std normalisation."""
    _check_parity(tmp_path, "resnet18", preprocessing=True)


def test_parity_from_pth(tmp_path):
    _check_parity(tmp_path, "resnet18", fmt="pth")


@pytest.mark.slow
@pytest.mark.parametrize("timm_name", SLOW)
def test_parity_full(tmp_path, timm_name):
    _check_parity(tmp_path, timm_name)


def test_memory_efficient_densenet_loads_the_same(tmp_path):
    """Our memory-efficient DenseNet (recomputing wrapper layers) takes the same checkpoint."""
    _check_parity(tmp_path, "densenet121", timm_kwargs=dict(block_config=(2, 2, 2, 2)),
                  our_kwargs=dict(block_depths=(2, 2, 2, 2), memory_efficient=True))


# The mapping and its errors, without torch.


def _ours(name="resnet18", **kwargs):
    return keras_resnets.create_model(name, input_shape=(32, 32, 3), classes=10, **kwargs)


def _state_for(model):
    """A state dict with the timm names and PyTorch layouts of `model`'s own (random) weights."""
    state = {}
    for _, name, variable, key in checkpoint_keys(model)[1]:
        value = np.asarray(variable.numpy())
        if name == "kernel":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        state[key] = value
    return state


def test_round_trip_without_torch():
    """A state dict in timm's names and layouts loads back onto a fresh model to the same weights."""
    source = _ours()
    state = _state_for(source)
    state["bn1.num_batches_tracked"] = np.array(3)
    target = load_state_dict(_ours(), state)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_safetensors_without_torch(tmp_path):
    """A .safetensors file is read with the safetensors package alone."""
    import safetensors.numpy as safetensors_numpy
    source = _ours()
    path = str(tmp_path / "model.safetensors")
    safetensors_numpy.save_file({k: np.ascontiguousarray(v) for k, v in _state_for(source).items()}, path)
    target = load_state_dict(_ours(), path)
    np.testing.assert_array_equal(source.get_layer("conv1_conv").kernel.numpy(),
                                  target.get_layer("conv1_conv").kernel.numpy())


def test_weights_argument_takes_a_torch_checkpoint(tmp_path):
    """`weights="<file>.safetensors"` (or .pth / .pt) maps the checkpoint onto the model being built; without the
    top, the checkpoint's classifier is left out; a checkpoint of another architecture is a ValueError naming the
    file and what is left over."""
    import safetensors.numpy as safetensors_numpy

    source = _ours()
    path = tmp_path / "resnet18.safetensors"
    safetensors_numpy.save_file({k: np.ascontiguousarray(v) for k, v in _state_for(source).items()}, str(path))
    built = keras_resnets.ResNet18(weights=path, input_shape=(32, 32, 3), classes=10)
    for a, b in zip(source.weights, built.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    headless = keras_resnets.ResNet18(weights=str(path), input_shape=(32, 32, 3), include_top=False)
    np.testing.assert_array_equal(headless.get_layer("conv1_conv").kernel.numpy(),
                                  source.get_layer("conv1_conv").kernel.numpy())
    with pytest.raises(ValueError, match=r"(?s)Could not load `weights` file '.*resnet18\.safetensors' into "
                                         r"'resnet34'.*no checkpoint tensor.*looked for layer1\.2\.conv1\.weight"):
        keras_resnets.ResNet34(weights=path, input_shape=(32, 32, 3), classes=10)


def _load_error(model, state, **kwargs):
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ConversionError) as info:
        load_state_dict(model, state, **kwargs)
    for a, b in zip(before, model.weights):  # nothing was loaded
        np.testing.assert_array_equal(a, b.numpy())
    return info.value


def test_missing_key_is_named():
    state = _state_for(_ours())
    del state["layer2.0.bn1.running_var"]
    error = _load_error(_ours(), state)
    assert "conv3_block1_1_bn/moving_variance (looked for layer2.0.bn1.running_var)" in str(error)
    assert len(error.missing) == 1 and not error.unexpected and not error.mismatched


def test_extra_key_is_named():
    state = _state_for(_ours())
    state["layer5.0.conv1.weight"] = np.zeros((8, 8, 3, 3), np.float32)
    error = _load_error(_ours(), state)
    assert "checkpoint tensors no model variable takes (1):\n    layer5.0.conv1.weight (8, 8, 3, 3)" in str(error)
    assert not error.missing and not error.mismatched


def test_wrong_shape_is_named():
    state = _state_for(_ours())
    state["conv1.weight"] = np.zeros((64, 3, 3, 3), np.float32)
    error = _load_error(_ours(), state)
    assert "conv1_conv/kernel (7, 7, 3, 64) <- conv1.weight (64, 3, 3, 3)" in str(error)
    assert len(error.mismatched) == 1 and not error.missing and not error.unexpected


def test_each_side_listed_for_another_architecture():
    """A ResNet-18 checkpoint on a ResNet-34: the extra blocks are missing; reported, not half-loaded."""
    error = _load_error(_ours("resnet34"), _state_for(_ours()))
    assert "layer1.2.conv1.weight" in str(error) and len(error.missing) > 0 and not error.unexpected


def test_classifier_left_out():
    """include_classifier=False keeps our head and ignores theirs; a headless model says how to load."""
    state = _state_for(_ours())
    state["fc.weight"] = np.zeros((1000, 512), np.float32)
    state["fc.bias"] = np.zeros((1000,), np.float32)
    error = _load_error(_ours(), state)
    assert "fc.weight (1000, 512)" in str(error)
    headless = _ours(include_top=False)
    assert "include_classifier=False" in str(_load_error(headless, state))
    load_state_dict(headless, state, include_classifier=False)
    model = load_state_dict(_ours(), state, include_classifier=False)
    assert model.get_layer("predictions").kernel.shape == (512, 10)


def test_keras_applications_v1_is_refused():
    """Our `resnet50` is keras.applications' v1 (stride on the 1x1): timm's weights fit its shapes but not
    its computation, so the converter refuses it by name."""
    model = keras_resnets.create_model("resnet50", input_shape=(32, 32, 3), use_bias=False)
    with pytest.raises(ConversionError, match="resnet50_v1_5"):
        load_state_dict(model, {})


def test_family_without_counterpart():
    with pytest.raises(ConversionError, match="no timm / torchvision layout"):
        load_state_dict(keras_resnets.create_model("resnet50_v2", input_shape=(32, 32, 3)), {})


def test_unknown_timm_name():
    with pytest.raises(ValueError, match="resnet50d"):
        create_from_timm("resnet51")


@pytest.mark.parametrize("timm_name", sorted(TIMM_VARIANTS))
def test_every_variant_is_registered(timm_name):
    ours, overrides = TIMM_VARIANTS[timm_name]
    assert ours in keras_resnets.list_models()
    assert set(overrides) <= set(keras_resnets.get_model_config(ours))


def test_layouts():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(8, 2, 3, 3))
    assert conversion.conv_kernel(weight)[1, 2, 0, 5] == weight[5, 0, 1, 2]
    depthwise = rng.normal(size=(6, 1, 3, 3))  # 3 input channels, multiplier 2
    assert conversion.depthwise_kernel(depthwise, 2)[0, 1, 2, 1] == depthwise[5, 0, 0, 1]
    assert conversion.dense_kernel(rng.normal(size=(4, 7))).shape == (7, 4)


def test_old_torchvision_densenet_keys():
    """torchvision's first DenseNet checkpoints name a dense layer's modules "norm.1", "conv.2", ...; they load."""
    import re

    kwargs = dict(block_depths=(1, 1, 1, 1), growth_rate=8, stem_width=16)
    source = _ours("densenet121", **kwargs)
    state = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", key): value
             for key, value in _state_for(source).items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in state
    target = load_state_dict(_ours("densenet121", **kwargs), state)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_read_state_dict_formats(tmp_path):
    """bfloat16 .safetensors come back float32; a .pth training checkpoint is unwrapped ("state_dict", "module.")."""
    import safetensors.torch as safetensors_torch
    import torch
    safetensors_torch.save_file({"w": torch.full((2, 3), 1.5, dtype=torch.bfloat16)}, str(tmp_path / "a.safetensors"))
    state = conversion.read_state_dict(tmp_path / "a.safetensors")
    assert state["w"].dtype == np.float32 and np.all(state["w"] == 1.5)
    torch.save({"state_dict": {"module.conv1.weight": torch.ones(2, 1, dtype=torch.float16)}, "epoch": 3},
               str(tmp_path / "b.pth"))
    state = conversion.read_state_dict(tmp_path / "b.pth")
    assert list(state) == ["conv1.weight"] and state["conv1.weight"].dtype == np.float32
    with pytest.raises(ValueError, match="must end in one of"):
        conversion.read_state_dict(_touch(tmp_path / "c.npz"))


def _touch(path):
    path.write_bytes(b"")
    return path
