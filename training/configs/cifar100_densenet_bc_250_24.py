"""CIFAR-100 DenseNet-BC (250_24), Huang et al. (2016) (error 22.27 / 17.60 / 17.18%).

Run: python -m training cifar100_densenet_bc_250_24 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.densenet_cifar("densenet_bc_250_24", "cifar100")
