"""Fashion-MNIST ResNet-20: the default recipe, a short schedule for 2 CPU cores.

ResNet-20 (He et al. 2015's CIFAR network, 0.27M parameters) on Fashion-MNIST at 28x28x1, raw pixels in (the
model's own preprocessing scales them): 55,000 training images, a stratified 5,000-image validation split
of the training set (the same for every seed) evaluated after each epoch, and the 10,000 test images
evaluated once, at the end. Four epochs of SGD with Nesterov momentum on a cosine schedule with a short
warm-up, and horizontal flips. `fashion_mnist_resnet20_full` is the long schedule, `_fast` the 15-minute one.

Run: python -m training fashion_mnist_resnet20 [--smoke] [--set key=value ...]
"""

from training.config import Config
from training.configs import _base


def get_config():
    config = _base.base_config()
    config.model.name = "resnet20"
    config.data = _base.data_config("fashion_mnist", validation_split=_base.VALIDATION_SIZE)
    config.augment = Config(horizontal_flip=True)
    config.epochs = 4
    config.batch_size = 128
    config.optimizer.nesterov = True
    config.optimizer.weight_decay = 5e-4
    config.schedule = Config(name="cosine", decay_epochs=[], decay_factor=0.1, warmup_epochs=0.3,
                             warmup_learning_rate=0.01)
    config.smoke = Config({"epochs": 1, "steps_per_epoch": 3, "batch_size": 16})
    return config
