"""training/data/ as a package: every public name of the former single module `training/data.py` is still
importable from `training.data`, and its modules import one another without a cycle."""

import ast
import importlib
from pathlib import Path

import pytest

import training.data

# The public names of training/data.py before it became a package (its module-level logger aside).
PUBLIC_NAMES = ["AUGMENT_KEYS", "AUTOTUNE", "CACHE_LIMIT_BYTES", "CIFAR10_CLASSES", "DATASET_NAMES",
                "DATA_CONFIG_KEYS", "DEBIAN_FASHION_MNIST_DIR", "DEBIAN_FASHION_MNIST_PACKAGE", "DEFAULT_CROP_FRACTION",
                "DEFAULT_SHUFFLE_BUFFER", "DOWNLOAD_HOSTS", "DataNotFoundError", "DatasetInfo", "EncodedImages",
                "FASHION_MNIST_CLASSES", "IDX_FILES", "RANDAUGMENT_KEYS", "RANDOM_ERASING_KEYS", "RAND_AUGMENT_OPS",
                "REACHABILITY_TIMEOUT_S", "SMALL_IMAGE_SIDE", "SYNTHETIC_KEYS", "can_reach", "check_augment",
                "load_splits", "make_pipeline", "rand_augment", "random_erasing", "steps_per_epoch"]
PACKAGE = Path(training.data.__file__).parent


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_former_name_is_importable_from_the_package(name):
    namespace = {}
    exec(f"from training.data import {name}", namespace)  # the `from ... import` form callers use
    home = importlib.import_module(getattr(namespace[name], "__module__", None) or "training.data")
    assert namespace[name] is getattr(training.data, name)
    assert name in training.data.__all__
    assert home.__name__.startswith("training.data")


def _imports_within_package(path):
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("training.data."):
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "training.data":
            found.update(alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").exists())
    return found


def test_the_modules_import_one_another_without_a_cycle():
    graph = {p.stem: _imports_within_package(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert set(graph) == {"augment", "folders", "pipeline", "randaugment", "records", "sources", "tfds_source"}
    done, visiting = set(), []

    def visit(module):
        assert module not in visiting, f"import cycle: {' -> '.join(visiting + [module])}"
        if module not in done:
            visiting.append(module)
            for imported in graph[module]:
                visit(imported)
            visiting.pop()
            done.add(module)

    for module in graph:
        visit(module)
    for module in graph:  # and each imports on its own, first, in a fresh package namespace
        importlib.import_module(f"training.data.{module}")
