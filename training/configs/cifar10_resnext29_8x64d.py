"""CIFAR-10 ResNeXt-29 8x64d, Xie et al. (2016) (error 3.65 / 3.58% for 8x64d / 16x64d).

Run: python -m training cifar10_resnext29_8x64d [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.resnext_cifar("resnext29_8x64d")
