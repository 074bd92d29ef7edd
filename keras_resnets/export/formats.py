"""The deployment formats: their file names, writing each one (SavedModel, LiteRT, ONNX) and running it back.

Every file has one signature (`serving_default`): input `images`, raw float32 pixels with a dynamic batch, output
`probabilities`. LiteRT files are converted from the SavedModel, because `TFLiteConverter.from_keras_model` is
broken on Keras 3, and run with `ai_edge_litert` (XNNPACK is its default CPU delegate), never
`tf.lite.Interpreter`. ONNX goes through Keras' own exporter (tf2onnx underneath) and runs with onnxruntime.
TensorFlow, ai_edge_litert, tf2onnx, onnx and onnxruntime are imported only when a format needs them.
"""

import os

import keras
import numpy as np

# Format name -> file name in the export directory.
FORMATS = {
    "saved_model": "saved_model",
    "float32": "model_float32.tflite",
    "float16": "model_float16.tflite",
    "dynamic_int8": "model_dynamic_int8.tflite",
    "int8": "model_int8.tflite",
    "onnx": "model.onnx",
}
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
SIGNATURE = "serving_default"
INT8_IO_TYPES = ("float32", "int8", "uint8")


class ExportError(RuntimeError):
    """An export that could not be written or missed a verification target."""


# ----------------------------------------------------------------------------------------------------
# Writing


def _spec(model):
    import tensorflow as tf

    return tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME)


def write_saved_model(model, path):
    """A SavedModel with one `serving_default` signature: `images` (dynamic batch) -> `probabilities`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SIGNATURE, fn=lambda images: {OUTPUT_NAME: model(images, training=False)},
                         input_signature=[_spec(model)])
    archive.write_out(path, verbose=False)


def convert_tflite(saved_model_dir, quantization, representative=None, int8_io="float32"):
    """LiteRT flatbuffer bytes converted from a SavedModel.

    Args:
        saved_model_dir: str.
        quantization: str, "float32", "float16", "dynamic_int8" or "int8" (full integer).
        representative: float32 array of raw images for "int8" calibration.
        int8_io: str, input/output type of the full-integer model: "float32", "int8" or "uint8".
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SIGNATURE])
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        if representative is None or not len(representative):
            raise ValueError("Full-integer quantization needs a representative dataset. Received none.")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io != "float32":
            converter.inference_input_type = converter.inference_output_type = getattr(tf, int8_io)
    elif quantization != "float32":
        raise ValueError(f"Unknown quantization. Received: quantization={quantization!r}")
    return converter.convert()


def write_onnx(model, path):
    """`model.onnx` through Keras' exporter; raises `ExportError` when tf2onnx or onnx is missing."""
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as e:
        raise ExportError(
            f"ONNX export needs `tf2onnx` and `onnx` on the TensorFlow backend ({e}). "
            "Install them with `pip install keras-resnets[export]` or leave out the onnx format."
        ) from e
    model.export(path, format="onnx", input_signature=[_spec(model)], verbose=False)


# ----------------------------------------------------------------------------------------------------
# Running the exported files


class LiteRTRunner:
    """Runs a `.tflite` file with ai_edge_litert on float raw-pixel batches, (de)quantizing int8 I/O."""

    def __init__(self, path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = None

    def _prepare(self, batch):
        if batch != self._batch:
            shape = [batch, *self.input["shape"][1:]]
            self.interpreter.resize_tensor_input(self.input["index"], shape)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def set_input(self, images):
        """Sets a batch of raw float pixels as the input, quantized for an integer input."""
        self._prepare(len(images))
        x = images
        if self.input["dtype"] != np.float32:
            scale, zero = self.input["quantization"]
            info = np.iinfo(self.input["dtype"])
            x = np.clip(np.round(images / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(self.input["index"], x.astype(self.input["dtype"]))

    def get_output(self):
        """The output of the last `invoke()` as float probabilities, dequantized for an integer output."""
        y = self.interpreter.get_tensor(self.output["index"])
        if self.output["dtype"] != np.float32:
            scale, zero = self.output["quantization"]
            y = (y.astype("float32") - zero) * scale
        return y

    def __call__(self, images, batch_size=256):
        outputs = []
        for start in range(0, len(images), batch_size):
            self.set_input(images[start:start + batch_size])
            self.interpreter.invoke()
            outputs.append(self.get_output().copy())
        return np.concatenate(outputs)


def run_saved_model(path, images, batch_size=256):
    """The SavedModel's `serving_default` outputs for `images`, in batches."""
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures[SIGNATURE]
    return np.concatenate([serve(**{INPUT_NAME: tf.constant(images[i:i + batch_size])})[OUTPUT_NAME].numpy()
                           for i in range(0, len(images), batch_size)])


def run_onnx(path, images):
    """The ONNX file's outputs for `images`, on onnxruntime's CPU provider."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: images})[0]
