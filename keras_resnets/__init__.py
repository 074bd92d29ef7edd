"""keras_resnets: the residual family of image classifiers for Keras 3."""

import sys

# Keras walks a Functional graph recursively (building, saving and loading it); the deepest variants
# (CIFAR ResNet-1202, pre-activation ResNet-1001) nest deeper than Python's default limit of 1000.
if sys.getrecursionlimit() < 20000:
    sys.setrecursionlimit(20000)

from keras_resnets import layers  # noqa: E402
from keras_resnets._registry import (
    create_model,
    get_model_config,
    get_model_spec,
    list_models,
    list_pretrained,
)
from keras_resnets import attention as _attention
from keras_resnets import densenet as _densenet
from keras_resnets import resnet as _resnet
from keras_resnets import resnet_v2 as _resnet_v2

for _family in (_resnet, _resnet_v2, _densenet, _attention):
    globals().update(_family.FACTORIES)

__version__ = "0.1.0"
