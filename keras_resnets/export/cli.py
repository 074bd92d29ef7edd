"""The export command line, `python -m keras_resnets.export MODEL OUT_DIR [options]` (the package docstring
says what it checks and how it exits).

MODEL is a registered name (built by `keras_resnets.create_model`, with its preprocessing) or a `.keras` file
(loaded in safe mode with the metadata.json beside it, whose model facts and class names the export keeps).
Everything the command can check without a model is checked first, the output directory before all else.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from keras_resnets import tool_io
from keras_resnets.export.directory import check_output_dir
from keras_resnets.export.formats import FORMATS, INT8_IO_TYPES, ExportError
from keras_resnets.export.verification import format_report
from keras_resnets.export.writer import export_model
from keras_resnets.tool_cli import EXIT_CODES, EXIT_OK, int_at_least, ints_at_least, run_cli

# The facts of a saved model's metadata.json that its export keeps.
KEPT_METADATA = ("model", "model_config", "recipe", "dataset", "test_accuracy", "validation_accuracy")


def _format_list(text):
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"must be comma-separated formats from {','.join(FORMATS)}. "
                                         f"Received: {text!r}")
    return formats


def build_parser():
    """The argparse parser of `python -m keras_resnets.export`."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_resnets.export",
        description="Export a registered model or a .keras file to SavedModel, LiteRT and ONNX, verified.",
        epilog=EXIT_CODES.format(failed="a missed verification target, a model with NaN or infinite weights",
                                 exists="without --overwrite, or with it a directory that is not an unchanged "
                                        "earlier export"))
    positive = int_at_least(1)
    parser.add_argument("model", help="a registered model name (keras_resnets.list_models()) or a .keras file")
    parser.add_argument("out_dir", help="the output directory (written atomically; missing parents are created)")
    parser.add_argument("--weights", help="weights for a registered name (.weights.h5, .keras, 'imagenet')")
    parser.add_argument("--input-shape", type=ints_at_least(1, 3, "32,32,3"),
                        help="H,W,C for a registered name, e.g. 32,32,3")
    parser.add_argument("--classes", type=positive, help="number of classes for a registered name")
    parser.add_argument("--formats", type=_format_list, default=list(FORMATS),
                        help=f"comma-separated, from {','.join(FORMATS)} (default: all)")
    parser.add_argument("--preprocessing", default=None,
                        help="'none', or a mode (tf, caffe, torch) to add in front of a .keras model that "
                             "lacks it (default: keep the model's own; registered names include theirs)")
    parser.add_argument("--class-names", help="a text file with one name a line, or a comma-separated list; "
                                              "one name per output class")
    parser.add_argument("--calibration-data", help="full-int8 calibration images: .npy, IDX file or folder")
    parser.add_argument("--num-calibration", type=positive, default=100)
    parser.add_argument("--verify-data", help="verification images: .npy, IDX file or folder (default random)")
    parser.add_argument("--verify-labels", help="labels for --verify-data (as many): .npy or IDX file")
    parser.add_argument("--num-verify", type=positive, default=100)
    parser.add_argument("--int8-io", choices=INT8_IO_TYPES, default="float32",
                        help="input/output type of the full-int8 model")
    parser.add_argument("--threads", type=ints_at_least(1), default=(1, 2),
                        help="benchmark thread counts (default 1,2)")
    parser.add_argument("--benchmark-repeats", type=positive, default=50)
    parser.add_argument("--no-benchmark", action="store_true")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log (hidden by default; errors always show)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output directory that is an unchanged earlier export")
    parser.add_argument("--warn-only", action="store_true", help="report missed verification targets, still write")
    return parser


def _class_names(text):
    """`--class-names`: the lines of a text file, or a comma-separated list; no name may be empty or repeated."""
    if text is None:
        return None
    if os.path.isfile(text):
        try:
            with open(text) as f:
                names, source = f.read().rstrip().splitlines(), f"the file {text!r}"
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"Cannot read the --class-names file {text!r}: {err}") from err
    elif "," not in text and (os.sep in text or text.endswith(".txt")):
        raise FileNotFoundError(f"--class-names file not found: {text!r}")
    else:
        names, source = text.split(","), "the list"
    names = [name.strip() for name in names]
    empty = [i for i, name in enumerate(names) if not name]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if empty or repeated:
        problem = f"empty at positions {empty}" if empty else f"repeated: {repeated}"
        raise ValueError(f"--class-names must be distinct, non-empty names; in {source} some are {problem}. "
                         f"Received: {text!r}")
    return names


def _check_inputs(args, from_file):
    """The checks of the options and input files that need no model."""
    if from_file:
        given = [f"--{k.replace('_', '-')}" for k in ("weights", "input_shape", "classes") if getattr(args, k)]
        if given:
            raise ValueError(f"{', '.join(given)} apply to a registered model name; {args.model!r} is a model file "
                             "with its own weights and shapes.")
    if args.verify_labels is not None:
        if args.verify_data is None:
            raise ValueError("--verify-labels needs --verify-data (the images the labels belong to). Received: "
                             f"--verify-labels {args.verify_labels!r}")
        tool_io.check_same_length(args.verify_data, args.verify_labels)
    for flag, path in (("--calibration-data", args.calibration_data), ("--verify-data", args.verify_data)):
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(f"{flag} not found: {path!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Source:
    """The model to export and what the export records of it."""

    model: object
    metadata: dict
    class_names: list | None
    names_source: str  # where the class names come from, for error messages
    preprocessing: str  # export_model's `preprocessing`


def _model_from_file(args, class_names):
    """A `.keras` file; its metadata.json gives the model facts and, unless --class-names, the class names."""
    loaded = tool_io.load_model_with_metadata(args.model)
    known = loaded.metadata
    metadata = {k: known[k] for k in KEPT_METADATA if k in known}
    names_source = "--class-names"
    if class_names is None and known.get("class_names") is not None:
        class_names, names_source = list(known["class_names"]), f"the class_names of {loaded.metadata_path}"
    metadata["source"] = os.path.abspath(args.model)
    return _Source(model=loaded.model, metadata=metadata, class_names=class_names, names_source=names_source,
                   preprocessing=args.preprocessing or "auto")


def _registered_model(args, class_names):
    """A registered name, built with its preprocessing unless --preprocessing says otherwise."""
    import keras_resnets  # looked up at call time: the tests replace create_model to prove nothing is built early

    kwargs = {"weights": args.weights, "include_preprocessing": args.preprocessing in (None, "auto")}
    if args.input_shape:
        kwargs["input_shape"] = args.input_shape
    if args.classes:
        kwargs["classes"] = args.classes
    if args.preprocessing not in (None, "auto", "none"):
        kwargs["include_preprocessing"] = args.preprocessing
    model = keras_resnets.create_model(args.model, **kwargs)
    metadata = {"model": args.model, "model_config": keras_resnets.get_model_config(args.model),
                "create_model_kwargs": kwargs}
    return _Source(model=model, metadata=metadata, class_names=class_names, names_source="--class-names",
                   preprocessing="none" if args.preprocessing == "none" else "auto")


def _check_class_names(source, classes):
    if source.class_names is not None and classes is not None and len(source.class_names) != classes:
        raise ValueError(f"{source.names_source} gives {len(source.class_names)} names but the model has {classes} "
                         "output classes; give one name per class, in class-index order.")


def _verify_labels(args, classes):
    if args.verify_labels is None:
        return None
    labels = tool_io.load_labels(args.verify_labels, args.num_verify)
    if classes is not None:
        tool_io.check_labels(labels, classes, args.verify_labels)
    return labels


def main(argv=None) -> int:
    """The command line; raises on errors (`run` turns them into one line and an exit code)."""
    args = build_parser().parse_args(argv)
    out_dir = check_output_dir(args.out_dir, args.overwrite)  # before anything is built, loaded or written
    class_names = _class_names(args.class_names)
    from_file = tool_io.is_model_file(args.model)
    _check_inputs(args, from_file)
    source = (_model_from_file if from_file else _registered_model)(args, class_names)
    model = source.model
    classes = model.output_shape[-1] if len(model.outputs) == 1 else None
    _check_class_names(source, classes)
    input_shape = model.input_shape[1:]
    load = lambda path, n: None if path is None else tool_io.load_images(path, input_shape, n)  # noqa: E731
    verify_labels = _verify_labels(args, classes)
    meta = export_model(
        model, out_dir, formats=args.formats, metadata=source.metadata, class_names=source.class_names,
        preprocessing=source.preprocessing, calibration_images=load(args.calibration_data, args.num_calibration),
        num_calibration=args.num_calibration, verify_images=load(args.verify_data, args.num_verify),
        verify_labels=verify_labels, num_verify=args.num_verify, int8_io=args.int8_io,
        benchmark=not args.no_benchmark, threads=args.threads, benchmark_repeats=args.benchmark_repeats,
        overwrite=args.overwrite, warn_only=args.warn_only)
    print(format_report(meta))
    if meta["verification_misses"]:
        print("WARNING: missed targets:\n  " + "\n  ".join(meta["verification_misses"]), file=sys.stderr)
    print(f"Wrote {out_dir}")
    return EXIT_OK


def run(argv=None) -> int:
    """Runs the command line and returns its exit code: 2 for a usage error, 1 when the export failed (a missed
    verification target, non-finite weights), each with one line `error: ...` on stderr."""
    return run_cli(main, argv, failures=(ExportError,))
