"""ImageNet ResNet-50, the step recipe of He et al. (2015): SGD 0.9, batch 256, lr 0.1 divided by 10 at
epochs 30 and 60, 90 epochs, weight decay 1e-4, random-resized crops and flips (scale augmentation).

The ImageNet data needs tensorflow-datasets' manual download (imagenet2012): see training/data/ (`training.data`).

Run: python -m training imagenet_resnet50 [--smoke] [--set key=value ...]
"""

from training.config import Config
from training.configs import _base


def get_config():
    config = _base.base_config()
    config.model.name = "resnet50"
    config.data = _base.data_config("imagenet2012", image_size=224, eval_image_size=224, crop_fraction=0.875,
                                    validation_split=_base.IMAGENET_VALIDATION_SIZE)
    config.augment = Config(random_resized_crop=True, horizontal_flip=True)
    config.epochs = 90
    config.batch_size = 256
    config.schedule.decay_epochs = [30, 60]
    config.smoke = _base.synthetic_smoke((72, 72, 3), 1000, **{"data.image_size": 64, "data.eval_image_size": 64})
    return config
