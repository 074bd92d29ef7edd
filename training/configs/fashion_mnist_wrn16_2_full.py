"""Fashion-MNIST WRN-16-2, the full schedule of `fashion_mnist_resnet20_full` on a wider network, 40 epochs.

The augmentations (pad-and-crop, flips, Random Erasing), label smoothing 0.1, cosine schedule and flip-TTA
evaluation of `fashion_mnist_resnet20_full`, for 40 epochs instead of 30, on WRN-16-2 (Zagoruyko & Komodakis
2016: 0.69M parameters, 2.6x ResNet-20's) in bfloat16 where the CPU computes it natively (`precision="auto"`),
with one test evaluation at the end instead of one per epoch. Measured 2026-12-02 on 2 Intel Xeon cores with
AMX (bfloat16, 87-90 s per epoch alone): **0.9524 test accuracy, 0.9539 with flip TTA**, in 70.4 minutes (epochs
1-8 sharing the cores with test and CI runs; about 60 minutes alone). At 30 epochs: 0.9478 / 0.9491. ResNet-20's full
recipe: 0.9460 / 0.9474.

Run: python -m training fashion_mnist_wrn16_2_full [--smoke] [--set key=value ...]
"""

from training.configs import fashion_mnist_resnet20_full


def get_config():
    config = fashion_mnist_resnet20_full.get_config()
    config.model.name = "wrn16_2"
    config.epochs = 40
    config.precision = "auto"
    config.eval_test_each_epoch = False
    return config
