"""Run configurations: recipe files, command-line overrides and the smoke override.

A recipe is a Python file with `get_config()` returning a `Config` (a dict with attribute access), in
`training/configs/<name>.py` or at any path. Its `smoke` entry holds dotted overrides that turn the run
into a seconds-long check (`--smoke`). Command-line `--set key.sub=value` overrides any value; values
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


def list_recipes():
    """The shipped recipe names (files in training/configs/ not starting with an underscore)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.py") if not p.name.startswith("_"))


def load_recipe(name_or_path: str) -> Config:
    """Loads a recipe by shipped name (`fashion_mnist_resnet20`) or by path to a `.py` file."""
    path = Path(name_or_path)
    if path.suffix == ".py" or os.sep in name_or_path:
        if not path.is_file():
            raise ValueError(f"Recipe file not found. Received: {name_or_path!r}")
        spec = importlib.util.spec_from_file_location(f"recipe_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        if name_or_path not in list_recipes():
            close = difflib.get_close_matches(name_or_path, list_recipes(), n=5, cutoff=0.5)
            hint = f" Did you mean {close}?" if close else ""
            raise ValueError(
                f"Unknown recipe {name_or_path!r}.{hint} Shipped recipes: {list_recipes()}; or pass a path "
                "to a .py file with get_config()."
            )
        module = importlib.import_module(f"training.configs.{name_or_path}")
    if not hasattr(module, "get_config"):
        raise ValueError(f"Recipe {name_or_path!r} has no get_config() function.")
    config = module.get_config()
    if not isinstance(config, Config):
        config = Config(config)
    config.setdefault("recipe", path.stem if path.suffix == ".py" else name_or_path)
    return config


def _parse_value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare string, e.g. optimizer.name=lamb


def _compatible(old, new):
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
            if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not _compatible(old, value):
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
    """The recipe's smoke override: a seconds-long run of the same code path."""
    config = copy.deepcopy(config)
    for key, value in config.get("smoke", {}).items():
        set_value(config, key, copy.deepcopy(value), allow_new=key.startswith("model.kwargs."))
    return config
