"""Fashion-MNIST ResNet-20, the full schedule: 30 epochs, pad-and-crop, flips and Random Erasing, cosine.

Thirty epochs (7.5x the default's four) with 2-pixel pad-and-crop, flips, Random Erasing (Zhong et al.
2017, p = 0.5) and label smoothing 0.1, reporting the flip-TTA accuracy too (`eval_flip_tta`). Measured
2026-12-02 on 2 AVX-512 cores (float32, 49 min of training): 0.9460 test accuracy, 0.9474 with flip TTA;
the same schedule without erasing and smoothing ended at 0.9422, with erasing alone at 0.9440 (README).

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
