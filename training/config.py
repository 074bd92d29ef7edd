"""Run configurations: recipe files, command-line overrides and the smoke override.

A recipe is a Python file with `get_config()` returning a `Config` (a dict with attribute access), in
`training/configs/<name>.py` or at any path, or a row of a table of recipes that differ only in values
(`training/configs/_variants.py`). Its `smoke` entry holds dotted overrides that turn the run
into a check of a minute or less (`--smoke`). Command-line `--set key.sub=value` overrides any value; values
are parsed as Python literals and must keep the type of the value they replace.
"""

import ast
import copy
import difflib
import importlib
import importlib.util
import os
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"


class Config(dict):
    """A nested dict with attribute access (`config.optimizer.learning_rate`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in self.items():
            if isinstance(value, dict) and not isinstance(value, Config):
                super().__setitem__(key, Config(value))

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"Config has no key {key!r}. Keys: {sorted(self)}") from None

    def __setattr__(self, key, value):
        self[key] = Config(value) if isinstance(value, dict) and not isinstance(value, Config) else value

    def __deepcopy__(self, memo):
        return Config(copy.deepcopy(dict(self), memo))

    def to_dict(self):
        return {k: v.to_dict() if isinstance(v, Config) else v for k, v in self.items()}


def recipe_variants() -> dict:
    """The shipped recipes that are rows of a table, not files: `{name: Variant}` (`training/configs/_variants.py`,
    where recipes that differ only in values are listed)."""
    # Loaded by name, like the recipe files: the tables import this module (for `Config`).
    return importlib.import_module("training.configs._variants").VARIANTS


def _recipe_files():
    """The names of the recipe files in training/configs/ (private modules aside)."""
    return [p.stem for p in CONFIG_DIR.glob("*.py") if not p.name.startswith("_")]


def list_recipes():
    """The shipped recipe names: the files in training/configs/ not starting with an underscore, and the rows of
    the tables of variants (`recipe_variants`)."""
    return sorted([*_recipe_files(), *recipe_variants()])


def recipe_description(name: str) -> str:
    """A shipped recipe's one-line description: a table row's own, or a recipe file's docstring summary line, read
    from the file without importing it. A summary that runs on to a second line is cut at its first ': '
    (`"ImageNet ResNet-50, the step recipe of He et al. (2015)"`)."""
    variant = recipe_variants().get(name)
    if variant is not None:
        return variant.description
    doc = (ast.get_docstring(ast.parse((CONFIG_DIR / f"{name}.py").read_text())) or "").strip()
    if not doc:
        return ""
    first_line = doc.splitlines()[0].strip()
    paragraph = " ".join(doc.split("\n\n")[0].split())
    return paragraph.split(": ")[0] if paragraph != first_line and ": " in paragraph else first_line


def load_recipe(name_or_path: str) -> Config:
    """Loads a recipe by shipped name (`fashion_mnist_resnet20`) or by path to a `.py` file."""
    path = Path(name_or_path)
    if path.suffix == ".py" or os.sep in name_or_path:
        if not path.is_file():
            raise ConfigError(f"Recipe file not found. Received: {name_or_path!r}")
        spec = importlib.util.spec_from_file_location(f"recipe_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as err:
            raise ConfigError(f"Recipe file {name_or_path!r} has a syntax error at line {err.lineno}: {err.msg}. "
                              "A recipe is a Python file with a get_config() function.") from err
        except Exception as err:  # any error of the user's file: say which file, not a traceback
            raise ConfigError(f"Recipe file {name_or_path!r} failed to load: {type(err).__name__}: {err}") from err
    else:
        if name_or_path not in list_recipes():
            close = difflib.get_close_matches(name_or_path, list_recipes(), n=5, cutoff=0.5)
            hint = f" Did you mean {close}?" if close else ""
            raise ValueError(
                f"Unknown recipe {name_or_path!r}.{hint} Shipped recipes: {list_recipes()}; or pass a path "
                "to a .py file with get_config()."
            )
        variant = recipe_variants().get(name_or_path)
        module = variant or importlib.import_module(f"training.configs.{name_or_path}")
    if not hasattr(module, "get_config"):
        raise ConfigError(f"Recipe {name_or_path!r} has no get_config() function.")
    try:
        config = module.get_config()
    except Exception as err:
        raise ConfigError(f"get_config() of recipe {name_or_path!r} failed: {type(err).__name__}: {err}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"get_config() of recipe {name_or_path!r} must return a Config (a dict). "
                          f"Received: {type(config).__name__}")
    if not isinstance(config, Config):
        config = Config(config)
    config.setdefault("recipe", path.stem if path.suffix == ".py" else name_or_path)
    return config


def _parse_value(text):
    """A `--set` value: a Python literal, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string, e.g. optimizer.name=lamb


def _compatible(old, new):
    """Whether `new` may replace `old`: the same kind (a bool stays a bool, a number a number; an int key takes
    no fractional float), any list or tuple for a sequence, any dict for a section, anything for None."""
    if old is None or new is None:
        return True
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return not (isinstance(old, int) and isinstance(new, float) and not new.is_integer())
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return True
    if isinstance(old, dict) and isinstance(new, dict):
        return True
    return type(old) is type(new)


def set_value(config: Config, dotted_key: str, value, *, allow_new=False):
    """Sets `config.a.b.c = value`, refusing unknown keys (with close matches) and type changes."""
    keys = dotted_key.split(".")
    node = config
    for i, key in enumerate(keys):
        path = ".".join(keys[: i + 1])
        last = i == len(keys) - 1
        if not isinstance(node, dict):
            raise ValueError(f"Cannot set {dotted_key!r}: {'.'.join(keys[:i])!r} is not a section.")
        if key not in node and not (last and allow_new):
            close = difflib.get_close_matches(key, list(node), n=3, cutoff=0.5)
            hint = f" Did you mean {close}?" if close else ""
            raise ValueError(f"Unknown config key {path!r}.{hint} Keys there: {sorted(node)}")
        if last:
            old = node.get(key)
            rule = SCHEMA.get(dotted_key)
            number = rule is not None and rule.kind is float
            if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool) and not number:
                value = float(value)
            if number and isinstance(old, (int, float)) and isinstance(value, (int, float)):
                pass  # a number key (e.g. data.validation_split: a count or a fraction) takes either
            elif isinstance(rule, _AllOrCount):
                pass  # "all" or a count: check_config checks which
            elif not _compatible(old, value):
                raise ValueError(
                    f"Config key {path!r} is a {type(old).__name__} ({old!r}); received {value!r} "
                    f"({type(value).__name__})."
                )
            node[key] = Config(value) if isinstance(value, dict) else value
        else:
            node = node[key]


def apply_overrides(config: Config, overrides) -> Config:
    """Applies `["key.sub=value", ...]` (command line) to a copy of `config`."""
    config = copy.deepcopy(config)
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"Overrides look like key=value. Received: {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        allow_new = key.startswith("model.kwargs.") or _is_augment_key(key)
        set_value(config, key, _parse_value(text.strip()), allow_new=allow_new)
    return config


def _is_augment_key(dotted_key: str) -> bool:
    """`augment.<name>` for any augmentation the pipeline knows, whether or not the recipe sets it."""
    section, _, name = dotted_key.partition(".")
    if section != "augment" or not name or "." in name:
        return False
    from training.data import AUGMENT_KEYS  # imports TensorFlow: only when an augment key is set

    return name in AUGMENT_KEYS


def apply_smoke(config: Config) -> Config:
    """The recipe's smoke override: a run of a minute or less on the same code path. It exports model.keras and
    metadata.json only (`export_formats=()`: converting and verifying SavedModel / LiteRT files takes longer than
    the run), unless the smoke override or a later `--set` names formats."""
    config = copy.deepcopy(config)
    if config.get("export_formats"):
        config["export_formats"] = ()
    for key, value in config.get("smoke", {}).items():
        set_value(config, key, copy.deepcopy(value), allow_new=key.startswith("model.kwargs."))
    return config


# ---------------------------------------------------------------------------------------------------------
# What every config key may hold


class TrainingError(RuntimeError):
    """A run that cannot start or cannot go on, with what to change (the CLI exits with code 1)."""


class ConfigError(TrainingError, ValueError):
    """A run that cannot start as asked: a config value outside its declared range, a bad run name or
    workdir, nothing to resume (a usage error: the CLI exits with code 2)."""


class Rule:
    """The kind and range a config key may take, and the words that describe it in an error."""

    def __init__(self, kind, *, low=None, high=None, low_open=False, high_open=False, optional=False,
                 choices=None, items=None):
        self.kind, self.low, self.high = kind, low, high
        self.low_open, self.high_open = low_open, high_open
        self.optional, self.choices, self.items = optional, choices, items

    def describe(self) -> str:
        if self.choices is not None:
            text = f"one of {self.choices}"
        elif self.kind is bool:
            text = "True or False"
        elif self.kind in (int, float):
            noun = "an integer" if self.kind is int else "a number"
            if self.kind is int and self.low == 1 and self.high is None:
                text = "a positive integer"
            elif self.low is not None and self.high is not None:
                text = (f"{noun} in {'(' if self.low_open else '['}{self.low}, {self.high}"
                        f"{')' if self.high_open else ']'}")
            elif self.low is not None:
                text = f"{noun} {'>' if self.low_open else '>='} {self.low}"
            else:
                text = noun
        elif self.kind is list:
            text = f"a list whose items are each {self.items.describe()}"
        else:
            text = "a non-empty string"
        return text + (" or None" if self.optional else "")

    def accepts(self, value) -> bool:
        if value is None:
            return self.optional
        if self.choices is not None:
            return value in self.choices
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is list:
            return isinstance(value, (list, tuple)) and all(self.items.accepts(v) for v in value)
        if self.kind is str:
            return isinstance(value, str) and bool(value.strip())
        if isinstance(value, bool) or not isinstance(value, int if self.kind is int else (int, float)):
            return False
        if value != value or value in (float("inf"), float("-inf")):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))


class _AllOrCount(Rule):
    """The string "all" or a positive integer (`finetune.unfreeze`: every layer, or the last N stages)."""

    def __init__(self):
        super().__init__(int, low=1)

    def describe(self) -> str:
        return "'all' or a positive integer (the number of last stages)"

    def accepts(self, value) -> bool:
        return value == "all" or super().accepts(value)


def _int(low=None, high=None, **kwargs):
    return Rule(int, low=low, high=high, **kwargs)


def _number(low=None, high=None, **kwargs):
    return Rule(float, low=low, high=high, **kwargs)


_FLAG = Rule(bool)
_TEXT = Rule(str)
# The format names of `keras_resnets.export.FORMATS` (not imported: it would import Keras; a test checks they
# agree). "saved_model" is always written when any is asked for: the LiteRT files are converted from it.
EXPORT_FORMATS = ("saved_model", "float32", "float16", "dynamic_int8", "int8", "onnx")

# Every scalar key a config may hold, with its kind and range. `check_config` refuses a value outside its
# range and a numeric key that is not declared here, so a new key cannot be added without a declared range.
# Sections checked by their own code: model.kwargs (the registry: names here, values when the model is built),
# augment (training.data.check_augment), data.synthetic (training.data), smoke (applied with --smoke).
SCHEMA = {
    "recipe": _TEXT,
    "run_name": Rule(str, optional=True),  # a plain name too: check_run_name
    "export_dir": _TEXT,
    # Deployment formats written and verified beside model.keras at the end of a run (keras_resnets.export).
    "export_formats": Rule(list, items=Rule(str, choices=EXPORT_FORMATS)),
    "model.name": _TEXT,
    # A .keras file, a timm / torchvision checkpoint or a tag the model factories take: check_finetune.
    "model.weights": Rule(str, optional=True),
    "model.stem_whitening": _FLAG,  # training.whitening; not with model.weights (check_finetune)
    "data.name": _TEXT,
    "data.data_dir": Rule(str, optional=True),
    "data.download": _FLAG,
    # A count of held-out training examples (int >= 1) or a fraction in (0, 1); training.data checks which.
    "data.validation_split": _number(0, optional=True),
    "data.validation_seed": _int(0),
    "data.image_size": _int(1, optional=True),
    "data.eval_image_size": _int(1, optional=True),
    "data.crop_fraction": _number(0, 1, low_open=True, optional=True),
    "data.path": Rule(str, optional=True),
    "data.test_path": Rule(str, optional=True),
    "data.validate_images": Rule(str, choices=("full", "header"), optional=True),
    "data.keep_empty_classes": _FLAG,
    # Label indices to keep (training.data checks them against the dataset) and a few-shot training split.
    "data.classes": Rule(list, items=_int(0), optional=True),
    "data.train_per_class": _int(1, optional=True),
    "epochs": _int(1),
    "batch_size": _int(1),
    "steps_per_epoch": _int(1, optional=True),
    "eval_batch_size": _int(1, optional=True),
    "optimizer.name": Rule(str, choices=("sgd", "lamb", "adamw")),
    "optimizer.learning_rate": _number(0, low_open=True),
    "optimizer.momentum": _number(0, 1, high_open=True),
    "optimizer.nesterov": _FLAG,
    "optimizer.weight_decay": _number(0),
    "optimizer.no_decay": Rule(list, items=_TEXT),
    # An EMA of the weights (Keras' use_ema), gradient accumulation and clipping: training.recipe_parts.
    "optimizer.ema_momentum": _number(0, 1, low_open=True, high_open=True, optional=True),
    "optimizer.gradient_accumulation_steps": _int(1, optional=True),
    "optimizer.clipnorm": _number(0, low_open=True, optional=True),
    "optimizer.global_clipnorm": _number(0, low_open=True, optional=True),
    "schedule.name": Rule(str, choices=("step", "cosine", "constant")),
    "schedule.decay_epochs": Rule(list, items=_number(0)),
    "schedule.decay_factor": _number(0, 1, low_open=True),
    "schedule.warmup_epochs": _number(0),
    "schedule.warmup_learning_rate": _number(0),
    "finetune.head_epochs": _int(0),
    "finetune.unfreeze": _AllOrCount(),
    "finetune.learning_rate": _number(0, low_open=True, optional=True),
    "finetune.layer_decay": _number(0, 1, low_open=True, optional=True),
    # Knowledge distillation from a teacher (.keras file, preset folder or pretrained tag): training/distill.py.
    "distill.teacher": Rule(str, optional=True),
    "distill.temperature": _number(0, low_open=True),
    "distill.weight": _number(0, 1),
    "loss.name": Rule(str, choices=("categorical_crossentropy", "binary_crossentropy")),
    "loss.label_smoothing": _number(0, 1, high_open=True),
    "loss.bce_target_threshold": _number(0, 1, high_open=True, optional=True),
    "precision": Rule(str, choices=("auto", "float32", "mixed_float16", "mixed_bfloat16")),
    "strategy": Rule(str, choices=("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")),
    "sync_batch_norm": _FLAG,
    "jit_compile": _FLAG,
    "steps_per_execution": _int(1),
    "seed": _int(0, 2**32 - 1),
    "deterministic": _FLAG,
    "eval_flip_tta": _FLAG,
    "evaluate_test": _FLAG,
    "backup_every_steps": _int(1),
    "wandb.mode": Rule(str, choices=("auto", "online", "offline", "disabled")),
    "wandb.project": Rule(str, optional=True),
    "wandb.entity": Rule(str, optional=True),
    "wandb.tags": Rule(list, items=_TEXT),
}
# Keys that recipes written for earlier versions may still set, and why they went.
REMOVED_KEYS = {
    "eval_test_each_epoch": "the per-epoch curves now come from the validation split (data.validation_split) and "
                            "the test split is evaluated once, at the end; remove the key.",
}
# Sections whose contents other code checks (see above).
FREE_SECTIONS = ("model.kwargs", "augment", "data.synthetic", "smoke")
# Model arguments the training app sets itself (from the data and for the export).
RESERVED_MODEL_KWARGS = ("input_shape", "input_tensor", "classes", "include_preprocessing",
                         "classifier_activation", "include_top", "pooling", "features_only")


def _leaves(node, prefix=""):
    """`(dotted key, value)` for every value of `node`; a free section (`FREE_SECTIONS`) is one leaf."""
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if dotted in FREE_SECTIONS:
            yield dotted, value
        elif isinstance(value, dict):
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


RUN_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}"


def check_run_name(name):
    """A run name is a plain folder name: letters, digits, `.`, `_`, `+`, `-`, starting with a letter or digit,
    at most 128 characters, no `..`. It names the export folder under `export_dir`, so a path (`../x`, `/x`)
    could reach folders that are not the run's."""
    import re

    if not isinstance(name, str) or not re.fullmatch(RUN_NAME_PATTERN, name) or ".." in name:
        raise ConfigError(
            "The run name must be a plain name: letters, digits, '.', '_', '+' and '-', starting with a letter or "
            f"digit, at most 128 characters, without '..' or path separators (it names the export folder). "
            f"Received: {name!r}"
        )
    return name


def check_model(model):
    """The model section: a registered name, and `kwargs` the variant accepts (values are checked when the
    model is built) and the training app does not set itself."""
    import keras_resnets
    from keras_resnets._registry import COMMON_ARGS

    spec = keras_resnets.get_model_spec(model.get("name"))  # unknown names raise with close matches
    kwargs = model.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"model.kwargs must be a dict of {spec.name!r}'s arguments. Received: {kwargs!r}")
    reserved = sorted(set(kwargs) & set(RESERVED_MODEL_KWARGS))
    if reserved:
        raise ConfigError(f"model.kwargs {reserved} are set by the training app from the data; remove them. "
                          f"Received: model.kwargs={dict(kwargs)!r}")
    allowed = sorted((set(COMMON_ARGS) | set(spec.config)) - set(RESERVED_MODEL_KWARGS))
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"{spec.name!r} has no argument(s) {unknown} (from model.kwargs). Allowed: {allowed}")


def _backend():
    import keras

    return keras.backend.backend()


def check_finetune(config, *, run=False):
    """`model.weights` and the `finetune` section together: a local weights file exists and is a kind that loads
    without its classifier, and a frozen phase fits in `epochs`; with `run` (a run about to start, not a shipped
    recipe, which leaves model.weights to the user) it also has pretrained weights to freeze."""
    weights = (config.get("model") or {}).get("weights")
    if (config.get("model") or {}).get("stem_whitening") and weights is not None:
        raise ConfigError(
            "model.stem_whitening re-initialises the first convolution, which model.weights loads pretrained: use "
            f"one of them. Received: model.stem_whitening=True, model.weights={weights!r}")
    finetune = config.get("finetune") or {}
    head_epochs, unfreeze = finetune.get("head_epochs", 0), finetune.get("unfreeze", "all")
    if isinstance(weights, str):
        from keras_resnets._weights import TORCH_WEIGHT_SUFFIXES

        if weights.endswith((".weights.h5", ".h5")):
            raise ConfigError(
                "model.weights must be a .keras file, a timm / torchvision checkpoint (" + " / ".join(
                    TORCH_WEIGHT_SUFFIXES) + ") or a pretrained tag: a .weights.h5 / .h5 file holds weights for "
                "one architecture with its classifier, and fine-tuning builds a new one for the data's classes "
                f"(save the model as .keras instead). Received: model.weights={weights!r}")
        if weights.endswith((".keras", *TORCH_WEIGHT_SUFFIXES)) and not os.path.isfile(weights):
            raise ConfigError(f"model.weights file does not exist. Received: model.weights={weights!r}")
        if os.path.isdir(weights):
            from keras_resnets.presets import preset_folder

            try:
                preset_folder(weights)
            except ValueError as err:
                raise ConfigError(f"model.weights is a folder but not a keras_resnets preset: {err} Received: "
                                  f"model.weights={weights!r}") from err
    if run and weights is None and (head_epochs or unfreeze != "all"):
        raise ConfigError(
            "finetune.head_epochs and finetune.unfreeze freeze a pretrained backbone: set model.weights (a .keras "
            "file, a .safetensors / .pth checkpoint or a pretrained tag). Received: model.weights=None, "
            f"finetune.head_epochs={head_epochs!r}, finetune.unfreeze={unfreeze!r}")
    if (head_epochs or unfreeze != "all") and _backend() == "jax":
        raise ConfigError(
            "finetune.head_epochs and finetune.unfreeze freeze layers, which the JAX backend cannot train here: "
            "its optimizer (stateless_apply) updates exactly the variables it was built with, and the run's one "
            "optimizer is built over every variable so that a backup resumes in either phase. Use "
            "KERAS_BACKEND=tensorflow, or finetune.head_epochs=0 and finetune.unfreeze='all' (every layer trains). "
            f"Received: finetune.head_epochs={head_epochs!r}, finetune.unfreeze={unfreeze!r} on JAX")
    optimizer_section = config.get("optimizer") or {}
    if optimizer_section.get("ema_momentum") is not None and (head_epochs or unfreeze != "all"):
        raise ConfigError(
            "optimizer.ema_momentum (an EMA of the weights) cannot be combined with fine-tuning phases that freeze "
            "layers: Keras averages and swaps the model's trainable variables, which a frozen phase changes. Use "
            f"finetune.head_epochs=0 and finetune.unfreeze='all'. Received: optimizer.ema_momentum="
            f"{optimizer_section['ema_momentum']!r}, finetune.head_epochs={head_epochs!r}, "
            f"finetune.unfreeze={unfreeze!r}")
    if optimizer_section.get("clipnorm") is not None and optimizer_section.get("global_clipnorm") is not None:
        raise ConfigError("Set one of optimizer.clipnorm and optimizer.global_clipnorm, not both. Received: "
                          f"clipnorm={optimizer_section['clipnorm']!r}, "
                          f"global_clipnorm={optimizer_section['global_clipnorm']!r}")
    optimizer = optimizer_section.get("name")
    if finetune.get("layer_decay") is not None and optimizer != "sgd":
        raise ConfigError(
            "finetune.layer_decay needs optimizer.name='sgd': per-layer rates are gradient scales, which SGD's update "
            "(linear in the gradient) turns into exact per-layer learning rates and Adam, AdamW and LAMB normalise "
            f"away. Received: finetune.layer_decay={finetune['layer_decay']!r} with optimizer.name={optimizer!r}")
    epochs = config.get("epochs")
    if isinstance(head_epochs, int) and isinstance(epochs, int) and head_epochs > epochs:
        raise ConfigError(f"finetune.head_epochs must be at most epochs ({epochs}): the head phase is the first "
                          f"head_epochs of the run's epochs. Received: finetune.head_epochs={head_epochs}")


def check_distill(config):
    """A distillation teacher (`distill.teacher`) is an existing `.keras` file or folder (a preset), or a pretrained
    tag of the table (loaded and checked against the data when the run builds its model, training/distill.py)."""
    from training.distill import pretrained_tag

    teacher = (config.get("distill") or {}).get("teacher")
    if teacher is None or pretrained_tag(teacher) is not None:
        return
    if not ((teacher.endswith(".keras") and os.path.isfile(teacher)) or os.path.isdir(teacher)):
        raise ConfigError("distill.teacher must be an existing .keras file, a keras_resnets preset folder or a "
                          "pretrained tag (keras_resnets.list_pretrained(source='timm')). "
                          f"Received: distill.teacher={teacher!r}")


def check_config(config):
    """Checks every key of `config` against `SCHEMA` (kind and range), the run name, the model section and the
    augmentations, before anything runs. Raises `ConfigError` naming the key, what it holds and what is
    allowed."""
    for key, value in _leaves(config):
        if key in FREE_SECTIONS:
            continue
        rule = SCHEMA.get(key)
        if key in REMOVED_KEYS:
            raise ConfigError(f"Config key {key!r} was removed: {REMOVED_KEYS[key]} Received: {key}={value!r}")
        if rule is None:
            if isinstance(value, (int, float)) or value is None:
                raise ConfigError(f"Config key {key!r} has no declared range (training.config.SCHEMA), so its "
                                  f"value cannot be checked. Received: {key}={value!r}")
            raise ConfigError(f"Unknown config key {key!r}. Received: {key}={value!r}")
        if not rule.accepts(value):
            raise ConfigError(f"{key} must be {rule.describe()}. Received: {value!r}")
    if config.get("run_name") is not None:
        check_run_name(config["run_name"])
    check_model(config.get("model") or {})
    check_finetune(config)
    check_distill(config)
    if config.get("augment"):
        from training.data import check_augment  # imports TensorFlow: only when there is something to check

        try:
            check_augment(config["augment"])
        except (TypeError, ValueError) as err:
            raise ConfigError(str(err)) from err
    return config
