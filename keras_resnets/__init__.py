"""keras_resnets: the residual family of image classifiers for Keras 3.

Public surface, and where each part lives:
- CamelCase factories with the keras.applications signature, each a `def` in its family module:
  `resnet` (ResNet v1, ResNeXt, Wide and CIFAR ResNets: `ResNet50`, `ResNeXt50_32x4d`, `ResNet20`, `Plain56`,
  `PreActResNet164`, `WRN28_10`, ..., `CIFARResNet(depth, ...)` for any 6n+2 / 9n+2 CIFAR ResNet and
  `WideResNet(depth, width_factor, ...)` for any WRN-d-k), `resnet_v2` (`ResNet50V2`, ...), `densenet`
  (`DenseNet121`, `DenseNetBC100_12`, ...) and `attention` (`Attention56`, ...). The keras.applications
  drop-ins (`ResNet50/101/152`, `ResNet50V2/101V2/152V2`, `DenseNet121/169/201`) take its arguments in its
  positions; every factory takes them by keyword.
- The registry: `list_models`, `create_model`, `get_model_config`, `get_model_spec`.
- Pretrained weights (`keras_resnets.pretrained`): `list_pretrained()` (keras.applications' files, or with
  `source="timm"` the timm tags `weights=` takes as hub ids), `data_config(model_or_tag)` (the preprocessing a
  model or tag expects); `keras_resnets.conversion` maps timm / torchvision checkpoints onto our models.
- Preprocessing: `preprocess_input`, `preprocessing_mode`, `decode_predictions`.
- Custom layers (registered for safe-mode loading): `keras_resnets.layers`.
- Inference: `fold_batch_norm(model)`, a copy with each convolution's BatchNormalization folded into it;
  `flip_tta(model)`, flip test-time augmentation.
- `deep_recursion()`: the raised recursion limit that loading a saved CIFAR ResNet-1202 needs
  (`with keras_resnets.deep_recursion(): keras.saving.load_model(path)`); the builders use it themselves,
  and importing the package leaves the interpreter's limit alone.
"""

import sys


def _our_command_line():
    """Whether this process is one of the package's command lines (`python -m keras_resnets.export` or
    `.visualize`, `python -m benchmarks`, or a script in the repository's examples/) run without --verbose.
    Their `main()` runs after this package, and so Keras and TensorFlow, are imported: their quiet start has
    to happen here."""
    import os

    argv = list(getattr(sys, "orig_argv", ()))
    if "--verbose" in argv or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return False
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        return argv[argv.index("-m") + 1] in ("keras_resnets.export", "keras_resnets.visualize", "benchmarks",
                                              "benchmarks.seeds")
    scripts = [a for a in argv[1:] if a.endswith(".py")]
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    return bool(scripts) and os.path.dirname(os.path.abspath(scripts[0])) == examples


if _our_command_line():
    from keras_resnets._quiet import quiet_tensorflow_import  # noqa: E402  (the standard library only)

    quiet_tensorflow_import()

from keras_resnets import layers  # noqa: E402
from keras_resnets._common import deep_recursion  # noqa: E402
from keras_resnets._registry import (  # noqa: E402
    create_model,
    get_model_config,
    get_model_spec,
    list_models,
)
from keras_resnets.attention import (  # noqa: E402
    Attention56,
    Attention92,
    Attention92CIFAR,
    Attention236CIFAR,
    Attention452CIFAR,
)
from keras_resnets.densenet import (  # noqa: E402
    DenseNet121,
    DenseNet161,
    DenseNet169,
    DenseNet201,
    DenseNet264,
    DenseNetBC100_12,
    DenseNetBC190_40,
    DenseNetBC250_24,
)
from keras_resnets.folding import fold_batch_norm  # noqa: E402
from keras_resnets.pretrained import data_config, list_pretrained  # noqa: E402
from keras_resnets.presets import from_preset, save_preset, upload_preset  # noqa: E402
from keras_resnets.preprocessing import (  # noqa: E402
    decode_predictions,
    preprocess_input,
    preprocessing_mode,
)
from keras_resnets.resnet import (  # noqa: E402
    CIFARResNet,
    ECAResNet50D,
    Plain20,
    Plain32,
    Plain44,
    Plain56,
    Plain110,
    PreActResNet164,
    PreActResNet1001,
    ResNet18,
    ResNet20,
    ResNet32,
    ResNet34,
    ResNet44,
    ResNet50,
    ResNet50D,
    ResNet50GN,
    ResNet50V1_5,
    ResNetAA50D,
    ResNetBlur50,
    ResNetRS50,
    ResNetRS101,
    ResNetRS152,
    ResNetRS200,
    ResNetRS270,
    ResNetRS350,
    ResNetRS420,
    ResNet56,
    ResNet101,
    ResNet101V1_5,
    ResNet110,
    ResNet152,
    ResNet152V1_5,
    ResNet200,
    ResNet1202,
    ResNeXt29_8x64d,
    ResNeXt29_16x64d,
    ResNeXt50_32x4d,
    ResNeXt101_32x4d,
    ResNeXt101_32x8d,
    ResNeXt101_64x4d,
    SEResNet50,
    SEResNeXt50_32x4d,
    SEResNeXt101_32x4d,
    WideResNet,
    WideResNet50_2,
    WideResNet101_2,
    WRN16_2,
    WRN16_4,
    WRN16_8,
    WRN22_8,
    WRN28_2,
    WRN28_10,
    WRN40_2,
    WRN40_4,
)
from keras_resnets.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2  # noqa: E402
from keras_resnets.tta import flip_tta  # noqa: E402
from keras_resnets import attention as _attention  # noqa: E402
from keras_resnets import densenet as _densenet  # noqa: E402
from keras_resnets import resnet as _resnet  # noqa: E402
from keras_resnets import resnet_v2 as _resnet_v2  # noqa: E402

# Every public factory by name (each family module's `FACTORIES`).
FACTORIES = {**_resnet.FACTORIES, **_resnet_v2.FACTORIES, **_densenet.FACTORIES, **_attention.FACTORIES}

__version__ = "0.1.0"
__all__ = [
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
    "Attention236CIFAR",
    "Attention452CIFAR",
    "Attention56",
    "Attention92",
    "Attention92CIFAR",
    "CIFARResNet",
    "DenseNet121",
    "DenseNet161",
    "DenseNet169",
    "DenseNet201",
    "DenseNet264",
    "DenseNetBC100_12",
    "DenseNetBC190_40",
    "DenseNetBC250_24",
    "ECAResNet50D",
    "Plain110",
    "Plain20",
    "Plain32",
    "Plain44",
    "Plain56",
    "PreActResNet1001",
    "PreActResNet164",
    "ResNeXt101_32x4d",
    "ResNeXt101_32x8d",
    "ResNeXt101_64x4d",
    "ResNeXt29_16x64d",
    "ResNeXt29_8x64d",
    "ResNeXt50_32x4d",
    "ResNet101",
    "ResNet101V1_5",
    "ResNet101V2",
    "ResNet110",
    "ResNet1202",
    "ResNet152",
    "ResNet152V1_5",
    "ResNet152V2",
    "ResNet18",
    "ResNet20",
    "ResNet200",
    "ResNet32",
    "ResNet34",
    "ResNet44",
    "ResNet50",
    "ResNet50D",
    "ResNet50GN",
    "ResNet50V1_5",
    "ResNet50V2",
    "ResNet56",
    "ResNetAA50D",
    "ResNetBlur50",
    "ResNetRS101",
    "ResNetRS152",
    "ResNetRS200",
    "ResNetRS270",
    "ResNetRS350",
    "ResNetRS420",
    "ResNetRS50",
    "SEResNeXt101_32x4d",
    "SEResNeXt50_32x4d",
    "SEResNet50",
    "WRN16_2",
    "WRN16_4",
    "WRN16_8",
    "WRN22_8",
    "WRN28_10",
    "WRN28_2",
    "WRN40_2",
    "WRN40_4",
    "WideResNet",
    "WideResNet101_2",
    "WideResNet50_2",
]
