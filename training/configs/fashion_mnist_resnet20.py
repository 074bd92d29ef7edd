"""Fashion-MNIST ResNet-20: the default recipe, a short schedule for 2 CPU cores.

ResNet-20 (He et al. 2015's CIFAR network, 0.27M parameters) on the 60k/10k Fashion-MNIST split at
28x28x1, raw pixels in (the model's own preprocessing scales them). Four epochs of SGD with Nesterov
momentum on a cosine schedule with a short warm-up and horizontal flips: about ten minutes on 2 cores
and at least 0.92 test accuracy (see README for the measured figure). `fashion_mnist_resnet20_full` is
the long schedule.

Run: python -m training fashion_mnist_resnet20 [--smoke] [--set key=value ...]
"""

from training.config import Config
from training.configs import _base


def get_config():
    config = _base.base_config()
    config.model = Config(name="resnet20", kwargs={})
    config.data = _base.data_config("fashion_mnist")
    config.augment = Config(horizontal_flip=True)
    config.epochs = 4
    config.batch_size = 128
    config.optimizer.nesterov = True
    config.optimizer.weight_decay = 5e-4
    config.schedule = Config(name="cosine", decay_epochs=[], decay_factor=0.1, warmup_epochs=0.3,
                             warmup_learning_rate=0.01)
    # A test-accuracy curve in history.csv / W&B (time to 92% and 94%); the final model is the last epoch's.
    config.eval_test_each_epoch = True
    config.smoke = Config({"epochs": 1, "steps_per_epoch": 3, "batch_size": 16})
    return config
