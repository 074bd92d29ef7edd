"""What each variant expects of its input pixels, as keras.applications defines it.

Three modes (`keras.applications.imagenet_utils.preprocess_input`): "caffe" (RGB->BGR, subtract the
ImageNet mean; ResNet v1 drop-ins), "tf" (scale to [-1, 1]; ResNet v2 drop-ins and the CIFAR models),
"torch" (scale to [0, 1], normalize with ImageNet mean/std; DenseNet and the torchvision-style models).
A variant's mode is `keras_resnets.get_model_config(name)["preprocessing"]`; passing
`include_preprocessing=True` to a factory puts it inside the model (`ImagePreprocessing` layer).
"""

import keras

from keras_resnets._registry import get_model_spec
from keras_resnets.layers import PREPROCESSING_MODES


def preprocessing_mode(model_name: str) -> str:
    """The preprocessing mode ("caffe", "tf" or "torch") a registered variant expects."""
    return get_model_spec(model_name).preprocessing


def preprocess_input(x, model_name=None, *, mode=None, data_format=None):
    """Preprocesses a batch of raw [0, 255] RGB images for a variant (or an explicit mode).

    Args:
        x: numpy array or tensor of images, channels last (or `data_format`).
        model_name: str, a registered name; its mode is used unless `mode` is given.
        mode: str, one of "caffe", "tf", "torch".
        data_format: str or None.

    Example:
    ```python
    x = keras_resnets.preprocess_input(images, "resnet50")  # same as keras.applications.resnet50's
    ```
    """
    if mode is None:
        if model_name is None:
            raise ValueError("Pass `model_name` (a registered name) or `mode`. Received neither.")
        mode = preprocessing_mode(model_name)
    if mode not in PREPROCESSING_MODES:
        raise ValueError(f"`mode` must be one of {PREPROCESSING_MODES}. Received: mode={mode!r}")
    return keras.applications.imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)


# The ImageNet class decoder keras.applications ships (it downloads the class index once, then caches).
decode_predictions = keras.applications.imagenet_utils.decode_predictions
