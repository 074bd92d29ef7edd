"""The shipped recipes that differ from each other only in values: one table per family.

A family is one paper's training procedure, written once as a builder in `_base.py` (`he2015_cifar`,
`densenet_cifar`, ...). Its table names each recipe, the builder's arguments (the model, the dataset) and the
recipe's `--list` line. `training.config.load_recipe` builds these by name, as it loads the recipe files of
this folder; a recipe that differs in more than values (its own augmentation, schedule or data) keeps a file.
Every recipe here runs as `python -m training NAME [--smoke] [--set key=value ...]`.
"""

import dataclasses
from typing import Callable

from training.config import Config
from training.configs import _base

DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
CIFAR = tuple(DATASET_TITLES)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One recipe of a family: `build(*args)` is its config, `description` its one line in `--list`."""

    build: Callable[..., Config]
    args: tuple
    description: str

    def get_config(self) -> Config:
        """The recipe's config, as a recipe file's `get_config()` returns it."""
        return self.build(*self.args)


def cifar_family(build, description, *, results, rows):
    """A CIFAR family's table: `{recipe name: Variant}`.

    Args:
        build: callable, the family's builder, `build(model, dataset)`.
        description: str, the `--list` line, with `{data}` (the dataset's title), `{label}` (the row's) and
            `{results}` (the paper's figures on the dataset) to fill in.
        results: dict, dataset name to the paper's figures on it.
        rows: dict, recipe name to `(model, dataset, label)`.
    """
    return {name: Variant(build, (model, dataset), description.format(
                data=DATASET_TITLES[dataset], label=label, results=results.get(dataset, "")))
            for name, (model, dataset, label) in rows.items()}


# He et al. (2015) Section 4.2: ResNets of 6n + 2 layers.
HE2015_RESNETS = cifar_family(
    _base.he2015_cifar, "{data} ResNet-{label}, He et al. (2015) Section 4.2 ({results}).",
    results={"cifar10": "error 8.75/7.51/7.17/6.97/6.43/7.93% for 20/32/44/56/110/1202"},
    rows={f"cifar10_resnet{depth}": (f"resnet{depth}", "cifar10", depth) for depth in (20, 32, 44, 56, 110, 1202)})

# He et al. (2015) Figure 6: the same networks without shortcuts, trained the same way.
HE2015_PLAIN = cifar_family(
    _base.he2015_cifar, "{data} plain-{label} (no shortcuts), He et al. (2015) Figure 6: the degradation baseline.",
    results={}, rows={f"cifar10_plain{depth}": (f"plain{depth}", "cifar10", depth) for depth in (20, 32, 44, 56, 110)})

# He et al. (2016), "Identity mappings in deep residual networks".
HE2016_PREACT = cifar_family(
    _base.he2016_preact_cifar, "{data} pre-activation ResNet-{label}, He et al. (2016) ({results}).",
    results={"cifar10": "error 5.46 / 4.92%", "cifar100": "error 24.33 / 22.71%"},
    rows={f"{data}_preact_resnet{depth}": (f"preact_resnet{depth}", data, depth)
          for data in CIFAR for depth in (164, 1001)})

# Huang et al. (2016): DenseNet-BC, depth_growth-rate.
DENSENET_BC = cifar_family(
    _base.densenet_cifar, "{data} DenseNet-BC ({label}), Huang et al. (2016) ({results}).",
    results={"cifar10": "error 4.51 / 3.62 / 3.46% for 100_12 / 250_24 / 190_40",
             "cifar100": "error 22.27 / 17.60 / 17.18%"},
    rows={f"{data}_densenet_bc_{size}": (f"densenet_bc_{size}", data, size)
          for data in CIFAR for size in ("100_12", "190_40", "250_24")})

# Xie et al. (2016): ResNeXt-29, cardinality x bottleneck width.
RESNEXT29 = cifar_family(
    _base.resnext_cifar, "{data} ResNeXt-29 {label}, Xie et al. (2016) ({results}).",
    results={"cifar10": "error 3.65 / 3.58% for 8x64d / 16x64d", "cifar100": "error 17.77 / 17.31%"},
    rows={f"{data}_resnext29_{width}": (f"resnext29_{width}", data, width)
          for data in CIFAR for width in ("8x64d", "16x64d")})

# Zagoruyko & Komodakis (2016): 3.89% / 18.85% error on CIFAR-10 / 100 with dropout 0.3 between a block's
# convolutions, as here.
WRN = cifar_family(
    _base.wrn_cifar, "{data} WRN-{label}, Zagoruyko & Komodakis (2016)",
    results={}, rows={f"{data}_wrn28_10": ("wrn28_10", data, "28-10") for data in CIFAR})

# Wang et al. (2017): Residual Attention Networks for CIFAR.
ATTENTION = cifar_family(
    _base.attention_cifar, "{data} Attention-{label}, Wang et al. (2017) ({results}).",
    results={"cifar10": "error 4.99 / 4.14 / 3.90% for 92 / 236 / 452", "cifar100": "error 21.71 / 21.16 / 20.45%"},
    rows={f"{data}_attention{depth}": (f"attention{depth}_cifar", data, depth)
          for data in CIFAR for depth in (92, 236, 452)})

# Wightman et al. (2021), "ResNet strikes back": ResNet-50 procedures A1 / A2 / A3 (their values: `_base`).
RSB_IMAGENET = {
    f"imagenet_resnet50_rsb_{procedure}": Variant(
        _base.rsb_imagenet, (procedure,),
        f"ImageNet ResNet-50, ResNet strikes back procedure {procedure.upper()} (Wightman et al. 2021; top-1 "
        "80.4 / 79.8 / 78.1 for A1 / A2 / A3).")
    for procedure in ("a1", "a2", "a3")}

# Transfer learning on real data this machine has: a ResNet-20 pre-trained on Fashion-MNIST's classes 0-4, then
# fine-tuned on classes 5-9 with 50 labelled images per class, against the same network trained from scratch on
# those 250 images for the same epochs and steps. Every value was fixed before any run; none was tuned.
TRANSFER_CLASSES = {"pretrain": [0, 1, 2, 3, 4], "finetune": [5, 6, 7, 8, 9], "scratch": [5, 6, 7, 8, 9]}
# The pre-trained model the fine-tuning runs start from: the export of `bash scripts/seed_runs.sh
# transfer_fashion_mnist_pretrain 0` (committed: 1 MB).
TRANSFER_PRETRAINED = "saved_models/transfer_fashion_mnist_pretrain-seed0/model.keras"


def transfer_fashion_mnist(role, bn_momentum=None):
    """The transfer experiment's recipes (`role`: "pretrain", "finetune" or "scratch"; `bn_momentum`, when given,
    the model's BatchNorm momentum instead of ResNet-20's 0.99).

    pretrain: the fast recipe (14 epochs, label smoothing, Random Erasing) on classes 0-4 (27,500 training
    images), exporting model.keras only. finetune / scratch: classes 5-9, `data.train_per_class=50` (the same
    250 images for every seed), batch 25 (10 steps per epoch), 30 epochs, the default recipe's SGD, cosine
    schedule and flips. finetune loads the pre-trained network in all but a new classifier, trains that
    classifier alone for 5 epochs at 0.1 (frozen backbone, BatchNorm in inference mode), then every layer for 25
    at 0.01; scratch trains every layer from random initialisation at 0.1 for all 30. Both are judged on the
    5,000 test images of classes 5-9, evaluated once at the end; the validation curves (2,500 images of those
    classes, held out of the full training set) are reported, not used to choose anything.

    After those runs, the scratch runs' validation accuracy was still climbing steeply at their last epoch with
    99-100% training accuracy: BatchNorm's moving statistics (momentum 0.99) lag over 300 steps. Momentum 0.9
    was then compared on the validation split only (benchmarks/tuning/transfer_fashion_mnist_scratch/) and gave
    the stronger baseline, `transfer_fashion_mnist_scratch_bn0.9`.
    """
    from training.configs import fashion_mnist_resnet20, fashion_mnist_resnet20_fast

    if role not in TRANSFER_CLASSES:
        raise ValueError(f"role must be one of {list(TRANSFER_CLASSES)}. Received: {role!r}")
    if role == "pretrain":
        config = fashion_mnist_resnet20_fast.get_config()
        config.eval_flip_tta = False
    else:
        config = fashion_mnist_resnet20.get_config()
        config.data.train_per_class = 50
        config.batch_size = 25
        config.epochs = 30
        config.smoke = Config({"epochs": 1, "steps_per_epoch": 3, "batch_size": 16, "model.weights": None,
                               "finetune.head_epochs": 0})
    config.data.classes = TRANSFER_CLASSES[role]
    config.export_formats = []
    if bn_momentum is not None:
        config.model.kwargs = {**config.model.kwargs, "bn_momentum": bn_momentum}
    if role == "finetune":
        config.model.weights = TRANSFER_PRETRAINED
        config.finetune = Config(head_epochs=5, unfreeze="all", learning_rate=0.01, layer_decay=None)
    return config


TRANSFER = {
    "transfer_fashion_mnist_pretrain": Variant(
        transfer_fashion_mnist, ("pretrain",),
        "Transfer experiment, step 1: ResNet-20 pre-trained on Fashion-MNIST classes 0-4 (the fast recipe)."),
    "transfer_fashion_mnist_finetune": Variant(
        transfer_fashion_mnist, ("finetune",),
        "Transfer experiment: that network fine-tuned on classes 5-9 from 50 labelled images per class."),
    "transfer_fashion_mnist_scratch": Variant(
        transfer_fashion_mnist, ("scratch",),
        "Transfer experiment baseline: ResNet-20 trained from scratch on the same 250 images, same budget."),
    "transfer_fashion_mnist_scratch_bn0.9": Variant(
        transfer_fashion_mnist, ("scratch", 0.9),
        "Transfer experiment baseline with BatchNorm momentum 0.9 (chosen on validation): the stronger one."),
}

FAMILIES = (HE2015_RESNETS, HE2015_PLAIN, HE2016_PREACT, DENSENET_BC, RESNEXT29, WRN, ATTENTION, RSB_IMAGENET,
            TRANSFER)
# Every table recipe by name (tests/test_training_config.py checks that no name is in two tables or files).
VARIANTS = {name: variant for family in FAMILIES for name, variant in family.items()}
