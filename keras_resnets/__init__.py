"""keras_resnets: the residual family of image classifiers for Keras 3.

Public surface:
- CamelCase factories with the keras.applications signature: `ResNet50`, `ResNet50V2`, `DenseNet121`,
  `ResNeXt50_32x4d`, `ResNet20`, `Plain56`, `PreActResNet164`, `DenseNetBC100_12`, `Attention56`, ...,
  `CIFARResNet(depth, ...)` for any 6n+2 / 9n+2 CIFAR ResNet and `WideResNet(depth, width_factor, ...)`
  for any WRN-d-k.
- The registry: `list_models`, `create_model`, `get_model_config`, `get_model_spec`, `list_pretrained`.
- Preprocessing: `preprocess_input`, `preprocessing_mode`, `decode_predictions`.
- Custom layers (registered for safe-mode loading): `keras_resnets.layers`.
- Inference: `fold_batch_norm(model)`, a copy with each convolution's BatchNormalization folded into it.
"""

import sys

# Keras walks a Functional graph recursively (building, saving and loading it); the deepest variants
# (CIFAR ResNet-1202, pre-activation ResNet-1001) nest deeper than Python's default limit of 1000.
if sys.getrecursionlimit() < 20000:
    sys.setrecursionlimit(20000)


def _our_command_line():
    """Whether this process is one of the package's command lines (`python -m keras_resnets.export` or
    `.visualize`, `python -m benchmarks`, or a script in the repository's examples/) run without --verbose. Their `main()` runs after
    this package, and so Keras and TensorFlow, are imported: their quiet start has to happen here."""
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
from keras_resnets.folding import fold_batch_norm  # noqa: E402
from keras_resnets.tta import flip_tta  # noqa: E402
from keras_resnets._registry import (  # noqa: E402
    create_model,
    get_model_config,
    get_model_spec,
    list_models,
    list_pretrained,
)
from keras_resnets.preprocessing import (  # noqa: E402
    decode_predictions,
    preprocess_input,
    preprocessing_mode,
)
from keras_resnets import attention as _attention  # noqa: E402
from keras_resnets import densenet as _densenet  # noqa: E402
from keras_resnets import resnet as _resnet  # noqa: E402
from keras_resnets import resnet_v2 as _resnet_v2  # noqa: E402

FACTORIES = {}
for _family in (_resnet, _resnet_v2, _densenet, _attention):
    FACTORIES.update(_family.FACTORIES)
globals().update(FACTORIES)

__version__ = "0.1.0"
__all__ = [
    "create_model",
    "decode_predictions",
    "flip_tta",
    "fold_batch_norm",
    "get_model_config",
    "get_model_spec",
    "layers",
    "list_models",
    "list_pretrained",
    "preprocess_input",
    "preprocessing_mode",
    *sorted(FACTORIES),
]
