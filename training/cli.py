"""`python -m training CONFIG [options]`: run a recipe.

Examples:
    python -m training fashion_mnist_resnet20                      # the default recipe, 6-10 minutes on 2 cores
    python -m training cifar10_resnet56 --set optimizer.learning_rate=0.05 --wandb offline
    python -m training fashion_mnist_resnet20 --workdir runs/x --resume    # continue after a crash
    python -m training --list

Exit codes: 0 the run finished and its export is written and sound (finite weights, finite test loss);
2 a usage error, found before training starts (a config value outside its range, a run name that is not a
plain name, a workdir that is not new or empty, --resume with nothing to resume, an export folder that
exists for an explicit --name, missing data); 1 the run failed (it diverged: nothing is exported, the last
good backup is kept for --resume).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default="fashion_mnist_resnet20",
                        help="a recipe name (see --list) or a path to a recipe .py file")
    parser.add_argument("--list", action="store_true", help="list the shipped recipes and exit")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config value, e.g. --set optimizer.learning_rate=0.05 (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="apply the recipe's smoke override (a seconds-long run)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int, help="the global batch size (split across replicas)")
    parser.add_argument("--workdir", help="where the run keeps its files (default runs/<run name>)")
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


def main(argv=None):
    args = parse_args(argv)
    from training.config import list_recipes

    if args.list:
        print("\n".join(list_recipes()))
        return 0
    try:
        config = resolve_config(args)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        import json

        print(json.dumps(config.to_dict(), indent=2, default=str))
        return 0
    from training.train import TrainingError, train_and_evaluate

    name = config.get("run_name") or config.recipe
    workdir = args.workdir or os.path.join("runs", name if args.resume else f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.resume and not args.workdir:
        print("error: --resume needs the --workdir of the run to continue.", file=sys.stderr)
        return 2
    try:
        command = "python -m training " + " ".join(sys.argv[1:] if argv is None else argv)
        summary = train_and_evaluate(config, workdir, resume=args.resume, command=command)
    except (ValueError, TypeError) as err:  # the run cannot start as asked (ConfigError, missing data, ...)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingError as err:  # the run failed (diverged): nothing was exported
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"summary: {summary}")
    return 0
