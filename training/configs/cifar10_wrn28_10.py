"""CIFAR-10 WRN-28-10, Zagoruyko & Komodakis (2016): 3.89% / 18.85% error
on CIFAR-10 / 100 with dropout 0.3 between a block's convolutions, as here.

Run: python -m training cifar10_wrn28_10 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.wrn_cifar("wrn28_10", "cifar10")
