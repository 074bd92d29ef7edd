"""Every registered variant is built symbolically (no forward pass) and its parameter counts asserted.

Counts are (total = `count_params()`, with BatchNorm moving statistics; trainable). Trainable counts
come from docs/reference.md (keras.applications, torchvision/timm, the papers) unless marked
"ours" (no external count to check against: the number documents our definition).
"""

import keras
import numpy as np
import pytest

import keras_resnets

EXPECTED = {
    "densenet121": (8062504, 7978856),
    "densenet161": (28900936, 28681000),  # torchvision densenet161
    "densenet169": (14307880, 14149480),
    "densenet201": (20242984, 20013928),
    "densenet264": (33736232, 33337704),  # ours (paper Table 1 layout, k=32)
    "densenet_bc_100_12": (793150, 769162),
    "densenet_bc_190_40": (25881390, 25624430),
    "densenet_bc_250_24": (15582382, 15324406),
    "plain110": (1736058, 1727962),
    "plain20": (271098, 269722),
    "plain32": (466426, 464154),
    "plain44": (661754, 658586),
    "plain56": (857082, 853018),
    "preact_resnet1001": (10476922, 10327706),
    "preact_resnet164": (1727482, 1703258),
    "resnet101": (44707176, 44601832),
    "resnet101_v1_5": (44654504, 44549160),
    "resnet101_v2": (44675560, 44577896),  # total from keras.applications
    "resnet110": (1736058, 1727962),
    "resnet1202": (19510906, 19421274),
    "resnet152": (60419944, 60268520),
    "resnet152_v1_5": (60344232, 60192808),
    "resnet152_v2": (60380648, 60236904),  # total from keras.applications
    "resnet18": (11699112, 11689512),
    "resnet20": (271098, 269722),
    "resnet200": (64849832, 64673832),  # timm resnet200: 64.67M
    "resnet32": (466426, 464154),
    "resnet34": (21814696, 21797672),
    "resnet44": (661754, 658586),
    "resnet50": (25636712, 25583592),
    "resnet50_v1_5": (25610152, 25557032),
    "resnet50_v2": (25613800, 25568360),
    "resnet50d": (25629512, 25576264),  # timm resnet50d: 25.58M
    "resnet56": (857082, 853018),
    "resnext101_32x4d": (44315560, 44177704),
    "resnext101_32x8d": (88994216, 88791336),
    "resnext101_64x4d": (83658152, 83455272),  # torchvision
    "resnext29_16x64d": (68255690, 68155210),
    "resnext29_8x64d": (34484170, 34426698),
    "resnext50_32x4d": (25097128, 25028904),
    # Channel attention: trainable and BN statistics equal timm's seresnet50 / seresnext50_32x4d /
    # seresnext101_32x4d / ecaresnet50d (docs/reference.md).
    "ecaresnet50d": (25629598, 25576350),
    "seresnet50": (28141144, 28088024),
    "seresnext101_32x4d": (49093272, 48955416),
    "seresnext50_32x4d": (27628120, 27559896),
    # Anti-aliasing, GroupNorm and ResNet-RS: trainable and BN statistics equal timm 1.0.31's resnetaa50d /
    # resnetblur50 / resnet50_gn / resnetrs50-420 (docs/reference.md; GroupNorm keeps no statistics).
    "resnet50_gn": (25557032, 25557032),
    "resnetaa50d": (25629512, 25576264),
    "resnetblur50": (25610152, 25557032),
    "resnetrs101": (63724296, 63618696),
    "resnetrs152": (86773256, 86621576),
    "resnetrs200": (93386248, 93209992),
    "resnetrs270": (130104520, 129861448),
    "resnetrs350": (164268360, 163956168),
    "resnetrs420": (192262216, 191891656),
    "resnetrs50": (35745288, 35691912),
    # Wide ResNets: trainable and BN statistics both equal torchvision's wide_resnet50_2 / 101_2 and the
    # WRN-d-k of xternalz/WideResNet-pytorch (the paper's 36.5M for WRN-28-10), counted with torch 2.13.
    "wide_resnet101_2": (127024552, 126886696),
    "wide_resnet50_2": (68951464, 68883240),
    "wrn16_2": (693498, 691674),
    "wrn16_4": (2752506, 2748890),
    "wrn16_8": (10968570, 10961370),
    "wrn22_8": (17168890, 17158106),
    "wrn28_10": (36497146, 36479194),
    "wrn28_2": (1471226, 1467610),
    "wrn40_2": (2248954, 2243546),
    "wrn40_4": (8959994, 8949210),
}

# CIFAR-100 heads (REFERENCE.md).
EXPECTED_CIFAR100 = {
    "preact_resnet164": 1_726_388,
    "preact_resnet1001": 10_350_836,
    "densenet_bc_100_12": 800_032,
    "densenet_bc_250_24": 15_480_556,
    "densenet_bc_190_40": 25_821_620,
    "resnext29_8x64d": 34_518_948,
    "resnext29_16x64d": 68_247_460,
    "wrn16_4": 2_772_020,  # xternalz/WideResNet-pytorch, num_classes=100
    "wrn28_10": 36_536_884,
}


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _build_symbolic(name, **kwargs):
    # Counts need shapes only: StatelessScope defers allocating the variables (several times faster).
    with keras.StatelessScope(initialize_variables=False):
        return keras_resnets.create_model(name, **kwargs)


# Residual Attention counts (and depths) are asserted in test_attention.py.
NAMES = [n for n in keras_resnets.list_models() if keras_resnets.get_model_spec(n).family != "attention"]


def test_every_registered_model_has_an_expected_count():
    assert sorted(EXPECTED) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts(name):
    try:
        model = _build_symbolic(name)
        total, trainable = EXPECTED[name]
        assert (model.count_params(), _trainable(model)) == (total, trainable)
        assert model.name == name
        config = keras_resnets.get_model_config(name)
        assert model.input_shape == (None, config["default_size"], config["default_size"], 3)
        assert model.output_shape == (None, config["classes"])
    finally:
        keras.utils.clear_session()


@pytest.mark.parametrize("name", sorted(EXPECTED_CIFAR100))
def test_cifar100_parameter_counts(name):
    try:
        assert _trainable(_build_symbolic(name, classes=100)) == EXPECTED_CIFAR100[name]
    finally:
        keras.utils.clear_session()
