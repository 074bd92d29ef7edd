"""Fine-tune a pretrained network on your own image folder: a new head first, then the whole network.

An image folder (`data.path`: one subfolder of images per class; `data.test_path`, optional, the same layout
for a test set evaluated once at the end) at 224x224, 10% of the training images held out for validation
(the per-epoch curves and the best checkpoint). The model (resnet50_v1_5, timm's and torchvision's "resnet50",
by default) gets `model.weights` (a `.keras` file, a timm / torchvision `.safetensors` / `.pth` checkpoint or a
pretrained tag) in everything but a new classifier for the folder's classes. Phase 1: 2 epochs train the head
alone on the frozen backbone (BatchNorm in inference mode) at 0.01; phase 2: 8 epochs train every layer
(`finetune.unfreeze`: "all", or the last N stages) at 0.001, each phase a cosine schedule with a one-epoch
warm-up. SGD with Nesterov momentum, batch 32, label smoothing 0.1, random-resized crops and flips.
training/finetune.py says how the weights load and what each phase trains.

Run: python -m training finetune --set data.path=my_photos/ --set model.weights=resnet50.a1_in1k.safetensors
    [--set model.name=resnet50_v1_5] [--set data.test_path=my_test_photos/] [--set finetune.unfreeze=2]
--smoke runs two steps on synthetic images without pretrained weights (the data and model path only).
"""

from training.config import Config
from training.configs import _base


def get_config():
    config = _base.base_config()
    config.model.name = "resnet50_v1_5"
    config.data = _base.data_config("folder", path=None, test_path=None, validation_split=0.1, image_size=224,
                                    eval_image_size=224, crop_fraction=0.875)
    config.augment = Config(random_resized_crop=True, horizontal_flip=True)
    config.epochs = 10
    config.batch_size = 32
    config.optimizer.learning_rate = 0.01
    config.optimizer.nesterov = True
    config.schedule = Config(name="cosine", decay_epochs=[], decay_factor=0.1, warmup_epochs=1.0,
                             warmup_learning_rate=0.0)
    config.finetune = Config(head_epochs=2, unfreeze="all", learning_rate=0.001, layer_decay=None)
    config.loss.label_smoothing = 0.1
    config.precision = "auto"
    # Without model.weights nothing is pretrained to freeze: the smoke run trains every layer.
    config.smoke = _base.synthetic_smoke((72, 72, 3), 5, **{"data.image_size": 64, "data.eval_image_size": 64,
                                                            "finetune.head_epochs": 0})
    return config
