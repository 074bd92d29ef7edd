"""The recursion limit is raised only while the package builds a model (or a caller asks), never by importing it."""

import os
import subprocess
import sys

import keras
import pytest

import keras_resnets


def test_import_leaves_the_recursion_limit_alone():
    script = (
        "import sys\n"
        "before = sys.getrecursionlimit()\n"
        "import keras_resnets\n"
        "after_import = sys.getrecursionlimit()\n"
        "keras_resnets.ResNet20(input_shape=(16, 16, 3), stage_depths=(1, 1, 1))\n"
        "print(before, after_import, sys.getrecursionlimit())\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    before, after_import, after_build = map(int, result.stdout.split()[-3:])
    assert before == after_import == after_build < keras_resnets._common.RECURSION_LIMIT


def test_deep_recursion_raises_and_restores():
    before = sys.getrecursionlimit()
    with keras_resnets.deep_recursion():
        assert sys.getrecursionlimit() == max(before, keras_resnets._common.RECURSION_LIMIT)
        with keras_resnets.deep_recursion(limit=before + 1):  # a lower request never lowers it
            assert sys.getrecursionlimit() == max(before, keras_resnets._common.RECURSION_LIMIT)
    assert sys.getrecursionlimit() == before
    with pytest.raises(RuntimeError, match="inside"):
        with keras_resnets.deep_recursion():
            raise RuntimeError("inside")
    assert sys.getrecursionlimit() == before


def test_building_the_deepest_variant_needs_and_restores_it(tmp_path):
    """CIFAR ResNet-1202 is deeper than Python's default limit allows Keras to build; the builder raises it."""
    before = sys.getrecursionlimit()
    assert before < keras_resnets._common.RECURSION_LIMIT
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras_resnets.ResNet1202(input_shape=(8, 8, 3))
        assert len(model.layers) > 4000 and sys.getrecursionlimit() == before
    finally:
        keras.utils.clear_session()
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="Could not load"):  # a build that fails inside restores it too
        keras_resnets.ResNet20(weights=str(broken), stage_depths=(1, 1, 1))
    assert sys.getrecursionlimit() == before
