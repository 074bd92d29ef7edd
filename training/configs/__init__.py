"""Shipped recipes: one file per distinct run, each with `get_config()`, and the tables of `_variants.py` for
the recipes that differ only in values (`_base.py` documents every key and holds each paper's procedure).

`python -m training --list` lists them all; `training.config.load_recipe(name)` loads any of them.
"""


def __getattr__(name):
    """A table recipe by name, for code written when every recipe was a module here: `from training.configs
    import cifar10_resnet20` still gives an object with the recipe's `get_config()`."""
    if not name.startswith("_"):  # `from training.configs import _base` looks here before importing it
        from training.configs._variants import VARIANTS

        if name in VARIANTS:
            return VARIANTS[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
