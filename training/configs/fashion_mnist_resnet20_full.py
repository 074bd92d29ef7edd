"""Fashion-MNIST ResNet-20, the full schedule: 30 epochs, pad-and-crop, flips and Random Erasing, cosine.

The default recipe's network and data split for thirty epochs (7.5x the default's four) with 2-pixel
pad-and-crop, flips, Random Erasing (Zhong et al. 2017, p = 0.5), label smoothing 0.1 and a one-epoch
warm-up, reporting the flip-TTA accuracy too (`eval_flip_tta`). Measured figures, with their seeds and
commands, are in benchmarks/RESULTS.md.

Run: python -m training fashion_mnist_resnet20_full [--smoke] [--set key=value ...]
"""

from training.config import Config
from training.configs import fashion_mnist_resnet20


def get_config():
    config = fashion_mnist_resnet20.get_config()
    config.augment = Config(random_crop=2, horizontal_flip=True, random_erasing=True)
    config.loss.label_smoothing = 0.1
    config.eval_flip_tta = True
    config.epochs = 30
    config.schedule.warmup_epochs = 1.0
    return config
