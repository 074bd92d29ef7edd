"""CIFAR-10 pre-activation ResNet-164, He et al. (2016) (error 5.46 / 4.92%).

Run: python -m training cifar10_preact_resnet164 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.he2016_preact_cifar("preact_resnet164")
