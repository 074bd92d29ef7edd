"""Image classification data for `model.fit`: local-first loading and deterministic `tf.data` pipelines.

Two calls make a run's data:

```python
splits, info = load_splits({"name": "cifar10", "validation_split": 0.1})
train_ds = make_pipeline(splits["train"], info, batch_size=128, training=True, seed=0,
                         augment={"random_crop": 4, "horizontal_flip": True})
test_ds = make_pipeline(splits["test"], info, batch_size=256, training=False, seed=0)
```

Pipelines yield `(images, labels)`: float32 images holding raw pixel values in [0, 255] (the models carry their
own preprocessing) and one-hot float32 labels (or int32 class indices with `one_hot=False`).

## Data config (`load_splits`)

A plain dict (or `training.config.Config`); unknown keys raise `ValueError`.

- `name` (str, required): `fashion_mnist`, `mnist`, `cifar10`, `cifar100`, `imagenette`, `imagenet2012`
  (tensorflow-datasets names; `imagenette/320px-v2` or `cifar10:3.0.2` style config/version suffixes are passed
  to tfds as they are), `folder` (an image folder, see `path`) or `synthetic` (random learnable data for tests).
- `data_dir` (str, optional): looked in first, for every local format below.
- `download` (bool, default False): only when True may anything be fetched from the network.
- `validation_split` (int >= 1, float in (0, 1), or None / 0 for none): how much of the training set is held
  out as the validation split: a count (the shipped Fashion-MNIST and CIFAR recipes hold out 5000, He et al.'s
  45k/5k CIFAR split) or a fraction (`round(fraction * n)` examples). In-memory sets are split stratified by
  class (every class gives the same share; largest remainders get the rounding); image folders hold out a
  random subset, and large tfds sets the last examples of their stored order (shuffled once when prepared).
- `validation_seed` (int >= 0, default 0): chooses the held-out examples. It is not the run's seed, so every
  seed of a recipe trains and selects on the same split.
- `synthetic` (dict, for `name="synthetic"`): `num_examples` (int: the train size, test gets a quarter; or a
  dict `{"train": n, "test": n}`; default 512 / 128), `image_shape` (default (32, 32, 3)), `num_classes`
  (default 10), `seed` (default 0; the data does not change with the run's seed).
- `path` (str, for `name="folder"`): one subfolder per class, class names = subfolder names (sorted);
  `test_path` (optional): the same layout for the test split (without it the test split is None).
- `keep_empty_classes` (bool, default False, folders only): a class folder without a readable image is an
  error (it would become an output class no image teaches); True keeps it as a class, with a warning.
- `validate_images` (`"full"` (default) or `"header"`, folders only): `"full"` decodes every file once while
  listing, so `info.skipped` counts exactly the files that cannot be read and the pipelines never meet one
  (costs one decode pass: about a minute per 20k JPEGs on 2 cores); `"header"` only checks each file's magic
  bytes (for very large folders): files that pass it but fail to decode are dropped in the pipeline with a
  logged warning and are not counted.
- `crop_fraction` (float in (0, 1], default 0.875): the central fraction kept by evaluation pipelines of
  variable-size images (folders, imagenette, imagenet2012); "ResNet strikes back" evaluates at 0.95.
- `classes` (list of distinct label indices, in-memory sets only): keep those classes only, relabelled 0..k-1 in
  the order given (class names follow), in every split; the validation split is held out first, so it is the
  full dataset's validation images of those classes. `train_per_class` (int, in-memory sets only): the training
  split keeps that many images of each class, chosen by `validation_seed` (few-shot runs; the transfer
  experiment of `python -m training transfer_fashion_mnist_finetune`).
- `image_size`, `eval_image_size`: accepted and stored for the trainer, which passes them to `make_pipeline`.

## Where data is looked for (local data first; the first complete match wins)

1. IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
   `t10k-labels-idx1-ubyte`, each raw or gzip'd) for `fashion_mnist` / `mnist`: in `data_dir`,
   `data_dir/<fashion-mnist|mnist>`, `/usr/share/datasets/fashion-mnist` (Debian package
   `dataset-fashion-mnist`), `~/.keras/datasets/<fashion-mnist|mnist>`; Keras's `mnist.npz` for `mnist`.
2. CIFAR "python version" batches: `cifar-10-batches-py/` (`data_batch_1..5`, `test_batch`, `batches.meta`)
   or `cifar-100-python/` (`train`, `test`, `meta`; fine labels) in `data_dir`, `~/.keras/datasets` (also
   Keras 3's `cifar-10-batches-py-target/` layout).
3. tensorflow-datasets prepared data in `data_dir` or `$TFDS_DATA_DIR` / `~/tensorflow_datasets`, opened with
   `download=False` (tfds is imported only when `<dir>/<name>` exists, so a miss costs milliseconds).
4. With `download: True`: a reachability check (a TCP connect to the dataset's host, `REACHABILITY_TIMEOUT_S`)
   and then tfds's `download_and_prepare()`. `imagenet2012` cannot be downloaded: tfds prepares it from
   `ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar` put in `<data_dir>/downloads/manual/`.
5. Otherwise `DataNotFoundError` (a `ValueError`) naming every place looked at and what to put there.

## Augmentation (`make_pipeline(..., augment=...)`, training only; unknown keys raise `ValueError`)

- `random_crop` (int pixels, 0 = off): zero-pad by that many pixels on each side and crop a random window of
  the original size (He et al.'s CIFAR recipe: 4).
- `horizontal_flip` (bool): random left-right flip with probability 0.5.
- `random_resized_crop` (bool, or dict with `scale` (default (0.08, 1.0)) and `ratio` (default (3/4, 4/3))):
  Inception-style random area/aspect crop resized to `image_size` (ImageNet recipes).
- `randaugment` (None or dict): `magnitude` (0..10, required), `num_ops` (default 2), `magnitude_std` (default
  0: per-op Gaussian jitter of the magnitude, as timm's `mstd`), `implementation` (`"timm"` default, or
  `"keras"`). `"timm"` is timm's `rand-m{magnitude}-n{num_ops}-mstd{std}-inc1` policy (the one "ResNet strikes
  back" used: 15 ops, each applied with probability 0.5 at timm's magnitude scale) written in TF ops.
  `"keras"` is `keras.layers.RandAugment(factor=magnitude / 10)`, whose scale is Keras's own: factor 0.7
  rotates by up to 252 degrees and translates by up to 70%, so it is not the papers' policy.
- `mixup_alpha`, `cutmix_alpha` (float, 0 = off): `keras.layers.MixUp` / `keras.layers.CutMix` on each batch
  (needs `one_hot=True`); with both on, each batch gets one of them with probability 0.5 (as timm).
  Keras's CutMix accepts alpha in (0, 1].
- `random_erasing` (None, True or dict): Zhong et al.'s Random Erasing, last of the per-image steps. Each
  image gets, with `probability` (default 0.5), one rectangle of area fraction in `area` (default (0.02, 0.4))
  and height/width ratio in `aspect_ratio` (default (0.3, 1/0.3), drawn uniformly as the paper's code does)
  filled with `value`: `"random"` (default, the paper's RE-R: every pixel uniform in [0, 255]) or a number in
  [0, 255] (e.g. 0, or the dataset's mean pixel). Up to 10 draws look for a rectangle that fits inside the
  image, as timm; when none fits the image is left as it is.
- `trivial_augment` (bool): TrivialAugmentWide (Mueller & Hutter 2021, torchvision's wide ranges): one op per
  image of 14 (identity, shears up to 0.99, 32-pixel shifts, rotations up to 135 degrees, brightness / colour /
  contrast / sharpness factors 1 +- 0.99, posterize to 2 bits, solarize, autocontrast, equalize), chosen
  uniformly at a uniform magnitude bin of 31 with a random sign; stateless ops keyed per image, like
  `randaugment` (not both).
- `augmix` (None, True or dict): `keras.layers.AugMix` (Hendrycks et al. 2020) on each training image, after
  the per-image steps above: `num_chains` (default 3) chains of up to `chain_depth` (3) random ops at severity
  `factor` (0.3, in (0, 1]), mixed with Dirichlet(`alpha`) weights and blended with the image by Beta(`alpha`,
  `alpha`) (default 1.0). Keras' layer, in its own sequential map like the Keras RandAugment.
- `repeated_augmentation` (int, 0 or 1 = off): timm's / DeiT's RASampler for one device: each epoch takes
  `ceil(n / k)` images and shows each of them k times with different random augmentation, so an epoch keeps its
  n examples (and `steps_per_epoch` does not change), as in "ResNet strikes back" A1/A2 (k = 3).

## Determinism

For a given `seed` (and TF global seed) two pipelines yield the same batches in the same order, epoch after
epoch. Shuffles are seeded; every random choice of per-image augmentation comes from stateless TF random ops
keyed by a per-example seed drawn from `tf.data.Dataset.random(seed)`, so those maps run in parallel and stay
deterministic. In-memory datasets (Fashion-MNIST, CIFAR, any `(images, labels)` arrays) whose per-image
augmentation is only `random_crop`, `horizontal_flip` and `random_erasing` are augmented a whole batch at a
time instead, keyed by one seed per batch: the same augmentations at 8-10x the throughput on a CPU
(benchmarks/RESULTS.md), which leaves the cores to training; the random draws differ from the per-image path's.
The Keras layers with internal random state (MixUp, CutMix, `implementation="keras"` RandAugment) run in
their own sequential maps, which keeps the order in which they draw random numbers fixed (the arrangement
`tf.config.experimental.enable_op_determinism` asks for).

## Where each part lives

`sources.py` (`load_splits`, `steps_per_epoch`; IDX, CIFAR, synthetic data and every default dataset path),
`folders.py` (image folders), `tfds_source.py` (tensorflow-datasets and downloads), `records.py` (`DatasetInfo`,
`EncodedImages`, `DataNotFoundError`), `pipeline.py` (`make_pipeline`), `augment.py` (the `augment` config, crops,
flips, Random Erasing, MixUp / CutMix) and `randaugment.py` (timm's RandAugment).
"""

from training.data.augment import (AUGMENT_KEYS, RANDAUGMENT_KEYS, RANDOM_ERASING_KEYS, check_augment,
                                   random_erasing)
from training.data.pipeline import AUTOTUNE, CACHE_LIMIT_BYTES, DEFAULT_SHUFFLE_BUFFER, make_pipeline
from training.data.randaugment import RAND_AUGMENT_OPS, rand_augment
from training.data.records import DEFAULT_CROP_FRACTION, DataNotFoundError, DatasetInfo, EncodedImages
from training.data.sources import (CIFAR10_CLASSES, DATA_CONFIG_KEYS, DATASET_NAMES, DEBIAN_FASHION_MNIST_DIR,
                                   DEBIAN_FASHION_MNIST_PACKAGE, FASHION_MNIST_CLASSES, IDX_FILES, SYNTHETIC_KEYS,
                                   load_splits, steps_per_epoch)
from training.data.tfds_source import DOWNLOAD_HOSTS, REACHABILITY_TIMEOUT_S, SMALL_IMAGE_SIDE, can_reach

__all__ = [
    "AUGMENT_KEYS", "AUTOTUNE", "CACHE_LIMIT_BYTES", "CIFAR10_CLASSES", "DATASET_NAMES", "DATA_CONFIG_KEYS",
    "DEBIAN_FASHION_MNIST_DIR", "DEBIAN_FASHION_MNIST_PACKAGE", "DEFAULT_CROP_FRACTION", "DEFAULT_SHUFFLE_BUFFER",
    "DOWNLOAD_HOSTS", "DataNotFoundError", "DatasetInfo", "EncodedImages", "FASHION_MNIST_CLASSES", "IDX_FILES",
    "RANDAUGMENT_KEYS", "RANDOM_ERASING_KEYS", "RAND_AUGMENT_OPS", "REACHABILITY_TIMEOUT_S", "SMALL_IMAGE_SIDE",
    "SYNTHETIC_KEYS", "can_reach", "check_augment", "load_splits", "make_pipeline", "rand_augment", "random_erasing",
    "steps_per_epoch",
]
