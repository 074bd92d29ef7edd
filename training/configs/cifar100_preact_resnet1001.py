"""CIFAR-100 pre-activation ResNet-1001, He et al. (2016) (error 24.33 / 22.71%).

Run: python -m training cifar100_preact_resnet1001 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.he2016_preact_cifar("preact_resnet1001", "cifar100")
