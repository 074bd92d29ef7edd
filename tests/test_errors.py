"""Bad arguments raise ValueError naming the argument and what was received."""

import keras
import pytest

import keras_resnets

CASES = [
    ("resnet50", dict(input_shape=(16, 16, 3)), "at least 32x32"),
    ("resnet20", dict(input_shape=(4, 4, 3)), "at least 8x8"),
    ("resnet50", dict(weights="imagenet", input_shape=(224, 224, 1)), "3-channel"),
    ("resnet50", dict(weights="imagenet", classes=10), "classes"),
    ("resnet50", dict(weights="imagenet", input_shape=(128, 128, 3)), "224x224"),
    ("resnet50", dict(weights="imagenet", classifier_activation="sigmoid"), "classifier_activation"),
    ("resnet50", dict(include_top=False, pooling="mean"), "pooling"),
    ("resnet50", dict(classes=0), "classes"),
    ("resnet50", dict(include_top="yes"), "include_top"),
    ("resnet50", dict(input_shape=(224, 224)), "input_shape"),
    ("resnet50", dict(input_shape=(224, 224, 0)), "input_shape"),
    ("resnet50", dict(weights="missing.weights.h5"), "does not exist"),
    ("resnet50", dict(weights="weights.bin"), "must end in"),
    ("resnet50", dict(weights=3), "weights"),
    ("resnet50", dict(classifier_activation="no_such_activation"), "classifier_activation"),
    ("resnet50", dict(include_preprocessing="imagenet"), "include_preprocessing"),
    ("resnet50", dict(features_only="yes"), "features_only"),
    ("resnet50", dict(drop_path_rate=-0.1), "drop_path_rate"),
    ("resnet50", dict(drop_path_rate=1.0), "drop_path_rate"),
    ("resnet50", dict(shortcut="identity"), "shortcut"),
    ("resnet50", dict(block_type="wide"), "block_type"),
    ("resnet50", dict(stride_on="7x7"), "stride_on"),
    ("resnet50", dict(stem="huge"), "stem"),
    ("resnet50", dict(stage_depths=(3, 0, 6, 3)), "stage_depths"),
    ("resnet50", dict(stage_widths=(64, 128)), "stage_widths"),
    ("resnet50", dict(groups=0), "groups"),
    ("resnet18", dict(groups=4), "groups"),
    ("plain20", dict(drop_path_rate=0.1), "drop_path_rate"),
    ("wrn16_4", dict(dropout_rate=1.0), "dropout_rate"),
    ("resnet20", dict(dropout_rate=-0.1), "dropout_rate"),
    ("resnet50", dict(dropout_rate="0.3"), "dropout_rate"),
    ("resnet50", dict(bn_momentum=1.5), "bn_momentum"),
    ("resnet50_v2", dict(drop_path_rate=2.0), "drop_path_rate"),
    ("resnet50_v2", dict(stage_depths=(1, 2, 2, 2)), "stage_depths"),
    ("densenet121", dict(growth_rate=0), "growth_rate"),
    ("densenet121", dict(compression=0.0), "compression"),
    ("densenet121", dict(memory_efficient="yes"), "memory_efficient"),
    ("densenet121", dict(block_depths=()), "block_depths"),
]


@pytest.mark.parametrize("name,kwargs,match", CASES, ids=[f"{c[0]}-{sorted(c[1])[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_arguments_raise_value_error(name, kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        keras_resnets.create_model(name, **kwargs)
    assert "Received" in str(err.value) or "received" in str(err.value)


def test_cifar_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match=r"6n\+2.*Received: depth=21"):
        keras_resnets.CIFARResNet(21)
    with pytest.raises(ValueError, match=r"9n\+2.*Received: depth=57"):
        keras_resnets.CIFARResNet(57, block_type="preact_bottleneck")
    model = keras_resnets.CIFARResNet(38, shortcut="projection", classes=100)
    assert model.name == "resnet38" and model.output_shape == (None, 100)
    assert keras_resnets.CIFARResNet(20).count_params() == keras_resnets.ResNet20().count_params()
    assert keras_resnets.CIFARResNet(20, shortcut="none").name == "plain20"


def test_wide_resnet_depth_and_width():
    with pytest.raises(ValueError, match=r"6n\+4.*Received: depth=20"):
        keras_resnets.WideResNet(20, 2)
    with pytest.raises(ValueError, match=r"width_factor.*Received: width_factor=0"):
        keras_resnets.WideResNet(16, 0)
    with pytest.raises(ValueError, match=r"width_factor.*Received: width_factor=2.0"):
        keras_resnets.WideResNet(16, 2.0)
    with keras.StatelessScope(initialize_variables=False):
        model = keras_resnets.WideResNet(10, 3, classes=100)
        same = keras_resnets.WideResNet(16, 4)
        registered = keras_resnets.WRN16_4()
    assert model.name == "wrn10_3" and model.output_shape == (None, 100)
    assert model.get_layer("conv4_block1_2_conv").filters == 192  # 64k
    assert same.count_params() == registered.count_params() and same.name == registered.name == "wrn16_4"


def test_validation_happens_before_building():
    before = len(keras.src.backend.common.global_state.get_global_attribute("name_uids", {}) or {})
    with pytest.raises(ValueError, match=r"`shortcut` must be one of .*Received: shortcut='identity'"):
        keras_resnets.create_model("resnet50", shortcut="identity")
    after = len(keras.src.backend.common.global_state.get_global_attribute("name_uids", {}) or {})
    assert before == after  # no layer (not even the Input) was created


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match=r"Did you mean.*'resnet50'"):
        keras_resnets.create_model("resnet05")
    with pytest.raises(ValueError, match="Unknown model"):
        keras_resnets.get_model_config("vgg16")


def test_unknown_keyword_lists_allowed_ones():
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['depth'\].*Allowed"):
        keras_resnets.create_model("resnet50", depth=50)


def test_preprocessing_needs_three_channels():
    with pytest.raises(ValueError, match="3-channel RGB"):
        keras_resnets.ResNet50(weights=None, input_shape=(64, 64, 1), include_preprocessing=True)
