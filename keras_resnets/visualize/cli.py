"""The visualization command line, `python -m keras_resnets.visualize TOOL MODEL --out PNG [--json JSON]` (the
package docstring says what it checks and how it exits).

Each tool is one function from the checked inputs to its numbers and a function drawing its figure
(`TOOL_RUNS`); the numbers are serialized before the figure is drawn, so that nothing is written when they
cannot be. Without --images (and --labels) the images are the Fashion-MNIST test set where the training app's
data sources (`training.data`) find the Debian package's copy: the only place the library reaches into
training/, imported when that default is needed and never at import time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

import keras
import numpy as np

from keras_resnets import tool_io
from keras_resnets.tool_cli import EXIT_CODES, EXIT_OK, int_at_least, run_cli
from keras_resnets.visualize import analysis, plots
from keras_resnets.visualize.probe import check_images

TOOLS = ("feature-maps", "grad-cam", "refinement", "receptive-field", "lesion", "attention")
PICTURED = ("feature-maps", "grad-cam", "attention")  # these draw a few images: 4 by default, else 1000


# ------------------------------------------------------------------------------------------ inputs
def _load_model(spec, images_shape, classes, weights):
    """(model, class names or None): a `.keras` file with its metadata.json, or a registered name built."""
    import keras_resnets  # looked up at call time: the tests replace create_model to prove nothing is built early

    if tool_io.is_model_file(spec):
        loaded = tool_io.load_model_with_metadata(spec)
        return loaded.model, loaded.metadata.get("class_names")
    kwargs = {"weights": weights}
    if images_shape is not None:
        kwargs["input_shape"] = images_shape
    if classes:
        kwargs["classes"] = classes
    return keras_resnets.create_model(spec, **kwargs), None


def _num_classes(model):
    """The classes of a classifier with one `(N, classes)` output, else None."""
    shape = model.output_shape
    return shape[-1] if isinstance(shape, tuple) and len(shape) == 2 else None


def data_file(path, kind):
    """`path`, or the Fashion-MNIST test file of `kind` ("images"/"labels") in the Debian package's folder, as
    the training app's data sources name them (`training.data`); missing, a FileNotFoundError saying where it
    looked and how to get the files."""
    if path:
        return path
    try:
        from training import data as data_sources  # the library proper never imports training/; this default does
    except ImportError as err:
        raise FileNotFoundError(f"No --{kind} given, and the default Fashion-MNIST test set is found by the training "
                                f"app's data sources (training.data), which cannot be imported here ({err}); pass a "
                                ".npy / IDX file / image folder.") from err
    folder = data_sources.DEBIAN_FASHION_MNIST_DIR
    stem = dict(zip(("images", "labels"), data_sources.IDX_FILES["test"]))[kind]
    for name in (f"{stem}.gz", stem):
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"No --{kind} given and the Fashion-MNIST test set is not in {folder} (apt-get install "
                            f"{data_sources.DEBIAN_FASHION_MNIST_PACKAGE}, or pass a .npy / IDX file / image "
                            "folder).")


def build_parser():
    """The argparse parser of `python -m keras_resnets.visualize`."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_resnets.visualize",
        description="Pictures of what a residual network learned (PNG). The images default to the "
                    "Fashion-MNIST test set of the Debian package dataset-fashion-mnist.",
        epilog=EXIT_CODES.format(failed="e.g. matplotlib is missing", exists="without --overwrite") + " Missing "
               "parent folders of --out and --json are created; an output path that is a folder or a symbolic "
               "link is refused.")
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("model", help="a .keras file or a registered model name (random weights unless --weights)")
    parser.add_argument("--out", required=True, help="the PNG to write (missing parent folders are created)")
    parser.add_argument("--images", help=".npy (N, H, W[, C]), IDX file or folder of images")
    parser.add_argument("--labels", help=".npy or IDX labels, one per image (grad-cam shows them; lesion needs "
                                         "them)")
    parser.add_argument("--count", type=int_at_least(1), default=None,
                        help="images to use (default: 4 pictured, 1000 for refinement/receptive-field/lesion)")
    parser.add_argument("--layers", help="comma-separated layer names (feature-maps, receptive-field, grad-cam)")
    parser.add_argument("--class-index", type=int_at_least(0),
                        help="the class to explain, below the model's number of classes (grad-cam; default: "
                             "the top one)")
    parser.add_argument("--method", choices=analysis.CAM_METHODS, default="gradcam")
    parser.add_argument("--contrast", help="a second model drawn on the same axes (refinement, lesion), e.g. the "
                                           "plain twin")
    parser.add_argument("--weights", default=None, help="weights for a registered model name (e.g. imagenet)")
    parser.add_argument("--classes", type=int_at_least(1), help="classes for a registered model name")
    parser.add_argument("--json", help="also write the numbers as JSON here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log (hidden by default; errors always show)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --out / --json files")
    return parser


def _check_outputs(args):
    tool_io.check_output_file(args.out, args.overwrite, "--out")
    plots.check_png(args.out)
    if args.json is not None:
        if os.path.abspath(args.json) == os.path.abspath(args.out):
            raise ValueError(f"--json and --out must be different files. Received: {args.json!r} for both")
        tool_io.check_output_file(args.json, args.overwrite, "--json")


def _check_arguments(args):
    """The checks that need no model: outputs first (nothing is loaded or written when they fail), then the
    options' fit to the tool and the data files. Returns (images path, labels path or None, labels needed)."""
    _check_outputs(args)
    if args.class_index is not None and args.tool != "grad-cam":
        raise ValueError(f"--class-index applies to grad-cam. Received: --class-index with {args.tool}")
    if args.contrast is not None and args.tool not in ("refinement", "lesion"):
        raise ValueError(f"--contrast applies to refinement and lesion. Received: --contrast with {args.tool}")
    registered = [spec for spec in (args.model, args.contrast) if spec is not None and not tool_io.is_model_file(spec)]
    given = [flag for flag, value in (("--weights", args.weights), ("--classes", args.classes)) if value]
    if given and not registered:
        raise ValueError(f"{', '.join(given)} apply to a registered model name; {args.model!r} is a model file "
                         "with its own weights and classes.")
    images = data_file(args.images, "images")
    needs_labels = args.tool == "lesion" or (args.tool == "grad-cam" and (args.labels or not args.images))
    labels = data_file(args.labels, "labels") if needs_labels else args.labels
    if labels is not None:  # also default Fashion-MNIST labels against the user's own images
        tool_io.check_same_length(images, labels)
    return images, labels, needs_labels


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Inputs:
    """What a tool works on, checked against each other."""

    args: argparse.Namespace
    model: keras.Model
    images: np.ndarray
    labels: np.ndarray | None
    labels_path: str | None
    class_names: list | None
    layers: list | None

    def contrast(self):
        """The --contrast model, built or loaded for the same images, or None."""
        if not self.args.contrast:
            return None
        return _load_model(self.args.contrast, self.images.shape[1:], self.args.classes, self.args.weights)[0]


def _check_classes(args, model, class_names):
    classes = _num_classes(model)
    if classes is not None and args.class_index is not None and args.class_index >= classes:
        raise ValueError(f"--class-index must be below the model's {classes} classes (an integer in [0, {classes})). "
                         f"Received: {args.class_index}")
    if classes is not None and class_names is not None and len(class_names) != classes:
        raise ValueError(f"The metadata.json beside {args.model!r} names {len(class_names)} classes but the model "
                         f"has {classes}; fix its class_names.")


def _inputs(args):
    """The model, images and labels of a run, after every check that needs no model (`_check_arguments`)."""
    images_path, labels_path, needs_labels = _check_arguments(args)
    count = args.count if args.count is not None else (4 if args.tool in PICTURED else 1000)
    raw = None  # a file's images fix the input shape of a registered model; a folder's are resized to the model's
    if not os.path.isdir(images_path):
        raw = tool_io.load_images(images_path, tool_io.image_shape(images_path), count)
    model, class_names = _load_model(args.model, None if raw is None else raw.shape[1:], args.classes, args.weights)
    images = raw if raw is not None else tool_io.load_images(images_path, model.input_shape[1:], count)
    images = check_images(model, images)
    _check_classes(args, model, class_names)
    labels = tool_io.load_labels(labels_path, count) if needs_labels else None
    if labels is not None and _num_classes(model) is not None:
        tool_io.check_labels(labels, _num_classes(model), labels_path)
    layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    return _Inputs(args=args, model=model, images=images, labels=labels, labels_path=labels_path,
                   class_names=class_names, layers=layers)


# ------------------------------------------------------------------------------------------ the tools
def _run_feature_maps(run):
    maps = analysis.feature_maps(run.model, run.images[:1], run.layers)
    numbers = {name: {"shape": list(m.shape[1:]), "mean": float(m.mean())} for name, m in maps.items()}
    title = f"Feature maps of {run.model.name}"
    return numbers, lambda: plots.plot_feature_maps(maps, run.images[0], run.args.out, title=title)


def _run_grad_cam(run):
    method, layer = run.args.method, run.layers[0] if run.layers else None
    cams, chosen, probabilities = analysis.grad_cam(run.model, run.images, run.args.class_index, layer, method)
    numbers = {"classes": chosen.tolist(), "probabilities": probabilities.tolist()}
    title = f"{'Grad-CAM++' if method == 'gradcam++' else 'Grad-CAM'} of {run.model.name}"
    return numbers, lambda: plots.plot_grad_cam(run.images, cams, run.args.out, classes=chosen,
                                                probabilities=probabilities, labels=run.labels,
                                                class_names=run.class_names, title=title)


def _run_refinement(run):
    other = run.contrast()
    stats = analysis.refinement_statistics(run.model, run.images)
    contrast = analysis.refinement_statistics(other, run.images) if other is not None else None
    labels = (run.model.name, other.name if other is not None else "")
    title = f"Residual refinement of {run.model.name} ({len(run.images)} images)"
    draw = lambda: plots.plot_refinement(stats, run.args.out, contrast, labels=labels, title=title)  # noqa: E731
    return {"model": stats, "contrast": contrast}, draw


def _run_receptive_field(run):
    fields = analysis.effective_receptive_field(run.model, run.images, run.layers)
    numbers = {n: {k: v for k, v in f.items() if k != "erf"} for n, f in fields.items()}
    title = f"Effective receptive fields of {run.model.name} ({len(run.images)} images)"
    return numbers, lambda: plots.plot_receptive_fields(fields, run.args.out, title=title)


def _run_lesion(run):
    other = run.contrast()
    if other is not None and _num_classes(other) is not None:
        tool_io.check_labels(run.labels, _num_classes(other), run.labels_path)
    study = analysis.lesion_study(run.model, run.images, run.labels)
    contrast = analysis.lesion_study(other, run.images, run.labels) if other is not None else None
    labels = (run.model.name, other.name if other is not None else "")
    draw = lambda: plots.plot_lesions(study, run.args.out, contrast, labels=labels)  # noqa: E731
    return {"model": study, "contrast": contrast}, draw


def _run_attention(run):
    masks = analysis.attention_masks(run.model, run.images)
    numbers = {name: {"mean": float(m.mean()), "min": float(m.min()), "max": float(m.max())}
               for name, m in masks.items()}
    title = f"Soft attention masks of {run.model.name}"
    return numbers, lambda: plots.plot_attention_masks(run.images, masks, run.args.out, title=title)


# Tool name -> function from the checked inputs to (the numbers, a function drawing the figure).
TOOL_RUNS = {"feature-maps": _run_feature_maps, "grad-cam": _run_grad_cam, "refinement": _run_refinement,
             "receptive-field": _run_receptive_field, "lesion": _run_lesion, "attention": _run_attention}


def main(argv=None) -> int:
    """The command line; raises on errors (`run` turns them into one line and an exit code)."""
    args = build_parser().parse_args(argv)
    numbers, draw = TOOL_RUNS[args.tool](_inputs(args))
    text = json.dumps(numbers, indent=2, default=str) if args.json else None  # fails before anything is written
    draw()
    if text is not None:
        tool_io.write_atomically(args.json, lambda f: f.write(text.encode()))
    print(f"Wrote {os.path.abspath(args.out)}" + (f" and {os.path.abspath(args.json)}" if text else ""))
    return EXIT_OK


def run(argv=None) -> int:
    """Runs the command line and returns its exit code: 2 for a usage error, 1 when the work failed (matplotlib
    missing), each with one line `error: ...` on stderr."""
    return run_cli(main, argv, failures=(ImportError,))
