"""CIFAR-100 Attention-452, Wang et al. (2017) (error 21.71 / 21.16 / 20.45%).

Run: python -m training cifar100_attention452 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.attention_cifar("attention452_cifar", "cifar100")
