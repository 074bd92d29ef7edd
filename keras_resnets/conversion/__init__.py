"""Weights from PyTorch: timm and torchvision state dicts loaded onto our models, exactly.

- `read_state_dict(path)`: a `.safetensors` (no torch needed) or `.pth` file as NumPy arrays.
- `load_state_dict(model, source)`: maps every tensor onto `model` by layer name, with PyTorch's layouts turned
  into Keras' (OIHW -> HWIO kernels, grouped and depthwise convolutions, transposed dense kernels, BatchNorm
  statistics); anything left over on either side is a `ConversionError` and nothing is loaded.
- `load_pretrained(model, source)`: the same for transfer learning: the stem convolution adapted to the model's
  input channels (`adapt_input_conv`, timm's rule), the checkpoint's classifier left out where the model's
  number of classes differs.
- `create_from_timm(timm_name, source, **kwargs)`: builds our variant of a timm model (`TIMM_VARIANTS`: timm's
  `resnet50` is our `resnet50_v1_5`) and loads it.

Example:
```python
from keras_resnets.conversion import create_from_timm
model = create_from_timm("resnet50d", "resnet50d.ra2_in1k.safetensors")
```
"""

from keras_resnets.conversion.adapt import adapt_input_conv, load_pretrained  # noqa: F401
from keras_resnets.conversion.load import (  # noqa: F401
    ConversionError,
    checkpoint_keys,
    create_from_timm,
    load_state_dict,
    plan,
)
from keras_resnets.conversion.state_dict import (  # noqa: F401
    as_numpy_state,
    conv_kernel,
    dense_kernel,
    depthwise_kernel,
    read_state_dict,
)
from keras_resnets.conversion.timm_names import TIMM_VARIANTS  # noqa: F401
