"""Prints the README's model table (Markdown) from the registry: names, factories, parameter counts.

Usage: python scripts/model_table.py > /tmp/table.md
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_resnets  # noqa: E402


def main():
    print(
        "| registry name | factory | family | input | preprocessing | params (total) | trainable | ImageNet weights |"
    )
    print("|---|---|---|---|---|---:|---:|---|")
    for name in keras_resnets.list_models():
        spec = keras_resnets.get_model_spec(name)
        with keras.StatelessScope(initialize_variables=False):
            model = keras_resnets.create_model(name)
            total = model.count_params()
            trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        keras.utils.clear_session()
        size = f"{spec.default_size} (min {spec.min_size})"
        weights = "keras.applications" if spec.imagenet_weights else ""
        print(
            f"| `{name}` | `{spec.factory}` | {spec.family} | {size} | {spec.preprocessing} | {total:,} | {trainable:,} | {weights} |"
        )


if __name__ == "__main__":
    main()
