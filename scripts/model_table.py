"""Prints docs/models.md (Markdown) from the registry: every variant's name, factory, parameter counts, weights.

Usage: python scripts/model_table.py > docs/models.md
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_resnets  # noqa: E402
from keras_resnets.conversion import TIMM_VARIANTS  # noqa: E402
from keras_resnets.pretrained import PRETRAINED  # noqa: E402


def timm_tag_counts():
    """`{registry name: number of timm tags that load into it as registered}` (tags of architectures that need
    config fields set, e.g. timm's resnet18d, are not counted: docs/pretrained.md lists them)."""
    counts = {}
    for tag in PRETRAINED:
        name, fields = TIMM_VARIANTS.get(tag.split(".", 1)[0], (None, None))
        if name is not None and not fields:
            counts[name] = counts.get(name, 0) + 1
    return counts


HEADER = """# Models

Every registered variant (`keras_resnets.list_models()`), regenerated with `python scripts/model_table.py >
docs/models.md`. Counts at the default head (1000 classes for ImageNet models, 10 for CIFAR models); "total" is
`count_params()` (with BatchNorm moving statistics). All trainable counts match keras.applications,
torchvision/timm or the papers where those publish one (`tests/test_counts.py` asserts every number; the
published figures and their sources are in [reference.md](reference.md)). The CIFAR Residual Attention counts
are our definition's: the paper reports 1.9M / 5.1M / 8.6M without an exact architecture. "Pretrained weights":
`weights="imagenet"` files and the timm tags that load into the variant as registered
(`keras_resnets.list_pretrained(source="all")`; [pretrained.md](pretrained.md) lists every tag with its licence
and top-1, and the timm architectures that are a variant with fields set, such as `resnet18d`).
"""


def main():
    print(HEADER)
    print(
        "| registry name | factory | family | input | preprocessing | params (total) | trainable | pretrained weights |"
    )
    print("|---|---|---|---|---|---:|---:|---|")
    tags = timm_tag_counts()
    for name in keras_resnets.list_models():
        spec = keras_resnets.get_model_spec(name)
        with keras.StatelessScope(initialize_variables=False):
            model = keras_resnets.create_model(name)
            total = model.count_params()
            trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        keras.utils.clear_session()
        size = f"{spec.default_size} (min {spec.min_size})"
        weights = ", ".join(([f"`imagenet` ({'keras.applications'})"] if spec.imagenet_weights else [])
                            + ([f"{tags[name]} timm tag{'s' if tags[name] > 1 else ''}"] if name in tags else []))
        print(
            f"| `{name}` | `{spec.factory}` | {spec.family} | {size} | {spec.preprocessing} | {total:,} | {trainable:,} | {weights} |"
        )


if __name__ == "__main__":
    main()
