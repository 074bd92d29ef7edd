"""Which of our variants each timm / torchvision model is, and where each of our layers' tensors sit in its
state dict.

timm's and torchvision's ResNets are "v1.5": the stride sits on a bottleneck's 3x3 convolution and no
convolution has a bias. Our `resnet50` / `resnet101` / `resnet152` are keras.applications' v1 drop-ins
(stride on the first 1x1, conv biases), so timm's `resnet50` is our `resnet50_v1_5`. timm's ResNet-D
(`resnet50d`, ...) is our `resnet50d` family: a three-conv stem 32-32-64 wide and 2x2 average-pool shortcuts.
timm's depths that we do not register (`resnet26`, `resnet18d`, `resnet101d`, ...) are a registered variant
with its `stage_depths` / `stem` / `shortcut` overridden, as `create_model` allows.

Layer names, ours -> timm / torchvision ResNet:
- `conv1_conv`, `conv1_bn` -> `conv1`, `bn1`; the deep stem's `conv1_{1,2,3}_conv` -> `conv1.{0,3,6}`,
  `conv1_{1,2}_bn` -> `conv1.{1,4}`, `conv1_3_bn` -> `bn1`.
- `conv{s}_block{b}_{i}_conv` / `_bn` -> `layer{s-1}.{b-1}.conv{i}` / `bn{i}`.
- the shortcut's `conv{s}_block{b}_0_conv` / `_0_bn` -> `downsample.0` / `.1`; ResNet-D's -> `downsample.1` / `.2`
  (timm keeps the average pool, an `Identity` where the stride is 1, at `downsample.0`).
- `predictions` -> `fc`.
- channel attention `conv{s}_block{b}_se_reduce` / `_se_expand` / `_eca_conv` -> `layer{s-1}.{b-1}.se.fc1` /
  `.fc2` / `.conv`.
- ResNet-RS's stem convolution in place of the max pool, `pool1_conv` / `pool1_bn` -> `maxpool.0` / `.1`
  (`.2` when an anti-aliasing layer sits at `maxpool.1`). GroupNorm layers keep the `_bn` names, as timm `bn1`.
- anti-aliasing layers, DropBlock and dilation hold no tensors.

Ours -> timm / torchvision DenseNet:
- `conv1_conv`, `conv1_bn` -> `features.conv0`, `features.norm0`; `bn` -> `features.norm5`.
- `conv{s}_block{b}_0_bn`, `_1_conv`, `_1_bn`, `_2_conv` -> `features.denseblock{s-1}.denselayer{b}.norm1`,
  `conv1`, `norm2`, `conv2`.
- `pool{s}_bn`, `pool{s}_conv` -> `features.transition{s-1}.norm`, `.conv`.
- `predictions` -> `classifier`.
"""

import re

# timm (and torchvision) name -> (our registered name, the config fields that differ from it).
_D = dict(stem="deep", shortcut="avgpool")
TIMM_VARIANTS = {
    "resnet18": ("resnet18", {}),
    "resnet18d": ("resnet18", _D),
    "resnet26": ("resnet50_v1_5", dict(stage_depths=(2, 2, 2, 2))),
    "resnet26d": ("resnet50d", dict(stage_depths=(2, 2, 2, 2))),
    "resnet34": ("resnet34", {}),
    "resnet34d": ("resnet34", _D),
    "resnet50": ("resnet50_v1_5", {}),
    "resnet50d": ("resnet50d", {}),
    "resnet101": ("resnet101_v1_5", {}),
    "resnet101d": ("resnet50d", dict(stage_depths=(3, 4, 23, 3))),
    "resnet152": ("resnet152_v1_5", {}),
    "resnet152d": ("resnet50d", dict(stage_depths=(3, 8, 36, 3))),
    "resnet200": ("resnet200", {}),
    "resnet200d": ("resnet50d", dict(stage_depths=(3, 24, 36, 3))),
    "resnext50_32x4d": ("resnext50_32x4d", {}),
    "resnext50d_32x4d": ("resnext50_32x4d", _D),
    "resnext101_32x4d": ("resnext101_32x4d", {}),
    "resnext101_32x8d": ("resnext101_32x8d", {}),
    "resnext101_64x4d": ("resnext101_64x4d", {}),
    "wide_resnet50_2": ("wide_resnet50_2", {}),
    "wide_resnet101_2": ("wide_resnet101_2", {}),
    "seresnet50": ("seresnet50", {}),
    "seresnext50_32x4d": ("seresnext50_32x4d", {}),
    "seresnext101_32x4d": ("seresnext101_32x4d", {}),
    "ecaresnet50d": ("ecaresnet50d", {}),
    "resnetaa50": ("resnetaa50d", dict(stem="imagenet", shortcut="projection")),
    "resnetaa50d": ("resnetaa50d", {}),
    "resnetaa101d": ("resnetaa50d", dict(stage_depths=(3, 4, 23, 3))),
    "resnetblur50": ("resnetblur50", {}),
    "resnet50_gn": ("resnet50_gn", {}),
    "resnetrs50": ("resnetrs50", {}),
    "resnetrs101": ("resnetrs101", {}),
    "resnetrs152": ("resnetrs152", {}),
    "resnetrs200": ("resnetrs200", {}),
    "resnetrs270": ("resnetrs270", {}),
    "resnetrs350": ("resnetrs350", {}),
    "resnetrs420": ("resnetrs420", {}),
    "densenet121": ("densenet121", {}),
    "densenet161": ("densenet161", {}),
    "densenet169": ("densenet169", {}),
    "densenet201": ("densenet201", {}),
}

CLASSIFIER_LAYER = "predictions"
CLASSIFIER_PREFIXES = {"resnet": "fc", "densenet": "classifier"}

BLOCK = re.compile(r"conv(\d+)_block(\d+)_(\d)_(conv|bn)")
# Channel attention: timm keeps it at `layer{s-1}.{b-1}.se` (`fc1` / `fc2` for SE, `conv` for ECA).
ATTENTION = re.compile(r"conv(\d+)_block(\d+)_(se_reduce|se_expand|eca_conv)")
_ATTENTION_MODULES = {"se_reduce": "fc1", "se_expand": "fc2", "eca_conv": "conv"}
_DEEP_STEM = {"conv1_1_conv": "conv1.0", "conv1_1_bn": "conv1.1", "conv1_2_conv": "conv1.3",
              "conv1_2_bn": "conv1.4", "conv1_3_conv": "conv1.6", "conv1_3_bn": "bn1"}
_DENSE_LAYER = {("0", "bn"): "norm1", ("1", "conv"): "conv1", ("1", "bn"): "norm2", ("2", "conv"): "conv2"}
_TRANSITION = re.compile(r"pool(\d+)_(conv|bn)")
# Old torchvision DenseNet checkpoints name a dense layer's modules "norm.1" where the code says "norm1".
_OLD_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var)$"
)


def detect_family(layer_names):
    """"resnet" or "densenet" from a model's layer names, or None where neither layout is ours."""
    names = set(layer_names)
    if "pool2_conv" in names and "bn" in names:
        return "densenet"
    # Pre-activation ResNets (ours: `*_preact_bn`, `post_bn`) are timm's `resnetv2` layout, not mapped here.
    if "conv2_block1_1_conv" in names and not any("_preact_" in name or name == "post_bn" for name in names):
        return "resnet"
    return None


def resnet_prefix(name, *, avg_down, stem_aa=False):
    """The timm / torchvision ResNet module that holds our layer `name`'s tensors, or None.

    Args:
        name: str, one of our layer names.
        avg_down: bool, whether the model's shortcuts are ResNet-D's (average pool, then 1x1 conv): timm keeps
            the pool at `downsample.0` (an `Identity` where the stride is 1), so the conv and BN move up one.
        stem_aa: bool, whether an anti-aliasing layer follows ResNet-RS's stem convolution (`maxpool.1`).
    """
    if name in ("conv1_conv", "conv1_bn"):
        return {"conv1_conv": "conv1", "conv1_bn": "bn1"}[name]
    if name in ("pool1_conv", "pool1_bn"):
        return {"pool1_conv": "maxpool.0", "pool1_bn": f"maxpool.{2 if stem_aa else 1}"}[name]
    if name in _DEEP_STEM:
        return _DEEP_STEM[name]
    if name == CLASSIFIER_LAYER:
        return "fc"
    attention = ATTENTION.fullmatch(name)
    if attention:
        return f"layer{int(attention[1]) - 1}.{int(attention[2]) - 1}.se.{_ATTENTION_MODULES[attention[3]]}"
    match = BLOCK.fullmatch(name)
    if not match:
        return None
    stage, block, index, kind = int(match[1]), int(match[2]), int(match[3]), match[4]
    prefix = f"layer{stage - 1}.{block - 1}"
    if index == 0:
        return f"{prefix}.downsample.{(0 if kind == 'conv' else 1) + int(avg_down)}"
    return f"{prefix}.{kind}{index}"


def densenet_prefix(name):
    """The timm / torchvision DenseNet module that holds our layer `name`'s tensors, or None."""
    fixed = {"conv1_conv": "features.conv0", "conv1_bn": "features.norm0", "bn": "features.norm5",
             CLASSIFIER_LAYER: "classifier"}
    if name in fixed:
        return fixed[name]
    match = BLOCK.fullmatch(name)
    if match and (match[3], match[4]) in _DENSE_LAYER:
        block, layer = int(match[1]) - 1, int(match[2])
        return f"features.denseblock{block}.denselayer{layer}.{_DENSE_LAYER[match[3], match[4]]}"
    match = _TRANSITION.fullmatch(name)
    if match:
        return f"features.transition{int(match[1]) - 1}.{ {'conv': 'conv', 'bn': 'norm'}[match[2]] }"
    return None


def normalize_keys(state):
    """A state dict with old torchvision DenseNet keys ("...denselayer1.norm.1.weight") renamed as timm names them."""
    return {_OLD_DENSENET_KEY.sub(r"\1\2.\3", key): value for key, value in state.items()}
