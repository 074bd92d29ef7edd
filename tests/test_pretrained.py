"""Pretrained timm weights through `weights=`: hub ids, the tag table, data_config, new heads and other channels.

No test touches the network. A hub id resolves from a Hugging Face cache folder the test writes (the layout
huggingface_hub reads with `local_files_only`), holding a `.safetensors` file saved from a timm model with a
seeded random initialisation (tests/test_conversion.py's helpers); without it, the clear offline error.
"""

import shutil
import time

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import pretrained
from keras_resnets.conversion import TIMM_VARIANTS, adapt_input_conv, create_from_timm, load_state_dict
from tests.test_conversion import _images, _import_timm, _randomized_timm, _save

ATOL = 1e-4
SMALL = dict(layers=(1, 1, 1, 1))  # a one-block-per-stage timm ResNet: the mapping is the same, the test fast


def _timm_file(tmp_path, timm_name, **timm_kwargs):
    """A timm model (seeded, random BatchNorm statistics, 1000 classes) and the `.safetensors` file of its state."""
    timm = _import_timm()
    model = _randomized_timm(timm, timm_name, _images(), **timm_kwargs)
    folder = tmp_path / timm_name
    folder.mkdir(exist_ok=True)
    return model, _save(model, folder, "safetensors")


def _hub_cache(monkeypatch, home, repo_id, path):
    """Puts `path` in a Hugging Face cache under `home` as `repo_id`'s model.safetensors; offline from now on."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = home / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, repo / "snapshots" / commit / pretrained.HUB_FILE)
    _offline(monkeypatch, home)
    return repo / "snapshots" / commit / pretrained.HUB_FILE


def _offline(monkeypatch, home):
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _loaded_weights(model, skip=()):
    """{variable path: value} of `model`, without the layers named in `skip`."""
    return {w.path: w.numpy() for layer in model.layers if layer.name not in skip for w in layer.weights}


def _timm_features(model, x):
    """timm's pooled features (NHWC images in)."""
    import torch

    with torch.no_grad():
        nchw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        return model.forward_head(model.forward_features(nchw), pre_logits=True).numpy()


def _timm_in_chans(timm, reference, in_chans):
    """timm's own transfer: the same architecture for `in_chans` channels, loaded with timm's adapt_input_conv."""
    import torch
    from timm.models._manipulate import adapt_input_conv as timm_adapt

    state = {k: v.clone() for k, v in reference.state_dict().items()}
    state["conv1.weight"] = timm_adapt(in_chans, state["conv1.weight"])
    model = timm.create_model("resnet18", pretrained=False, in_chans=in_chans)
    model.load_state_dict(state)
    return model.eval()


# The first convolution on other channel counts.


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 7])
def test_adapt_input_conv_is_timms_rule(channels):
    """Our NumPy `adapt_input_conv` gives timm's `adapt_input_conv`, exactly, for every channel count."""
    import torch

    _import_timm()
    from timm.models._manipulate import adapt_input_conv as timm_adapt

    weight = np.random.default_rng(channels).normal(size=(8, 3, 7, 7)).astype(np.float32)
    expected = timm_adapt(channels, torch.from_numpy(weight.copy())).numpy()
    np.testing.assert_allclose(adapt_input_conv(weight, channels), expected, rtol=0, atol=1e-6)
    assert adapt_input_conv(weight, channels).shape == (8, channels, 7, 7)


def test_adapt_input_conv_rejects_bad_input():
    weight = np.zeros((8, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="in_channels.*Received: in_channels=0"):
        adapt_input_conv(weight, 0)
    with pytest.raises(ValueError, match=r"RGB convolution kernel.*Received: weight.shape=\(8, 4, 3, 3\)"):
        adapt_input_conv(np.zeros((8, 4, 3, 3)), 1)


@pytest.mark.parametrize("channels", [1, 4])
def test_other_channel_counts_adapt_the_stem(tmp_path, channels):
    """`input_shape=(h, w, 1)` or 4 channels: the stem is a manual load's RGB kernel adapted by hand (summed; or
    repeated and scaled by 3/4), every other weight is the manual load's, and the features are those of timm's
    own `in_chans` model loaded through timm's `adapt_input_conv`."""
    timm = _import_timm()
    reference, path = _timm_file(tmp_path, "resnet18")
    model = keras_resnets.ResNet18(weights=path, include_top=False, pooling="avg", input_shape=(64, 64, channels))
    manual = load_state_dict(create_from_timm("resnet18", input_shape=(64, 64, 3)), path)  # a 3-channel load

    rgb = manual.get_layer("conv1_conv").kernel.numpy()  # (7, 7, 3, 64)
    by_hand = rgb.sum(axis=2, keepdims=True) if channels == 1 else np.concatenate([rgb, rgb[:, :, :1]], 2) * 0.75
    np.testing.assert_allclose(model.get_layer("conv1_conv").kernel.numpy(), by_hand, rtol=0, atol=1e-6)
    expected = _loaded_weights(manual, skip=("conv1_conv", "predictions"))
    got = _loaded_weights(model, skip=("conv1_conv",))
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)

    x = _images()[..., :1].repeat(channels, axis=-1)
    want = _timm_features(_timm_in_chans(timm, reference, channels), x)
    np.testing.assert_allclose(_numpy(model(x, training=False)), want, rtol=0, atol=ATOL)


# A new head.


def test_other_classes_get_a_fresh_head(tmp_path):
    """`ResNet50V1_5(weights=<timm file>, classes=37)`: every weight but the classifier is the checkpoint's, the
    classifier is a fresh 37-class one; with 1000 classes the checkpoint's classifier loads too."""
    _, path = _timm_file(tmp_path, "resnet50", **SMALL)
    kwargs = dict(stage_depths=(1, 1, 1, 1), input_shape=(64, 64, 3))
    manual = load_state_dict(keras_resnets.ResNet50V1_5(classes=1000, **kwargs), path)

    model = keras_resnets.ResNet50V1_5(weights=path, classes=37, **kwargs)
    expected = _loaded_weights(manual, skip=("predictions",))
    got = _loaded_weights(model, skip=("predictions",))
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    head = model.get_layer("predictions")
    assert head.kernel.shape == (2048, 37) and np.all(head.bias.numpy() == 0)  # freshly initialised

    same = keras_resnets.ResNet50V1_5(weights=path, classes=1000, **kwargs)
    np.testing.assert_array_equal(same.get_layer("predictions").kernel.numpy(),
                                  manual.get_layer("predictions").kernel.numpy())


def test_features_only_from_a_torch_checkpoint(tmp_path):
    """`features_only=True` with a timm file: the last stage is timm's `forward_features`."""
    reference, path = _timm_file(tmp_path, "resnet18")
    model = keras_resnets.ResNet18(weights=path, features_only=True, input_shape=(64, 64, 3))
    import torch

    x = _images()
    with torch.no_grad():
        want = reference.forward_features(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    got = _numpy(model(x, training=False)["stage4"])
    np.testing.assert_allclose(got, want.transpose(0, 2, 3, 1), rtol=0, atol=ATOL)


# Hub ids.


def test_done_criterion_resnet18_from_a_local_copy(tmp_path, monkeypatch):
    """The issue's criterion: `ResNet18(weights="timm/resnet18.a1_in1k", classes=5, input_shape=(96, 96, 1))`
    builds offline from a local copy in the Hugging Face cache (a grey stem, a fresh 5-class head, the rest the
    file's), and fails clearly, within seconds, without one."""
    reference, path = _timm_file(tmp_path, "resnet18")
    home = tmp_path / "hf_home"
    _offline(monkeypatch, home)
    start = time.monotonic()
    with pytest.raises(ValueError) as err:
        keras_resnets.ResNet18(weights="timm/resnet18.a1_in1k", classes=5, input_shape=(96, 96, 1))
    assert time.monotonic() - start < 10
    message = str(err.value)
    for part in ("'model.safetensors'", "'timm/resnet18.a1_in1k'", "HF_HUB_OFFLINE",
                 "https://huggingface.co/timm/resnet18.a1_in1k/resolve/main/model.safetensors",
                 str(home / "hub"), "pass its path as `weights=`"):
        assert part in message, part

    _hub_cache(monkeypatch, home, "timm/resnet18.a1_in1k", path)
    model = keras_resnets.ResNet18(weights="timm/resnet18.a1_in1k", classes=5, input_shape=(96, 96, 1))
    assert model.output_shape == (None, 5) and model.input_shape == (None, 96, 96, 1)
    manual = load_state_dict(create_from_timm("resnet18", input_shape=(96, 96, 3)), path)
    np.testing.assert_allclose(model.get_layer("conv1_conv").kernel.numpy(),
                               manual.get_layer("conv1_conv").kernel.numpy().sum(axis=2, keepdims=True), atol=1e-6)
    np.testing.assert_array_equal(model.get_layer("conv5_block2_2_bn").moving_variance.numpy(),
                                  manual.get_layer("conv5_block2_2_bn").moving_variance.numpy())
    assert model.pretrained_tag == "resnet18.a1_in1k"
    assert keras_resnets.data_config(model)["input_size"] == (96, 96, 1)
    # The same file under every spelling of the id, and as a tag of the table alone.
    for weights in ("hf://timm/resnet18.a1_in1k", "resnet18.a1_in1k"):
        again = keras_resnets.ResNet18(weights=weights, include_top=False, input_shape=(64, 64, 3))
        np.testing.assert_array_equal(again.get_layer("conv1_conv").kernel.numpy(),
                                      manual.get_layer("conv1_conv").kernel.numpy())


def test_unreachable_hub_fails_within_seconds(tmp_path, monkeypatch):
    """Not offline by setting, but nothing answers at the endpoint: a clear error in seconds, not
    huggingface_hub's retries with back-off."""
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens there
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):  # a proxy would be probed instead
        monkeypatch.delenv(proxy, raising=False)
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"cannot be reached.*http://127\.0\.0\.1:9/timm/resnet18\.a1_in1k/resolve"):
        keras_resnets.ResNet18(weights="timm/resnet18.a1_in1k")
    assert time.monotonic() - start < 10


def _layer_count():
    return len(keras.src.backend.common.global_state.get_global_attribute("name_uids", {}) or {})


@pytest.mark.parametrize("factory, weights, match", [
    (keras_resnets.ResNet50, "timm/resnet50.a1_in1k",
     r"keras.applications' ResNet v1 .*ResNet50V1_5\(weights='timm/resnet50\.a1_in1k'\)"),
    (keras_resnets.ResNet34, "timm/resnet18.a1_in1k", r"our 'resnet18', not 'resnet34'"),
    (keras_resnets.ResNet18, "hf://timm/resnet50d.a1_in1k", r"our 'resnet50d', not 'resnet18'"),
    (keras_resnets.ResNet18, "timm/resnetv2_50x1_bit.goog_in21k", r"'resnetv2_50x1_bit' has no counterpart"),
])
def test_a_tag_for_another_architecture_is_refused_before_anything(tmp_path, monkeypatch, factory, weights, match):
    """Checked by the tag's architecture before any download and before any layer is made."""
    _offline(monkeypatch, tmp_path)
    before = _layer_count()
    with pytest.raises(ValueError, match=match) as err:
        factory(weights=weights)
    assert "Received: weights=" in str(err.value) and "Could not get" not in str(err.value)
    assert _layer_count() == before


def test_an_architecture_that_needs_config_fields_says_which(tmp_path, monkeypatch):
    """timm's resnet18d is our resnet18 with the deep stem and average-pool shortcuts: without them the error
    says so; with them it loads."""
    _, path = _timm_file(tmp_path, "resnet18d")
    _hub_cache(monkeypatch, tmp_path / "hf_home", "timm/resnet18d.ra2_in1k", path)
    with pytest.raises(ValueError, match=r"(?s)nothing was loaded.*our 'resnet18' with stem='deep', "
                                         r"shortcut='avgpool'"):
        keras_resnets.ResNet18(weights="timm/resnet18d.ra2_in1k", input_shape=(64, 64, 3))
    model = keras_resnets.create_model("resnet18", stem="deep", shortcut="avgpool", input_shape=(64, 64, 3),
                                       weights="timm/resnet18d.ra2_in1k")
    assert model.output_shape == (None, 1000)


def test_size_and_sha256_are_checked_where_known(tmp_path, monkeypatch):
    import dataclasses
    import hashlib

    _, path = _timm_file(tmp_path, "resnet18")
    cached = _hub_cache(monkeypatch, tmp_path / "hf_home", "timm/resnet18.a1_in1k", path)
    row = pretrained.PRETRAINED["resnet18.a1_in1k"]
    digest = hashlib.sha256(cached.read_bytes()).hexdigest()
    size = cached.stat().st_size
    for bad, match in ((dict(size=size + 1), f"has {size} bytes"), (dict(sha256="0" * 64), f"has sha256 {digest}")):
        monkeypatch.setitem(pretrained.PRETRAINED, row.tag, dataclasses.replace(row, **bad))
        with pytest.raises(ValueError, match=match):
            keras_resnets.ResNet18(weights="timm/resnet18.a1_in1k", input_shape=(64, 64, 3))
        assert cached.exists()  # never deleted: the message says to
    monkeypatch.setitem(pretrained.PRETRAINED, row.tag, dataclasses.replace(row, size=size, sha256=digest))
    keras_resnets.ResNet18(weights="timm/resnet18.a1_in1k", input_shape=(64, 64, 3))


def test_preprocessing_follows_the_tag(tmp_path, monkeypatch):
    """include_preprocessing=True puts in the tag's own normalisation: ImageNet mean/std ("torch") for a1_in1k,
    0.5 / 0.5 ("tf") for the ra4 recipe."""
    _, path = _timm_file(tmp_path, "resnet18d")
    for tag, mode in (("resnet18d.ra2_in1k", "torch"), ("resnet18d.ra4_e3600_r224_in1k", "tf")):
        _hub_cache(monkeypatch, tmp_path / "hf_home", f"timm/{tag}", path)
        model = keras_resnets.create_model("resnet18", stem="deep", shortcut="avgpool", input_shape=(64, 64, 3),
                                           weights=tag, include_preprocessing=True)
        assert model.get_layer("preprocessing").mode == mode == keras_resnets.data_config(tag)["preprocessing"]


@pytest.mark.parametrize("weights", ["hf://", "hf://timm", "hf://a b/c", "timm/resnet18.a1_in1k/extra"])
def test_malformed_ids_are_value_errors(weights):
    with pytest.raises(ValueError, match="Received: weights="):
        keras_resnets.ResNet18(weights=weights)


# The table, list_pretrained and data_config.


def test_table_matches_timms_pretrained_cfg():
    """Every row's hub repository, input size, crop_pct, interpolation, mean/std and licence are what the
    installed timm says; every architecture of ours that timm has ImageNet-1k weights for has a row."""
    timm = _import_timm()
    for tag, row in pretrained.PRETRAINED.items():
        cfg = timm.models.get_pretrained_cfg(tag).to_dict()
        assert cfg["hf_hub_id"] == row.hub_id and cfg["license"] == row.license, tag
        assert tuple(cfg["input_size"]) == (3, row.input_size, row.input_size), tag
        assert (cfg["crop_pct"], cfg["interpolation"]) == (row.crop_pct, row.interpolation), tag
        assert (tuple(cfg["mean"]), tuple(cfg["std"])) == (row.mean, row.std), tag
        assert cfg["num_classes"] == row.num_classes and row.architecture in TIMM_VARIANTS, tag
        assert 60 < row.top1 < 90, tag
    covered = {row.architecture for row in pretrained.PRETRAINED.values()}
    with_weights = {arch for arch in TIMM_VARIANTS if any(
        timm.models.get_pretrained_cfg(t).num_classes == 1000 for t in timm.list_pretrained(f"{arch}.*"))}
    assert covered == with_weights and len(pretrained.PRETRAINED) >= len(with_weights)
    assert pretrained.PRETRAINED["resnet50.a1_in1k"].top1 == 80.382  # results-imagenet.csv, 224 px, crop 0.95


def test_list_pretrained():
    """The default is unchanged (keras.applications' nine); `source="timm"` lists the hub ids `weights=` takes."""
    keras_names = keras_resnets.list_pretrained()
    assert keras_names == keras_resnets._registry.list_pretrained() and len(keras_names) == 9
    timm_ids = keras_resnets.list_pretrained(source="timm")
    assert len(timm_ids) == len(pretrained.PRETRAINED) and timm_ids == sorted(timm_ids)
    assert "timm/resnet18.a1_in1k" in timm_ids and "timm/densenet121.tv_in1k" in timm_ids
    assert keras_resnets.list_pretrained("resnet18.*", source="timm") == [
        "timm/resnet18.a1_in1k", "timm/resnet18.a2_in1k", "timm/resnet18.a3_in1k",
        "timm/resnet18.fb_ssl_yfcc100m_ft_in1k", "timm/resnet18.fb_swsl_ig1b_ft_in1k", "timm/resnet18.gluon_in1k",
        "timm/resnet18.tv_in1k"]
    assert keras_resnets.list_pretrained("densenet121*", source="all") == [
        "densenet121", "timm/densenet121.ra_in1k", "timm/densenet121.tv_in1k"]
    with pytest.raises(ValueError, match="`source` must be one of.*Received: source='hub'"):
        keras_resnets.list_pretrained(source="hub")


def test_data_config():
    cfg = keras_resnets.data_config("timm/resnet50.a1_in1k")
    assert cfg == keras_resnets.data_config("hf://timm/resnet50.a1_in1k") == keras_resnets.data_config(
        "resnet50.a1_in1k")
    assert (cfg["input_size"], cfg["crop_pct"], cfg["interpolation"]) == ((224, 224, 3), 0.95, "bicubic")
    assert (cfg["mean"], cfg["std"], cfg["preprocessing"]) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "torch")
    assert (cfg["license"], cfg["top1"]) == ("apache-2.0", 80.382)
    assert keras_resnets.data_config("resnet50.tv2_in1k")["input_size"] == (176, 176, 3)
    assert keras_resnets.data_config("resnet50")["preprocessing"] == "caffe"  # keras.applications' v1
    assert keras_resnets.data_config("resnet50")["mean"] is None
    assert keras_resnets.data_config("resnet20")["input_size"] == (32, 32, 3)
    model = keras_resnets.ResNet20(input_shape=(40, 40, 3), include_preprocessing="torch")
    assert keras_resnets.data_config(model)["preprocessing"] == "torch"  # its layer, not the variant's "tf"
    assert keras_resnets.data_config(keras_resnets.ResNet20())["preprocessing"] == "tf"
    for bad in ("resnet51", 3):
        with pytest.raises(ValueError, match="model_or_tag"):
            keras_resnets.data_config(bad)


def test_unknown_tag():
    with pytest.raises(ValueError, match=r"Unknown pretrained tag 'resnet18\.x'"):
        pretrained.get_pretrained("resnet18.x")


def test_the_documented_table_is_the_package_table():
    """docs/pretrained.md lists every tag of the table with its top-1, size, crop_pct and interpolation."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "pretrained.md").read_text()
    rows = re.findall(r"^\| `timm/([^`]+)` \| [^|]+ \| ([\d.]+) \| (\d+) \| ([\d.]+) \| (\w+) \|", text, re.M)
    documented = {tag: (float(top1), int(size), float(crop), interpolation) for tag, top1, size, crop, interpolation
                  in rows}
    assert documented == {tag: (row.top1, row.input_size, row.crop_pct, row.interpolation)
                          for tag, row in pretrained.PRETRAINED.items()}
