"""Exporting a model for serving: `.keras`, SavedModel, LiteRT (TFLite) and ONNX, verified and timed.

`export_keras` writes the `.keras` model and `metadata.json` (what training/train.py uses). `export_model`
writes every deployment format, loads each file back and compares it with the Keras model on the same
inputs, times the LiteRT files, and records all of it in `metadata.json` (issue #4). The command line:

```bash
python -m keras_resnets.export resnet20 /tmp/resnet20_export --input-shape 32,32,3
python -m keras_resnets.export saved_models/fashion_mnist_resnet20/model.keras /tmp/fm_export \
    --calibration-data train-images-idx3-ubyte.gz --verify-data t10k-images-idx3-ubyte.gz \
    --verify-labels t10k-labels-idx1-ubyte.gz --num-verify 1000
```

What the command line checks, before any model is built or loaded: every number against its range (argparse
`type=`: counts >= 1, `--input-shape` three positive integers), the output directory (new, with a parent that
exists or can be created and takes new files; or, with `--overwrite`, an unchanged earlier export), the input
files (present; a corrupt `.npy`, IDX file or image is an error naming it), `--verify-labels` as long as
`--verify-data`; once the model is loaded, `--class-names` (one distinct, non-empty name per output class) and
the labels (class indices of the model). Exit codes: 0 the export is written and verified; 1 the export failed
(a missed verification target, a model with NaN or infinite weights); 2 a usage error (a bad argument value, a
missing, corrupt or wrong-format input, images and labels of different lengths, an output directory that
cannot be written or exists without `--overwrite`); argparse's own errors exit 2 too. Errors are printed as
`error: ...` on stderr (a usage error in one line), never a traceback.

Choices, and why:
- Every exported model takes raw pixels ([0, 255], float32 or, for full-integer LiteRT with
  `int8_io="uint8"`, uint8): the variant's `ImagePreprocessing` layer is in the graph, added around a model
  that lacks it. BatchNorm runs in inference mode (every endpoint calls the model with `training=False`);
  in the SavedModel (and the LiteRT files converted from it) each BatchNorm that follows a convolution is
  folded into it (`keras_resnets.fold_batch_norm`); the `.keras` file keeps them, for training on.
- LiteRT files are converted from the SavedModel (`TFLiteConverter.from_saved_model`);
  `TFLiteConverter.from_keras_model` is broken on Keras 3. They run with `ai_edge_litert` (XNNPACK is its
  default CPU delegate), never `tf.lite.Interpreter`.
- ONNX goes through Keras' own exporter (`model.export(format="onnx")`, tf2onnx underneath).
- Writing is atomic: everything goes into a temporary sibling directory renamed into place at the end; a
  failed export (including a missed verification target) leaves no directory behind. Nothing that an export
  did not write is deleted or replaced: `overwrite` replaces only an unchanged earlier export (its
  metadata.json lists every file with its SHA-256), and a model with NaN or infinite weights is refused.

The package: `formats` (the file of each format, written and run back), `verification` (finite weights, outputs
against Keras, targets, LiteRT latency), `directory` (the atomic, replace-only-our-own export directory),
`writer` (`export_keras`, `export_model`), `cli` (the command line; `__main__` runs it), and the files read
and written with the visualization tool, in `keras_resnets.tool_io`. Importing the package imports none of
ai_edge_litert, tf2onnx, onnx or onnxruntime: each is imported where a format needs it.
"""

from keras_resnets.export.formats import (
    FORMATS,
    INPUT_NAME,
    INT8_IO_TYPES,
    OUTPUT_NAME,
    SIGNATURE,
    ExportError,
    LiteRTRunner,
    convert_tflite,
    run_onnx,
    run_saved_model,
    write_onnx,
    write_saved_model,
)
from keras_resnets.export.verification import (
    TARGETS,
    benchmark_tflite,
    check_finite_weights,
    check_targets,
    compare,
    format_report,
    non_finite_weights,
    random_images,
)
from keras_resnets.export.directory import check_output_dir, check_replaceable, sha256
from keras_resnets.export.writer import export_keras, export_model, versions, with_preprocessing
from keras_resnets.export.cli import build_parser, main, run
from keras_resnets.tool_cli import EXIT_CODES, EXIT_FAILED, EXIT_OK, EXIT_USAGE, USAGE_ERRORS, run_cli
from keras_resnets.tool_io import (
    check_labels,
    check_output_file,
    check_same_length,
    check_writable_parent,
    count_images,
    load_images,
    load_keras_model,
    load_labels,
)

_cli = run  # the name it had when export was one module, kept for the callers that use it

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FORMATS",
    "INPUT_NAME",
    "INT8_IO_TYPES",
    "OUTPUT_NAME",
    "SIGNATURE",
    "TARGETS",
    "USAGE_ERRORS",
    "ExportError",
    "LiteRTRunner",
    "benchmark_tflite",
    "build_parser",
    "check_finite_weights",
    "check_labels",
    "check_output_dir",
    "check_output_file",
    "check_replaceable",
    "check_same_length",
    "check_targets",
    "check_writable_parent",
    "compare",
    "convert_tflite",
    "count_images",
    "export_keras",
    "export_model",
    "format_report",
    "load_images",
    "load_keras_model",
    "load_labels",
    "main",
    "non_finite_weights",
    "random_images",
    "run_cli",
    "run_onnx",
    "run_saved_model",
    "sha256",
    "versions",
    "with_preprocessing",
    "write_onnx",
    "write_saved_model",
]
