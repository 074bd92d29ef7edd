"""CIFAR-10 plain-32 (no shortcuts), He et al. (2015) Figure 6: the degradation baseline.

Run: python -m training cifar10_plain32 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.he2015_cifar("plain32")
