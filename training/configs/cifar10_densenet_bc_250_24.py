"""CIFAR-10 DenseNet-BC (250_24), Huang et al. (2016) (error 4.51 / 3.62 / 3.46% for 100_12 / 250_24 / 190_40).

Run: python -m training cifar10_densenet_bc_250_24 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.densenet_cifar("densenet_bc_250_24")
