"""CIFAR-10 Attention-92, Wang et al. (2017) (error 4.99 / 4.14 / 3.90% for 92 / 236 / 452).

Run: python -m training cifar10_attention92 [--smoke] [--set key=value ...]
"""

from training.configs import _base


def get_config():
    return _base.attention_cifar("attention92_cifar")
