"""CIFAR-100 ResNeXt-29 16x64d, Xie et al. (2016) (error 17.77 / 17.31%).

Run: python -m training cifar100_resnext29_16x64d [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.resnext_cifar("resnext29_16x64d", "cifar100")
