"""`python -m training CONFIG [options]`: run a recipe.

Examples:
    python -m training fashion_mnist_resnet20                      # the default recipe, 6-10 minutes on 2 cores
    python -m training cifar10_resnet56 --set optimizer.learning_rate=0.05 --wandb offline
    python -m training fashion_mnist_resnet20 --workdir runs/x --resume    # continue after a crash
    python -m training cifar10_resnet56 --smoke    # check the code path in a minute or less; nothing is kept
    python -m training --list

Exit codes: 0 the run finished and its export is written and sound (finite weights, finite test loss; a
--smoke run exports only with --export); 2 a usage error, found before training starts (a config value
outside its range, a run name that is not a plain name, a workdir that is not new or empty, --resume with
nothing to resume, an export folder that exists for an explicit --name, missing data); 1 the run failed (it
diverged: nothing is exported, the last good backup is kept for --resume).

TensorFlow's start-up log is hidden (--verbose shows it); errors still show.
"""

import argparse
import os
import sys
import time

DEFAULT_RECIPE = "fashion_mnist_resnet20"


def parse_args(argv=None):
    """The command line's options (see the module docstring and `--help`)."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=DEFAULT_RECIPE,
                        help=f"a recipe name (see --list; default {DEFAULT_RECIPE}) or a path to a recipe .py file")
    parser.add_argument("--list", action="store_true", help="list the shipped recipes, one line each, and exit")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config value, e.g. --set optimizer.learning_rate=0.05 (repeatable)")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check of the recipe's code path, a minute or less on 2 CPU cores (its smoke "
                             "override: a few steps, on synthetic data of the recipe's shape for the CIFAR and "
                             "ImageNet recipes, on the real data for Fashion-MNIST; its loss and "
                             "accuracy mean nothing). Its workdir is a temporary folder, removed at the end, "
                             "unless --workdir is given (W&B is then off unless --wandb is given), and it "
                             "exports nothing unless --export is given")
    parser.add_argument("--export", action="store_true",
                        help="with --smoke: export the model too (a full run always exports)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="the global batch size (split across replicas)")
    parser.add_argument("--workdir", help="where the run keeps its files (default runs/<recipe>-<time>; with "
                                          "--smoke a temporary folder)")
    parser.add_argument("--name", help="the run name: a plain name, the export folder under export_dir (default: "
                                       "the workdir's name; an existing export folder is never replaced)")
    parser.add_argument("--wandb", choices=["auto", "online", "offline", "disabled"],
                        help="W&B mode (default auto: online when an API key is configured, else offline)")
    parser.add_argument("--strategy", choices=["auto", "default", "one_device", "mirrored", "multi_worker", "tpu"])
    parser.add_argument("--precision", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                        help="auto: mixed_bfloat16 on TPUs and CPUs with native bfloat16 (AVX512_BF16, AMX), "
                             "else float32")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--xla", action="store_true", help="compile the train step with XLA (jit_compile)")
    parser.add_argument("--steps-per-execution", type=int)
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir from its last backup")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's and CUDA's start-up log, which is hidden by default")
    return parser.parse_args(argv)


def resolve_config(args):
    """The recipe with the smoke override and the command-line options applied (in that order)."""
    from training.config import apply_overrides, apply_smoke, check_config, load_recipe

    config = load_recipe(args.config)
    if args.smoke:
        config = apply_smoke(config)
    overrides = list(args.set)
    for option, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("wandb", "wandb.mode"),
                        ("strategy", "strategy"), ("precision", "precision"), ("seed", "seed"),
                        ("steps_per_execution", "steps_per_execution")):
        value = getattr(args, option)
        if value is not None:
            overrides.append(f"{key}={value!r}")
    if args.xla:
        overrides.append("jit_compile=True")
    if args.name is not None:  # an empty --name is refused (check_run_name), not ignored
        config.setdefault("run_name", None)
        config.run_name = args.name
    config = apply_overrides(config, overrides)
    return check_config(config)


def print_recipes(out=None):
    """`--list`: one line per shipped recipe, its name and the first line of its docstring; the default marked."""
    from training.config import list_recipes, recipe_description

    out = out or sys.stdout
    names = list_recipes()
    width = max(len(name) for name in names)
    for name in names:
        mark = "*" if name == DEFAULT_RECIPE else " "
        print(f"{mark} {name:<{width}}  {recipe_description(name)}", file=out)
    print("\n* the default (python -m training without a recipe). Run: python -m training RECIPE [--smoke]; "
          "recipe files: training/configs/", file=out)


def _quiet_tensorflow_import(verbose):
    """`keras_resnets._quiet.quiet_tensorflow_import`, loaded by path: `import keras_resnets._quiet` would run
    keras_resnets/__init__.py first, which imports TensorFlow before the quiet import could begin."""
    import importlib.util

    if "tensorflow" in sys.modules or importlib.util.find_spec("keras_resnets") is None:
        return
    origin = importlib.util.find_spec("keras_resnets").origin  # finds the package without importing it
    spec = importlib.util.spec_from_file_location("_keras_resnets_quiet",
                                                  os.path.join(os.path.dirname(origin), "_quiet.py"))
    quiet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quiet)
    quiet.quiet_tensorflow_import(verbose=verbose)


def smoke_notice(config, workdir_kept, export):
    """What a --smoke run is, said before it starts: its figures mean nothing, and what it keeps."""
    data = config.data.name
    on = ("synthetic data (random images of the recipe's shape, not the dataset)" if data == "synthetic"
          else f"{data} data")
    epochs, steps = config.epochs, config.get("steps_per_epoch")
    return (f"smoke run: {epochs} epoch{'s' if epochs != 1 else ''} of {steps or 'all'} steps at batch "
            f"{config.batch_size} on {on}, to check the code path; its loss and accuracy mean nothing. "
            + ("Its workdir is kept (--workdir)" if workdir_kept else
               "Its workdir is a temporary folder, removed at the end (--workdir keeps it)")
            + ("; it exports the model (--export)." if export else "; it exports nothing (--export writes one).")
            )


def main(argv=None):
    """Runs the command line; returns its exit code: 0 done, 2 a usage error before training, 1 a failed run."""
    args = parse_args(argv)
    if args.list:
        print_recipes()
        return 0
    _quiet_tensorflow_import(verbose=args.verbose)
    try:
        config = resolve_config(args)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        import json

        print(json.dumps(config.to_dict(), indent=2, default=str))
        return 0
    if args.resume and not args.workdir:
        print("error: --resume needs the --workdir of the run to continue.", file=sys.stderr)
        return 2
    if args.export and not args.smoke:
        print("note: --export is for --smoke runs; a full run always exports.", file=sys.stderr)
    from training.train import TrainingError, train_and_evaluate

    name = config.get("run_name") or config.recipe
    temporary = None
    if args.workdir:
        workdir = args.workdir
    elif args.smoke:
        import tempfile

        temporary = tempfile.mkdtemp(prefix="training-smoke-")
        workdir = os.path.join(temporary, f"{name}-smoke")
    else:
        workdir = os.path.join("runs", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    export = args.export or not args.smoke
    if temporary is not None and args.wandb is None:
        # A smoke run in a temporary folder logs to W&B only when asked: offline files would go with the folder.
        config.wandb.mode = "disabled"
    if args.smoke:
        print(smoke_notice(config, workdir_kept=temporary is None, export=export))
    try:
        command = "python -m training " + " ".join(sys.argv[1:] if argv is None else argv)
        train_and_evaluate(config, workdir, resume=args.resume, command=command, export=export)
    except (ValueError, TypeError) as err:  # the run cannot start as asked (ConfigError, missing data, ...)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingError as err:  # the run failed (diverged): nothing was exported
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if temporary is not None:
            import shutil

            shutil.rmtree(temporary, ignore_errors=True)  # the folder this call created, nothing else
    if args.smoke:
        print("smoke run finished: the code path works" + ("" if temporary is None else
              "; its temporary workdir is removed") + ". Its figures mean nothing.")
    return 0
