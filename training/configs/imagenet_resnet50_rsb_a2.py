"""ImageNet ResNet-50, ResNet strikes back procedure A2 (Wightman et al. 2021; top-1 80.4 / 79.8 / 78.1 for A1 / A2 / A3).

Run: python -m training imagenet_resnet50_rsb_a2 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.rsb_imagenet("a2")
