"""CIFAR-10 ResNet-1202, He et al. (2015) Section 4.2 (error 8.75/7.51/7.17/6.97/6.43/7.93% for 20/32/44/56/110/1202).

Run: python -m training cifar10_resnet1202 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.he2015_cifar("resnet1202")
