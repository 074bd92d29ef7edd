"""Every config key, with its default, and each paper's training procedure (the family builders that the tables
of `_variants.py` fill in with a model and a dataset).

Keys:
    model.name: registered keras_resnets model name; model.kwargs: overrides passed to create_model.
    model.weights: None (random initialisation), or pretrained weights for everything but the classifier (the
        model always gets a new head sized to the data's classes): a `.keras` file or a preset folder
        (`keras_resnets.save_preset`; both loaded layer by layer, by name), a timm / torchvision `.safetensors` / `.pth` / `.pt` checkpoint (`keras_resnets.conversion`), or
        anything else the model factories' `weights=` takes (a hub tag such as "timm/resnet50.a1_in1k"), passed
        through to it. training/finetune.py says how.
    model.stem_whitening: False, or True: the first convolution's filters start as the whitening transform of
        the training images' patches (hlb-CIFAR10 / airbench; training/whitening.py), then train as the rest.
        Not with model.weights.
    data: see training/data/__init__.py (name, data_dir, download, validation_split, validation_seed, ...).
        Every shipped recipe holds out a validation split of its training set (`VALIDATION_SIZE`, 5,000
        stratified images for Fashion-MNIST and CIFAR, chosen by validation_seed=0 for every run seed): the
        per-epoch curves (`val_*` in history.csv and W&B) and the best checkpoint come from it, and the test
        split is evaluated once, at the end, on the last epoch's model.
    augment: see training/data/augment.py (random_crop, horizontal_flip, randaugment, mixup_alpha,
        random_erasing, ...).
    epochs, batch_size (global, split across replicas), steps_per_epoch (None = one pass over the data),
    eval_batch_size (None = batch_size).
    optimizer: name (sgd | lamb | adamw), learning_rate, momentum, nesterov, weight_decay (decoupled,
        multiplied by the learning rate as Keras does), no_decay (variable-name substrings exempt from
        weight decay: BatchNormalization and biases), ema_momentum (None, or e.g. 0.999: an exponential moving
        average of the weights, Keras' `use_ema`; `val_ema_accuracy` / `val_ema_loss` per epoch beside the raw
        weights' `val_*`, and the test split and the export use the averaged weights; not with freezing
        fine-tuning phases), gradient_accumulation_steps (None or 1 = off; N averages the gradients of N
        batches into one update: an N times larger effective batch; the epoch must be a whole number of updates,
        and `schedule` counts updates), clipnorm / global_clipnorm (None, or the largest gradient norm per variable / over all of them).
    schedule: name (step | cosine | constant), decay_epochs and decay_factor (step), warmup_epochs,
        warmup_learning_rate (the rate held during a step-schedule warm-up; the start of a cosine one).
    finetune: head_epochs (phase 1: that many epochs train the new classifier alone on the frozen backbone,
        BatchNorm in inference mode, at optimizer.learning_rate; 0 = no such phase), unfreeze ("all" or N: what
        phase 2, the remaining epochs, trains besides the classifier: every layer or the last N stages),
        learning_rate (phase 2's peak rate; None = optimizer.learning_rate), layer_decay (None, or a factor in
        (0, 1]: layer-wise learning-rate decay, each stage below the classifier at that factor of the rate of
        the one above; SGD only; training/finetune.py says why). Each phase runs the `schedule`
        over its own epochs (warm-up included). All off by default: head_epochs=0, unfreeze="all" and
        learning_rate=None train as before. The `finetune` recipe turns them on. A phase that freezes layers
        (head_epochs > 0, unfreeze=N) needs the TensorFlow backend (training/finetune.py says why).
    distill: teacher (None, or a `.keras` file, preset folder or pretrained tag, "timm/resnet50.a1_in1k", that
        takes the same raw pixels and predicts the data's classes, e.g. an exported model of a larger recipe),
        temperature (T, default 4), weight (the
        teacher's share of the loss, default 0.5): knowledge distillation, training/distill.py.
    loss: name (categorical_crossentropy | binary_crossentropy), label_smoothing, bce_target_threshold
        (binary targets = mixed targets > threshold, as in "ResNet strikes back").
    precision: float32 | mixed_float16 | mixed_bfloat16 | auto (mixed_bfloat16 on TPUs and on CPUs with native
        bfloat16, AVX512_BF16 or AMX; float32 elsewhere; `training.train.resolve_precision`). strategy: see
        training/distribute.py.
    sync_batch_norm, jit_compile, steps_per_execution, seed, deterministic (TF op determinism).
    eval_flip_tta: also evaluate with flip test-time augmentation (`keras_resnets.flip_tta`: the mean of the
        softmax of each image and of its mirror image): test_accuracy_flip_tta in the summary and the export's
        metadata, and val_flip_tta_accuracy after every epoch on the validation split.
    evaluate_test: evaluate the test split once, at the end (True, every shipped recipe). False for a tuning
        run: the run never reads the test split, its final evaluation is the validation split's, and its summary
        and metadata hold `validation_*` figures only (`--set evaluate_test=False`; benchmarks/tuning/).
    backup_every_steps: how often the crash backup is written (also at every epoch end).
    wandb: mode (auto | online | offline | disabled; auto = online when an API key is configured),
        project, entity, tags.
    export_dir: where the final model is exported (saved_models/<run name>/: model.keras and metadata.json).
    export_formats: the deployment files written beside them, each loaded back and checked against the Keras
        model by `keras_resnets.export.export_model` (names from saved_model, float32, float16, dynamic_int8,
        int8, onnx; () for none). Default ("saved_model", "int8"): the SavedModel and the full-integer LiteRT
        file, calibrated and verified on validation images (the training split's when there is no validation
        split; never the test split). A missed verification target fails the run (exit 1): the export folder
        then keeps model.keras and metadata.json only, the workdir everything. --smoke exports none.
    smoke: dotted overrides applied by --smoke.
"""

from training.config import Config

# Training images held out for validation by the shipped Fashion-MNIST and CIFAR recipes (stratified by class,
# the same images for every run seed: data.validation_seed). He et al. (2015) hold out 5k of CIFAR's 50k.
VALIDATION_SIZE = 5000
# ImageNet recipes hold out 10,000 of the 1.28M training images (the published validation set is the test set).
IMAGENET_VALIDATION_SIZE = 10000


def data_config(name, **overrides) -> Config:
    """Every data key (training/data/__init__.py documents them) with its default, then `overrides`."""
    config = Config(name=name, data_dir=None, download=False, validation_split=None, validation_seed=0,
                    synthetic=None, image_size=None, eval_image_size=None, crop_fraction=None,
                    keep_empty_classes=False, classes=None, train_per_class=None)
    for key, value in overrides.items():
        config[key] = value
    return config


def synthetic_smoke(image_shape, num_classes, **extra) -> Config:
    """A smoke override that swaps the dataset for a small synthetic one of the same shape."""
    return Config({"epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "data.name": "synthetic",
                   "data.validation_split": None,
                   "data.synthetic": {"num_examples": {"train": 64, "test": 16}, "image_shape": image_shape,
                                      "num_classes": num_classes}, **extra})


def base_config() -> Config:
    """Every key with its default value (the module docstring says what each means)."""
    return Config(
        model=dict(name="resnet20", kwargs={}, weights=None, stem_whitening=False),
        data=data_config("fashion_mnist"),
        augment=dict(),
        epochs=1,
        batch_size=128,
        steps_per_epoch=None,
        eval_batch_size=None,
        optimizer=dict(
            name="sgd",
            learning_rate=0.1,
            momentum=0.9,
            nesterov=False,
            weight_decay=1e-4,
            no_decay=["bias", "gamma", "beta"],
            ema_momentum=None,
            gradient_accumulation_steps=None,
            clipnorm=None,
            global_clipnorm=None,
        ),
        schedule=dict(name="step", decay_epochs=[], decay_factor=0.1, warmup_epochs=0.0, warmup_learning_rate=0.0),
        finetune=dict(head_epochs=0, unfreeze="all", learning_rate=None, layer_decay=None),
        loss=dict(name="categorical_crossentropy", label_smoothing=0.0, bce_target_threshold=None),
        distill=dict(teacher=None, temperature=4.0, weight=0.5),
        precision="float32",
        strategy="auto",
        sync_batch_norm=False,
        jit_compile=False,
        steps_per_execution=1,
        seed=0,
        deterministic=False,
        eval_flip_tta=False,
        evaluate_test=True,
        backup_every_steps=200,
        wandb=dict(mode="auto", project="keras_resnets", entity=None, tags=[]),
        export_dir="saved_models",
        export_formats=("saved_model", "int8"),
        smoke=dict(epochs=1, steps_per_epoch=3, batch_size=16),
    )


def he2015_cifar(model: str, dataset: str = "cifar10") -> Config:
    """He et al. (2015) Section 4.2: SGD 0.9, wd 1e-4, batch 128, lr 0.1 / 10 at 32k and 48k, stop at 64k
    iterations, on a 45k/5k train/val split, with 4-pixel pad + random crop + horizontal flip.

    Iterations become epochs at 45,000 / 128 = 351.6 steps per epoch: 32k -> 91, 48k -> 137, 64k -> 182.
    ResNet-110 warms up at lr 0.01 for about 400 iterations (~1 epoch); 1202 too.
    """
    config = base_config()
    config.model.name = model
    config.data = data_config(dataset, validation_split=VALIDATION_SIZE)
    config.augment = Config(random_crop=4, horizontal_flip=True)
    config.smoke = synthetic_smoke((32, 32, 3), 100 if dataset == "cifar100" else 10)
    config.epochs = 182
    config.schedule.decay_epochs = [91, 137]
    if model.endswith(("110", "1202")):
        config.schedule.warmup_epochs = 1.0
        config.schedule.warmup_learning_rate = 0.01
    return config


def he2016_preact_cifar(model: str, dataset: str = "cifar10") -> Config:
    """He et al. (2016): the 2015 recipe for 164 epochs, lr / 10 at 81 and 122 epochs (32k/48k of 64k
    iterations on the full 50k set at batch 128), warm-up at 0.01 for 400 iterations. The paper trains on all
    50k images; this recipe keeps the 45k/5k split of every shipped recipe, so epochs are 10% shorter."""
    config = he2015_cifar(model, dataset)
    config.epochs = 164
    config.schedule.decay_epochs = [81, 122]
    config.schedule.warmup_epochs = 1.0
    config.schedule.warmup_learning_rate = 0.01
    return config


def densenet_cifar(model: str, dataset: str = "cifar10") -> Config:
    """Huang et al. (2016): batch 64, 300 epochs, lr 0.1 / 10 at 50% and 75%, wd 1e-4, Nesterov 0.9,
    standard augmentation (pad-crop, flip); on 45k of the 50k training images (the 5k validation split)."""
    config = he2015_cifar(model, dataset)
    config.batch_size = 64
    config.epochs = 300
    config.optimizer.nesterov = True
    config.schedule.decay_epochs = [150, 225]
    config.schedule.warmup_epochs = 0.0
    return config


def resnext_cifar(model: str, dataset: str = "cifar10") -> Config:
    """Xie et al. (2016): batch 128, 300 epochs, lr 0.1 / 10 at 150 and 225, wd 5e-4, momentum 0.9."""
    config = densenet_cifar(model, dataset)
    config.batch_size = 128
    config.optimizer.nesterov = False
    config.optimizer.weight_decay = 5e-4
    return config


def wrn_cifar(model: str, dataset: str = "cifar10") -> Config:
    """Zagoruyko & Komodakis (2016), CIFAR: SGD Nesterov 0.9, wd 5e-4 on every weight (their code decays
    BatchNorm's too), batch 128, lr 0.1 x 0.2 at 60, 120 and 160 epochs, stop at 200; pad-crop + flip on
    45k of the 50k training images (the paper uses all 50k; 5k are the validation split here), dropout 0.3
    between a block's convolutions (its best CIFAR results)."""
    config = he2015_cifar(model, dataset)
    config.model.kwargs = {"dropout_rate": 0.3}
    config.epochs = 200
    config.optimizer.nesterov = True
    config.optimizer.weight_decay = 5e-4
    config.optimizer.no_decay = []
    config.schedule.decay_epochs = [60, 120, 160]
    config.schedule.decay_factor = 0.2
    config.schedule.warmup_epochs = 0.0
    return config


def attention_cifar(model: str, dataset: str = "cifar10") -> Config:
    """Wang et al. (2017), CIFAR: SGD Nesterov 0.9, wd 1e-4, batch 64, lr 0.1 / 10 at 64k and 96k, stop
    at 160k iterations (on 50k images: 82, 123 and 205 epochs); pad-crop + flip."""
    config = densenet_cifar(model, dataset)
    config.epochs = 205
    config.schedule.decay_epochs = [82, 123]
    return config


def rsb_imagenet(variant: str) -> Config:
    """ResNet strikes back (Wightman et al. 2021), ResNet-50 procedures A1 / A2 / A3 (REFERENCE.md)."""
    table = {
        "a1": dict(epochs=600, lr=5e-3, wd=0.01, mixup=0.2, m=7, mstd=0.5, ra=3, drop_path=0.05, size=224),
        "a2": dict(epochs=300, lr=5e-3, wd=0.02, mixup=0.1, m=7, mstd=0.0, ra=3, drop_path=0.05, size=224),
        "a3": dict(epochs=100, lr=8e-3, wd=0.02, mixup=0.1, m=6, mstd=0.0, ra=0, drop_path=0.0, size=160),
    }[variant]
    config = base_config()
    config.model.name = "resnet50_v1_5"
    config.model.kwargs = Config(drop_path_rate=table["drop_path"], zero_init_last_bn=True)
    config.data = data_config("imagenet2012", image_size=table["size"], eval_image_size=224, crop_fraction=0.95,
                              validation_split=IMAGENET_VALIDATION_SIZE)
    config.augment = Config(
        random_resized_crop=True,
        horizontal_flip=True,
        randaugment=dict(magnitude=table["m"], magnitude_std=table["mstd"], num_ops=2),
        mixup_alpha=table["mixup"],
        cutmix_alpha=1.0,
        repeated_augmentation=table["ra"],
    )
    config.epochs = table["epochs"]
    config.batch_size = 2048
    config.optimizer = Config(name="lamb", learning_rate=table["lr"], momentum=0.0, nesterov=False,
                              weight_decay=table["wd"], no_decay=["bias", "gamma", "beta"])
    config.schedule = Config(name="cosine", decay_epochs=[], decay_factor=0.1, warmup_epochs=5.0,
                             warmup_learning_rate=1e-6)
    config.loss = Config(name="binary_crossentropy", label_smoothing=0.0, bce_target_threshold=0.2)
    config.precision = "mixed_bfloat16"
    config.smoke = synthetic_smoke((72, 72, 3), 1000, **{"data.image_size": 64, "data.eval_image_size": 64,
                                                         "data.crop_fraction": None})
    return config
