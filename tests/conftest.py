import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The training application's TensorFlow setting (training/__init__.py), set before TensorFlow is imported so
# that this process and the processes the tests start compute alike (oneDNN on or off changes float rounding).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with float32 policy, channels_last and a fixed seed, and frees its graph."""
    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")
    keras.backend.clear_session()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def fashion_mnist_dir():
    """The full Fashion-MNIST (the Debian package's folder). A test that asks for it fails, never skips, where
    it is missing, naming the folder and `bash scripts/get_fashion_mnist.sh`; tests that need only some real
    images use the committed sample instead (`tests.real_data.load_sample`)."""
    from tests.real_data import require_fashion_mnist

    return require_fashion_mnist()
