"""CIFAR-100 Attention-236, Wang et al. (2017) (error 21.71 / 21.16 / 20.45%).

Run: python -m training cifar100_attention236 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.attention_cifar("attention236_cifar", "cifar100")
