"""The degradation problem (He et al. 2015, Figure 6), on a CPU: deeper plain networks train worse; residual
ones do not.

Trains plain-20, plain-56, ResNet-20 and ResNet-56 (the CIFAR 6n+2 family; each plain net is its ResNet
without shortcuts) with the same recipe, one after another, and plots their training error (thin) and test error
(bold) against iterations: plain nets on the left, ResNets on the right, like the paper's figure. The paper's
claim has two halves: the deeper plain net trains *worse* than the shallower one (degradation), and the deeper
ResNet trains *better* than the shallower one. The output says whether each half holds (final training error,
measured in inference mode on the whole training set).

    python examples/degradation.py --epochs 12 --precision auto --out runs/degradation-full   # both halves, ~1.5 h
    python examples/degradation.py --train-size 8192 --epochs 3 --out runs/degradation        # a quick look
    python examples/degradation.py --out runs/degradation-full --resume                       # after a crash

The recipe is the paper's (SGD momentum 0.9, batch 128, learning rate 0.1, weight decay 1e-4, flips;
BatchNorm momentum 0.9, Torch's default) with a cosine decay over the schedule instead of the paper's steps
at 32k/48k iterations. `--precision auto` trains in bfloat16 where the CPU computes it natively (AVX-512 BF16,
AMX), as the training app does. Fashion-MNIST comes from the Debian package dataset-fashion-mnist; CIFAR-10 from
a local copy (see training/data/: nothing is downloaded here). Writes `degradation.json` (the curves and
final errors), `degradation.png` and, with `--save-models`, each trained model as `<name>.keras` (for
`python -m keras_resnets.visualize`). After every epoch each model's state (weights, optimizer, curves) is
saved under `<out>/state/`, so `--resume` continues where a run stopped (the flips of a resumed epoch are drawn
afresh); a finished model is not trained again.
"""

import argparse
import json
import os
import tempfile
import time

import keras_resnets  # first: it imports TensorFlow without its start-up log for the examples (--verbose shows it)

import keras  # noqa: I001
import numpy as np
from keras_resnets.outputs import check_output_folder
from training.data import load_splits


class ErrorCurve(keras.callbacks.Callback):
    """Training error over every `every` steps (training mode, as it trains) and test error at epoch ends."""

    def __init__(self, test, every):
        super().__init__()
        self.test, self.every = test, every
        self.train, self.test_errors, self.step, self._window = [], [], 0, []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_hits = 0.0

    def on_train_batch_end(self, batch, logs=None):
        # Keras logs the epoch's running accuracy; times the steps so far it is the epoch's hit count.
        self.step += 1
        hits = logs["accuracy"] * (batch + 1)
        self._window.append(hits - self._epoch_hits)
        self._epoch_hits = hits
        if len(self._window) == self.every:
            self.train.append((self.step, 1.0 - float(np.mean(self._window))))
            self._window = []

    def on_epoch_end(self, epoch, logs=None):
        images, labels = self.test
        predictions = self.model.predict(images, batch_size=500, verbose=0).argmax(-1)
        self.test_errors.append((self.step, float((predictions != labels).mean())))


def _state_paths(out, name):
    folder = os.path.join(out, "state")
    return os.path.join(folder, f"{name}.keras"), os.path.join(folder, f"{name}.json")


def _save_state(model, curve, epoch, seconds, out, name, recipe):
    """The model (with its optimizer) and the curves after `epoch` epochs, each written to a temporary file of
    this process and renamed into place, so a crash leaves the previous state whole."""
    model_path, curve_path = _state_paths(out, name)
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    for path, write in ((model_path, lambda tmp: model.save(tmp)),
                        (curve_path, lambda tmp: _write_json(tmp, {
                            "recipe": recipe, "epochs_done": epoch, "seconds": seconds, "step": curve.step,
                            "train": curve.train,
                            "test": curve.test_errors}))):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=os.path.splitext(path)[1])
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


def train_one(depth, residual, data, args):
    (x_train, y_train), (x_test, y_test), shape, classes = data
    name = f"{'resnet' if residual else 'plain'}{depth}"
    model_path, curve_path = _state_paths(args.out, name)
    curve = ErrorCurve((x_test, y_test), every=args.log_every)
    done, seconds = 0, 0.0
    # What a resumed model must have been started with (its optimizer's schedule depends on it).
    recipe = {k: getattr(args, k) for k in ("dataset", "epochs", "train_size", "batch_size", "lr", "weight_decay",
                                            "seed", "precision", "log_every")}
    if args.resume and os.path.exists(curve_path) and os.path.exists(model_path):
        with open(curve_path) as f:
            state = json.load(f)
        if state.get("recipe") != recipe:
            raise SystemExit(f"error: --resume with other settings than the saved run's: saved {state.get('recipe')}, "
                             f"received {recipe}")
        model = keras.saving.load_model(model_path)  # safe mode: the package's layers are registered
        done, seconds = state["epochs_done"], state["seconds"]
        curve.step, curve.train, curve.test_errors = state["step"], [tuple(p) for p in state["train"]], \
            [tuple(p) for p in state["test"]]
        print(f"  {name}: resumed after epoch {done}/{args.epochs}", flush=True)
    else:
        keras.utils.set_random_seed(args.seed)  # every model starts from the same seed
        # BatchNorm momentum 0.9 (Torch's and PyTorch's 0.1, as in the fb.resnet.torch reproduction): with Keras'
        # 0.99 a short run's test error mostly measures moving averages that have not caught up yet.
        model = keras_resnets.CIFARResNet(depth, shortcut="zero_pad" if residual else "none", input_shape=shape,
                                          classes=classes, bn_momentum=0.9)
        steps = args.epochs * (len(x_train) // args.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps)
        model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=args.weight_decay),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    augment = keras.layers.RandomFlip("horizontal", seed=args.seed)
    for epoch in range(done, args.epochs):
        keras.utils.set_random_seed(args.seed * 1000 + epoch)  # each epoch's flips and order, also after --resume
        start = time.perf_counter()
        flipped = keras.ops.convert_to_numpy(augment(x_train, training=True))
        model.fit(flipped, y_train, batch_size=args.batch_size, epochs=epoch + 1, initial_epoch=epoch,
                  shuffle=True, callbacks=[curve], verbose=0)
        seconds += time.perf_counter() - start
        _save_state(model, curve, epoch + 1, seconds, args.out, name, recipe)
        print(f"  {name} epoch {epoch + 1}/{args.epochs}: test error {curve.test_errors[-1][1]:.4f} "
              f"({seconds / 60:.1f} min)", flush=True)
    train_predictions = model.predict(x_train, batch_size=500, verbose=0).argmax(-1)
    if args.save_models:
        model.save(os.path.join(args.out, f"{name}.keras"))
    return {
        "model": name, "params": model.count_params(), "seconds": round(seconds, 1),
        "train_curve": curve.train, "test_curve": curve.test_errors,
        "final_train_error": float((train_predictions != y_train).mean()),  # inference mode, no augmentation
        "final_test_error": curve.test_errors[-1][1],
    }


def verdict(results):
    """Whether each half of the paper's claim holds, from the final training errors: {"plain": ..., "residual": ...}
    with the shallow and deep errors and `holds` (deeper plain worse; deeper residual better), where both depths ran."""
    errors = {r["model"]: r["final_train_error"] for r in results}
    found = {}
    for kind, deeper_should_be in (("plain", "worse"), ("resnet", "better")):
        depths = sorted(int(m[len(kind):]) for m in errors if m.startswith(kind) and m[len(kind):].isdigit())
        if len(depths) < 2:
            continue
        shallow, deep = errors[f"{kind}{depths[0]}"], errors[f"{kind}{depths[-1]}"]
        holds = deep > shallow if deeper_should_be == "worse" else deep < shallow
        found["plain" if kind == "plain" else "residual"] = {
            "shallow": f"{kind}{depths[0]}", "deep": f"{kind}{depths[-1]}", "shallow_train_error": shallow,
            "deep_train_error": deep, "deeper_should_be": deeper_should_be, "holds": holds}
    return found


def plot(results, path, title):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for result in results:
        ax = axes[0] if result["model"].startswith("plain") else axes[1]
        steps, errors = zip(*result["train_curve"]) if result["train_curve"] else ((), ())
        line, = ax.plot(steps, 100 * np.asarray(errors), lw=0.8, alpha=0.8)
        test_steps, test_errors = zip(*result["test_curve"])
        ax.plot(test_steps, 100 * np.asarray(test_errors), lw=2.2, marker="o", color=line.get_color(),
                label=f"{result['model']} (test {100 * result['final_test_error']:.1f}%)")
    for ax, kind in zip(axes, ("plain networks", "residual networks")):
        ax.set_title(kind)
        ax.set_xlabel("iterations (batches of 128)")
        ax.set_ylabel("error (%)  thin: training, bold: test")
        ax.legend()
        ax.grid(alpha=0.3)
    figure.suptitle(title)
    figure.savefig(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", choices=["fashion_mnist", "cifar10"])
    parser.add_argument("--depths", default="20,56", help="comma-separated 6n+2 depths (default: 20,56)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=None, help="use the first N training images")
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--log-every", type=int, default=10, help="steps per point of the training curve")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/degradation")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log (hidden by default; errors always show)")
    parser.add_argument("--save-models", action="store_true")
    parser.add_argument("--precision", default="float32", choices=["float32", "auto", "mixed_bfloat16"],
                        help="auto: mixed_bfloat16 where the CPU computes bfloat16 natively, else float32")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its saved state")
    args = parser.parse_args()
    try:
        out = os.path.abspath(args.out)
        state = os.path.join(out, "state")
        if args.resume:  # a run writes its state/ after its first epoch; --resume needs one of its files
            if not (os.path.isdir(state) and any(n.endswith(".json") for n in os.listdir(state))):
                raise ValueError(f"--resume: {out} holds no state/ of an earlier examples/degradation.py run. "
                                 f"Received: --out {args.out!r}")
        elif os.path.isdir(state):
            raise ValueError(f"{out} holds an earlier run's state/: pass --resume to continue it, or choose another "
                             f"--out. Received: --out {args.out!r}")
        else:
            check_output_folder(out, "degradation.json", "examples/degradation.py")
    except ValueError as err:
        parser.error(str(err))
    depths = [int(d) for d in args.depths.split(",")]
    if any(d < 8 or (d - 2) % 6 for d in depths) or args.epochs < 1:
        parser.error(f"--depths must be 6n+2 (8, 14, 20, ...) and --epochs >= 1. Received: {args.depths}, "
                     f"{args.epochs}")

    from training.train import resolve_precision

    policy, why = resolve_precision(args.precision)
    keras.mixed_precision.set_global_policy(policy)
    splits, info = load_splits({"name": args.dataset})
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    keep = min(args.train_size or len(x_train), len(x_train)) // args.batch_size * args.batch_size  # full batches
    x_train, y_train = x_train[:keep].astype("float32"), y_train[:keep]
    x_test, y_test = x_test[:args.test_size].astype("float32"), y_test[:args.test_size]
    data = ((x_train, y_train), (x_test, y_test), x_train.shape[1:], info.num_classes)
    os.makedirs(args.out, exist_ok=True)
    print(f"{args.dataset}: {len(x_train)} training / {len(x_test)} test images, {args.epochs} epochs, "
          f"{policy} ({why})")

    results = []
    for residual in (False, True):
        for depth in depths:
            results.append(train_one(depth, residual, data, args))
            r = results[-1]
            print(f"{r['model']:>9}: training error {100 * r['final_train_error']:.2f}%, "
                  f"test error {100 * r['final_test_error']:.2f}%  ({r['seconds']:.0f} s)", flush=True)
    halves = verdict(results)
    for kind, v in halves.items():
        print(f"{kind}: {v['deep']} trains {'worse' if v['deep_train_error'] > v['shallow_train_error'] else 'better'} "
              f"than {v['shallow']} (training error {100 * v['deep_train_error']:.2f}% vs "
              f"{100 * v['shallow_train_error']:.2f}%): the paper's half {'holds' if v['holds'] else 'does not hold'}")
    with open(os.path.join(args.out, "degradation.json"), "w") as f:
        json.dump({"args": vars(args), "precision": policy, "results": results, "verdict": halves}, f, indent=1)
    plot(results, os.path.join(args.out, "degradation.png"),
         f"Plain networks and their residual twins on {args.dataset} "
         f"({len(x_train)} training images, {args.epochs} epochs, the same recipe)")
    print(f"Wrote {args.out}/degradation.json and degradation.png")


if __name__ == "__main__":
    main()
