"""Pretrained timm weights: the table of tags we support, hub ids, and the preprocessing each expects.

`weights=` takes, besides None, "imagenet" and a file path, a Hugging Face hub id: "timm/resnet50.a1_in1k",
"hf://timm/resnext50_32x4d.fb_swsl_ig1b_ft_in1k", or a tag of the table alone ("resnet50.a1_in1k"). The
repository's `model.safetensors` is found in the Hugging Face cache or downloaded into it
(`huggingface_hub.hf_hub_download`), checked against the table's size and sha256 where it knows them, and
mapped onto the model by `keras_resnets.conversion`. Without network the look-up fails within seconds,
naming the file and where to put a local copy.

A tag is `<timm architecture>.<recipe>`; the architecture says which of our models it fits
(`conversion.TIMM_VARIANTS`: timm's `resnet50` is our `resnet50_v1_5`, timm's `resnet18d` our `resnet18` with
`stem="deep", shortcut="avgpool"`). Each row keeps apart from the architecture what its weight file needs
(timm's `pretrained_cfg`): input size, crop_pct, interpolation, mean/std, source, licence, and the published
ImageNet top-1.

Sources: input size, crop_pct, interpolation, mean/std, licence and hub repository from timm 1.0.31's
`timm.models.get_pretrained_cfg(tag)`; top-1 from huggingface/pytorch-image-models `results/results-imagenet.csv`
(commit aa4b5850c1543fa488abf260f18390eda46cf85d), the row at the tag's own input size and crop_pct.

Example:
```python
keras_resnets.list_pretrained(source="timm")[:2]   # ['timm/densenet121.ra_in1k', 'timm/densenet121.tv_in1k']
model = keras_resnets.ResNet50V1_5(weights="timm/resnet50.a1_in1k", classes=37)   # a new 37-class head
keras_resnets.data_config("resnet50.a1_in1k")["crop_pct"]   # 0.95
```
"""

import dataclasses
import fnmatch
import hashlib
import os
import re
import socket
import urllib.parse
from typing import Optional

from keras_resnets._weights import WEIGHT_FILE_SUFFIXES
from keras_resnets.conversion.timm_names import TIMM_VARIANTS

HUB_FILE = "model.safetensors"
HF_PREFIX = "hf://"
_LOOKUP_TIMEOUT_S = 3  # how long a hub that cannot be reached may take to say so
_DOWNLOAD_TIMEOUT_S = 10
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
# Our preprocessing modes as mean / std on [0, 1] RGB pixels ("caffe" also flips to BGR, which no mean/std says).
_MODES = {_IMAGENET: "torch", _INCEPTION: "tf"}
_MODE_MEAN_STD = {"torch": _IMAGENET, "tf": _INCEPTION, "caffe": (None, None)}
# What a model without a tag is evaluated with (keras.applications / torchvision: resize 256, crop 224).
_DEFAULT_CROP_PCT, _DEFAULT_INTERPOLATION = 0.875, "bilinear"
# keras.applications' v1 drop-ins, which share a name with timm's v1.5 architectures.
_KERAS_V1 = {"resnet50": "ResNet50V1_5", "resnet101": "ResNet101V1_5", "resnet152": "ResNet152V1_5"}


@dataclasses.dataclass(frozen=True)
class PretrainedTag:
    """One pretrained weight file of timm's and what it needs.

    Attributes:
        tag: str, timm's name, `<architecture>.<recipe>` ("resnet50.a1_in1k").
        top1: float, published ImageNet-1k top-1 (%) at `input_size` and `crop_pct`.
        input_size: int, the side of the square image it was evaluated at.
        crop_pct: float, the centre crop's share of the resized image at evaluation.
        interpolation: str, the resize interpolation ("bicubic", "bilinear").
        mean: tuple of 3 floats, the RGB mean on [0, 1] pixels.
        std: tuple of 3 floats, the RGB std on [0, 1] pixels.
        license: str, the weights' licence as timm gives it.
        num_classes: int, the classifier's size in the file.
        sha256: str or None, the file's sha256 where known.
        size: int or None, the file's size in bytes where known.
    """

    tag: str
    top1: float
    input_size: int
    crop_pct: float
    interpolation: str
    mean: tuple
    std: tuple
    license: str
    num_classes: int = 1000
    sha256: Optional[str] = None
    size: Optional[int] = None

    @property
    def architecture(self):
        """timm's architecture name, the part before the dot."""
        return self.tag.split(".", 1)[0]

    @property
    def hub_id(self):
        """The Hugging Face repository that holds the file."""
        return f"timm/{self.tag}"

    @property
    def model(self):
        """(our registered name, the config fields to override), see `conversion.TIMM_VARIANTS`."""
        return TIMM_VARIANTS[self.architecture]

    @property
    def preprocessing(self):
        """Our preprocessing mode with this mean / std ("torch", "tf"), or None where none matches."""
        return _MODES.get((tuple(self.mean), tuple(self.std)))


# (tag, top-1, input size, crop_pct, interpolation, (mean, std), licence): every ImageNet-1k tag timm 1.0.31
# publishes for an architecture of `TIMM_VARIANTS` (timm has none for resnet200 without the D stem).
_ROWS = [
    ("resnet18.a1_in1k", 71.504, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet18.a2_in1k", 70.634, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet18.a3_in1k", 65.67, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet18.fb_ssl_yfcc100m_ft_in1k", 72.636, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnet18.fb_swsl_ig1b_ft_in1k", 73.286, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnet18.gluon_in1k", 70.844, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet18.tv_in1k", 69.752, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet18d.ra2_in1k", 72.296, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet18d.ra4_e3600_r224_in1k", 74.356, 224, 0.9, "bicubic", _INCEPTION, "apache-2.0"),
    ("resnet26.bt_in1k", 75.298, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet26d.bt_in1k", 76.698, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet34.a1_in1k", 76.42, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet34.a2_in1k", 75.52, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet34.a3_in1k", 70.58, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet34.bt_in1k", 75.176, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet34.gluon_in1k", 74.574, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet34.ra4_e3600_r224_in1k", 77.492, 224, 0.9, "bicubic", _INCEPTION, "apache-2.0"),
    ("resnet34.tv_in1k", 73.298, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet34d.ra2_in1k", 77.108, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.a1_in1k", 80.382, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.a1h_in1k", 79.264, 176, 0.9, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.a2_in1k", 79.828, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.a3_in1k", 75.994, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.am_in1k", 79.004, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.b1k_in1k", 79.564, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.b2k_in1k", 79.388, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.bt_in1k", 78.444, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.c1_in1k", 79.766, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.c2_in1k", 79.868, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.d_in1k", 79.904, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.fb_ssl_yfcc100m_ft_in1k", 79.252, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnet50.fb_swsl_ig1b_ft_in1k", 81.146, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnet50.gluon_in1k", 77.58, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.ra_in1k", 78.82, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.ram_in1k", 79.034, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50.tv2_in1k", 79.434, 176, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet50.tv_in1k", 76.156, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet50d.a1_in1k", 80.73, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50d.a2_in1k", 80.268, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50d.a3_in1k", 77.222, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50d.gluon_in1k", 79.08, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50d.ra2_in1k", 80.546, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50d.ra4_e3600_r224_in1k", 80.956, 224, 0.95, "bicubic", _INCEPTION, "apache-2.0"),
    ("resnet101.a1_in1k", 81.494, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet101.a1h_in1k", 81.95, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet101.a2_in1k", 81.344, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet101.a3_in1k", 77.928, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet101.gluon_in1k", 79.306, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet101.tv2_in1k", 79.908, 176, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet101.tv_in1k", 77.404, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet101d.gluon_in1k", 80.466, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet101d.ra2_in1k", 82.254, 256, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet152.a1_in1k", 81.998, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet152.a1h_in1k", 82.818, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet152.a2_in1k", 81.764, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet152.a3_in1k", 78.896, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet152.gluon_in1k", 79.712, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet152.tv2_in1k", 80.222, 176, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet152.tv_in1k", 78.33, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnet152d.gluon_in1k", 80.476, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet152d.ra2_in1k", 83.16, 256, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet200d.ra2_in1k", 83.25, 256, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext50_32x4d.a1_in1k", 80.526, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext50_32x4d.a1h_in1k", 81.14, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext50_32x4d.a2_in1k", 80.444, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext50_32x4d.a3_in1k", 77.732, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext50_32x4d.fb_ssl_yfcc100m_ft_in1k", 80.316, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnext50_32x4d.fb_swsl_ig1b_ft_in1k", 82.162, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnext50_32x4d.gluon_in1k", 79.354, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext50_32x4d.ra_in1k", 79.8, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext50_32x4d.tv2_in1k", 79.384, 176, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnext50_32x4d.tv_in1k", 77.632, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnext50d_32x4d.bt_in1k", 79.672, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext101_32x4d.fb_ssl_yfcc100m_ft_in1k", 80.936, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnext101_32x4d.fb_swsl_ig1b_ft_in1k", 83.268, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnext101_32x4d.gluon_in1k", 80.336, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext101_32x8d.fb_ssl_yfcc100m_ft_in1k", 81.62, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnext101_32x8d.fb_swsl_ig1b_ft_in1k", 84.276, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnext101_32x8d.fb_wsl_ig1b_ft_in1k", 82.72, 224, 0.875, "bilinear", _IMAGENET, "cc-by-nc-4.0"),
    ("resnext101_32x8d.tv2_in1k", 81.99, 176, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnext101_32x8d.tv_in1k", 79.308, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("resnext101_64x4d.c1_in1k", 82.446, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext101_64x4d.gluon_in1k", 80.64, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnext101_64x4d.tv_in1k", 82.978, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("wide_resnet50_2.racm_in1k", 81.466, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("wide_resnet50_2.tv2_in1k", 80.442, 176, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("wide_resnet50_2.tv_in1k", 78.486, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("wide_resnet101_2.tv2_in1k", 80.494, 176, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("wide_resnet101_2.tv_in1k", 78.862, 224, 0.875, "bilinear", _IMAGENET, "bsd-3-clause"),
    ("seresnet50.a1_in1k", 80.012, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("seresnet50.a2_in1k", 80.102, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("seresnet50.a3_in1k", 75.104, 160, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("seresnet50.ra2_in1k", 80.26, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("seresnext50_32x4d.gluon_in1k", 79.916, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("seresnext50_32x4d.racm_in1k", 81.268, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("seresnext101_32x4d.gluon_in1k", 80.886, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("ecaresnet50d.miil_in1k", 80.634, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetaa50.a1h_in1k", 80.614, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetaa50d.sw_in12k_ft_in1k", 81.782, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetaa101d.sw_in12k_ft_in1k", 83.544, 224, 0.95, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetblur50.bt_in1k", 79.306, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnet50_gn.a1h_in1k", 80.074, 224, 0.94, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetrs50.tf_in1k", 77.858, 160, 0.91, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetrs101.tf_in1k", 80.706, 192, 0.94, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetrs152.tf_in1k", 82.9, 256, 1.0, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetrs200.tf_in1k", 83.884, 256, 1.0, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetrs270.tf_in1k", 83.596, 256, 1.0, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetrs350.tf_in1k", 84.304, 288, 1.0, "bicubic", _IMAGENET, "apache-2.0"),
    ("resnetrs420.tf_in1k", 84.24, 320, 1.0, "bicubic", _IMAGENET, "apache-2.0"),
    ("densenet121.ra_in1k", 75.574, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("densenet121.tv_in1k", 74.75, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("densenet161.tv_in1k", 77.384, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("densenet169.tv_in1k", 75.922, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),
    ("densenet201.tv_in1k", 77.284, 224, 0.875, "bicubic", _IMAGENET, "apache-2.0"),

]
PRETRAINED = {row[0]: PretrainedTag(*row[:5], *row[5], row[6]) for row in _ROWS}


def list_tags(pattern=None):
    """The hub ids of the table's tags ("timm/resnet50.a1_in1k"), sorted; `pattern` a shell-style wildcard on
    the id or the tag alone ("resnet50*", "*in1k")."""
    ids = sorted(tag.hub_id for tag in PRETRAINED.values())
    if pattern is None:
        return ids
    return [i for i in ids if fnmatch.fnmatch(i, pattern) or fnmatch.fnmatch(i.split("/", 1)[1], pattern)]


def parse_hub_id(weights):
    """The Hugging Face repository id that `weights` names, or None where it names none.

    "hf://org/name" and "org/name" (not an existing path, and not ending in a weight file's suffix) are hub
    ids; a tag of the table alone ("resnet50.a1_in1k") is timm's repository of that name.
    """
    if not isinstance(weights, str):
        return None
    if weights.startswith(HF_PREFIX):
        return weights[len(HF_PREFIX):]
    if weights in PRETRAINED:
        return PRETRAINED[weights].hub_id
    if _REPO_ID.fullmatch(weights) and not weights.endswith(WEIGHT_FILE_SUFFIXES) and not os.path.exists(weights):
        return weights
    return None


def check_hub_id(repo_id):
    """`repo_id` is "org/name" with Hugging Face's characters; else a ValueError."""
    if not _REPO_ID.fullmatch(repo_id or ""):
        raise ValueError(
            "A hub id in `weights` must be 'org/name' (e.g. 'timm/resnet50.a1_in1k' or "
            f"'hf://timm/resnet50.a1_in1k'). Received: weights={HF_PREFIX + (repo_id or '')!r}"
        )


def tag_of(repo_id):
    """The table's `PretrainedTag` for the repository `repo_id`, or None where the table has no row for it."""
    org, _, name = repo_id.partition("/")
    return PRETRAINED.get(name) if org == "timm" else None


def check_fits(repo_id, model_name):
    """A ValueError where timm's repository `repo_id` holds another architecture than our `model_name`.

    Only timm's repositories say their architecture (the part of the name before the dot); another
    organisation's file is checked when it is mapped onto the model.

    Returns:
        dict, the config fields our model needs set for that architecture (e.g. `stem`, `shortcut`).
    """
    org, _, name = repo_id.partition("/")
    if org != "timm":
        return {}
    architecture = name.split(".", 1)[0]
    if architecture not in TIMM_VARIANTS:
        raise ValueError(
            f"timm's {architecture!r} has no counterpart among our models; the architectures that map are "
            f"{sorted(TIMM_VARIANTS)}. Received: weights={repo_id!r}"
        )
    ours, overrides = TIMM_VARIANTS[architecture]
    if ours == model_name:
        return dict(overrides)
    fix = f"create_model({ours!r}{_kwargs_text(overrides)}, weights={repo_id!r})"
    if model_name in _KERAS_V1 and ours == f"{model_name}_v1_5":
        raise ValueError(
            f"{repo_id!r} holds timm's {architecture!r}, a ResNet v1.5 (stride on the 3x3, no conv biases); our "
            f"{model_name!r} is keras.applications' ResNet v1 (stride on the first 1x1, conv biases), which those "
            f"weights do not fit. Use keras_resnets.{_KERAS_V1[model_name]}(weights={repo_id!r}) or {fix}. "
            f"Received: weights={repo_id!r} for {model_name!r}"
        )
    raise ValueError(
        f"{repo_id!r} holds timm's {architecture!r}, which is our {ours!r}{_kwargs_text(overrides, ' with ')}, not "
        f"{model_name!r}: use keras_resnets.{fix}. Received: weights={repo_id!r} for {model_name!r}"
    )


def _kwargs_text(overrides, lead=", "):
    return lead + ", ".join(f"{key}={value!r}" for key, value in overrides.items()) if overrides else ""


def hub_cache_dir():
    """Where huggingface_hub caches files, read from the environment now (HF_HUB_CACHE, else HF_HOME/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return os.path.join(home, "hub")


def _offline():
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _endpoint():
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _reachable(url, timeout=_LOOKUP_TIMEOUT_S):
    """Whether a TCP connection to `url`'s host (or to the proxy the environment names for it) opens within
    `timeout` seconds.

    huggingface_hub retries a failed look-up five times with back-off (about 25 s); this answers at once where
    the name does not resolve and within `timeout` where packets are dropped.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    proxy = next((os.environ[name] for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy",
                                                "ALL_PROXY") if os.environ.get(name)), None)
    parts = urllib.parse.urlsplit(proxy if proxy and "://" in proxy else f"http://{proxy}" if proxy else url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
        return True
    except (OSError, TypeError):  # TypeError: a URL without a host
        return False


def download(repo_id, filename=HUB_FILE):
    """The local path of `filename` from the hub repository `repo_id`: from the cache, or downloaded into it.

    The cache is looked in first, so a cached file needs no network. Offline (HF_HUB_OFFLINE=1, or the hub
    unreachable), a missing file is a ValueError within seconds naming it and where to put it.

    Args:
        repo_id: str, "org/name".
        filename: str, the file in the repository.

    Returns:
        str, the file's path in the Hugging Face cache.
    """
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import LocalEntryNotFoundError  # where both 0.x and 1.x+ export it
    except ImportError as error:
        raise ImportError(
            f"Loading weights={repo_id!r} needs huggingface_hub (`pip install huggingface_hub`); or download "
            f"{_endpoint()}/{repo_id}/resolve/main/{filename} and pass its path as `weights`."
        ) from error
    cache_dir = hub_cache_dir()
    try:
        return hf_hub_download(repo_id, filename, cache_dir=cache_dir, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    url = f"{_endpoint()}/{repo_id}/resolve/main/{filename}"
    reason = "HF_HUB_OFFLINE is set" if _offline() else None
    if reason is None and not _reachable(_endpoint()):
        reason = f"{_endpoint()} cannot be reached"
    if reason is None:
        try:
            return hf_hub_download(repo_id, filename, cache_dir=cache_dir, etag_timeout=_DOWNLOAD_TIMEOUT_S)
        except Exception as error:  # network, authentication, a repository or file that does not exist
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
    raise ValueError(
        f"Could not get {filename!r} of the hub repository {repo_id!r} ({reason}). Download {url} elsewhere "
        f"and pass its path as `weights=` (e.g. weights='{repo_id.split('/')[-1]}.safetensors'), or put it in "
        f"the Hugging Face cache {cache_dir} (`hf download {repo_id} {filename}` on a machine with network, "
        f"then copy that cache folder here). Received: weights={repo_id!r}"
    )


def check_file(path, tag):
    """A ValueError where the file at `path` differs from the size or sha256 the table gives for `tag`."""
    if tag is None or (tag.size is None and tag.sha256 is None):
        return
    size = os.path.getsize(path)
    if tag.size is not None and size != tag.size:
        raise ValueError(f"{path!r} has {size} bytes; timm's {tag.tag!r} file has {tag.size}. Delete it and "
                         f"download it again. Received: weights={tag.hub_id!r}")
    if tag.sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != tag.sha256:
            raise ValueError(f"{path!r} has sha256 {digest.hexdigest()}; timm's {tag.tag!r} file has {tag.sha256}. "
                             f"Delete it and download it again. Received: weights={tag.hub_id!r}")


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What `weights=` came to: a local file, the hub id it came from and the table's row, where known."""

    path: str
    hub_id: Optional[str] = None
    tag: Optional[PretrainedTag] = None
    overrides: dict = dataclasses.field(default_factory=dict)


def resolve(weights, model_name):
    """The local file that `weights` (a path or a hub id) names for our model `model_name`.

    A hub id of timm's is checked against `model_name` before anything is downloaded, then found in the cache
    or downloaded, then checked against the table's size and sha256.

    Returns:
        A `Resolved`.
    """
    repo_id = parse_hub_id(weights)
    if repo_id is None:
        return Resolved(os.fspath(weights))
    check_hub_id(repo_id)
    overrides = check_fits(repo_id, model_name)
    tag = tag_of(repo_id)
    path = download(repo_id)
    check_file(path, tag)
    return Resolved(path, repo_id, tag, overrides)


def mismatch_hint(resolved, model_name):
    """What to add to a conversion error for a hub id whose architecture needs config fields set."""
    if not resolved.overrides:
        return ""
    architecture = resolved.hub_id.split("/", 1)[1].split(".", 1)[0]
    return (f"\n  timm's {architecture!r} is our {model_name!r} with{_kwargs_text(resolved.overrides, ' ')}: "
            f"pass them, e.g. keras_resnets.create_model({model_name!r}{_kwargs_text(resolved.overrides)}, "
            f"weights={resolved.hub_id!r}).")


def list_pretrained(pattern=None, *, source="keras"):
    """What pretrained weights exist for our models.

    Args:
        pattern: str or None, a shell-style wildcard on the names returned ("resnet50*"; a timm id also
            matches by its tag alone).
        source: str, "keras" for the registered variants that load keras.applications' files with
            `weights="imagenet"` (the names), "timm" for the hub ids of timm's tags in the table (each a
            `weights=` value), "all" for both.

    Returns:
        list of str, sorted.

    Example:
    ```python
    keras_resnets.list_pretrained()                                # ['densenet121', ..., 'resnet50_v2']
    keras_resnets.list_pretrained("resnet18*", source="timm")     # ['timm/resnet18.a1_in1k', ...]
    ```
    """
    from keras_resnets import _registry

    sources = ("keras", "timm", "all")
    if source not in sources:
        raise ValueError(f"`source` must be one of {sources}. Received: source={source!r}")
    keras_names = _registry.list_pretrained() if source in ("keras", "all") else []
    if pattern is not None:
        keras_names = [name for name in keras_names if fnmatch.fnmatch(name, pattern)]
    timm_ids = list_tags(pattern) if source in ("timm", "all") else []
    return keras_names + timm_ids


def get_pretrained(tag):
    """The table's `PretrainedTag` for a tag or hub id ("resnet50.a1_in1k", "timm/...", "hf://timm/...")."""
    repo_id = parse_hub_id(tag) if isinstance(tag, str) else None
    row = tag_of(repo_id) if repo_id else None
    if row is None:
        raise ValueError(f"Unknown pretrained tag {tag!r}; keras_resnets.list_pretrained(source='timm') lists "
                         f"the {len(PRETRAINED)} tags of the table. Received: {tag!r}")
    return row


def _config(size, channels, crop_pct, interpolation, mode, **extra):
    mean, std = _MODE_MEAN_STD[mode] if mode in _MODE_MEAN_STD else (None, None)
    return dict(input_size=(size, size, channels), crop_pct=crop_pct, interpolation=interpolation,
                mean=mean, std=std, preprocessing=mode, **extra)


def tag_config(tag):
    """`data_config` of a table row."""
    return dict(_config(tag.input_size, 3, tag.crop_pct, tag.interpolation, tag.preprocessing),
                mean=tuple(tag.mean), std=tuple(tag.std), tag=tag.tag, hub_id=tag.hub_id, license=tag.license,
                top1=tag.top1)


def data_config(model_or_tag):
    """The preprocessing a model or a pretrained tag expects: what `include_preprocessing=True` puts in.

    Args:
        model_or_tag: a tag or hub id of the table ("resnet50.a1_in1k", "timm/resnet50.a1_in1k"), a registered
            model name ("resnet50"), or a `keras.Model` built by this package (one built from a tag carries
            it; otherwise its preprocessing layer, else its registered name, decides).

    Returns:
        dict: `input_size` (height, width, channels), `crop_pct` (the centre crop's share at evaluation),
        `interpolation`, `mean` and `std` (RGB, on [0, 1] pixels; None for "caffe", which also flips RGB to
        BGR), `preprocessing` (our mode: "torch", "tf", "caffe", or None where the tag's mean/std is none of
        them); for a tag also `tag`, `hub_id`, `license` and `top1`.

    Example:
    ```python
    cfg = keras_resnets.data_config("timm/resnet50.a1_in1k")
    cfg["input_size"], cfg["crop_pct"], cfg["interpolation"]   # (224, 224, 3), 0.95, 'bicubic'
    ```
    """
    if isinstance(model_or_tag, str):
        repo_id = parse_hub_id(model_or_tag)
        if repo_id is not None and tag_of(repo_id) is not None:
            return tag_config(tag_of(repo_id))
        from keras_resnets._registry import _REGISTRY, get_model_spec

        if model_or_tag not in _REGISTRY:
            raise ValueError(f"`model_or_tag` must be a pretrained tag (keras_resnets.list_pretrained("
                             f"source='timm')), a registered model name or a keras.Model. Received: "
                             f"model_or_tag={model_or_tag!r}")
        spec = get_model_spec(model_or_tag)
        return _config(spec.default_size, 3, _DEFAULT_CROP_PCT, _DEFAULT_INTERPOLATION, spec.preprocessing)
    return _model_config(model_or_tag)


def _model_config(model):
    """`data_config` of a built model."""
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"`model_or_tag` must be a pretrained tag, a registered model name or a keras.Model. "
                         f"Received: model_or_tag={model!r}")
    shape = tuple(model.inputs[0].shape[1:])
    if keras.config.image_data_format() == "channels_first":
        shape = shape[1:] + shape[:1]
    tag = getattr(model, "pretrained_tag", None)
    if tag in PRETRAINED:
        return dict(tag_config(PRETRAINED[tag]), input_size=shape)
    mode = _preprocessing_mode(model)
    if mode is None:
        from keras_resnets._registry import _REGISTRY

        spec = _REGISTRY.get(model.name) or next((s for s in _REGISTRY.values() if s.keras_name == model.name), None)
        if spec is None:
            raise ValueError(f"Model {model.name!r} has no preprocessing layer and no registered name; pass a "
                             f"tag or a registered name instead. Received: model_or_tag={model.name!r}")
        mode = spec.preprocessing
    return _config(shape[0], shape[2], _DEFAULT_CROP_PCT, _DEFAULT_INTERPOLATION, mode)


def _preprocessing_mode(model):
    try:
        return model.get_layer("preprocessing").mode
    except ValueError:
        return None
