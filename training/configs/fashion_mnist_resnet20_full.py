"""Fashion-MNIST ResNet-20, the full schedule: 60 epochs, 2-pixel pad-and-crop plus flips, cosine.

Run: python -m training fashion_mnist_resnet20_full [--smoke] [--set key=value ...]
"""

from training.config import Config
from training.configs import fashion_mnist_resnet20


def get_config():
    config = fashion_mnist_resnet20.get_config()
    config.augment = Config(random_crop=2, horizontal_flip=True)
    config.epochs = 60
    config.schedule.warmup_epochs = 1.0
    return config
