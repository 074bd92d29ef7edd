"""The conventions both tool command lines keep (`python -m keras_resnets.export`, `... .visualize`).

Exit codes: 0 the outputs are written and sound, 1 the work itself failed, 2 a usage error (argparse's own
errors exit 2 too). A usage error is anything the command was given and cannot use: a bad value, a missing,
corrupt or wrong-format file, an output that exists or cannot be written; library functions raise
`USAGE_ERRORS` for such input. Every error is one line `error: ...` on stderr, never a traceback. Numbers are
parsed by range-checking argparse types, so that no option takes a bare int that would let 0 or -5 through.
"""

import argparse
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
USAGE_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
                PermissionError)
# The epilog of both parsers and a sentence of both module docstrings; each tool fills in its own cases.
EXIT_CODES = ("Exit codes: 0 the outputs are written and sound; 1 the work itself failed ({failed}); 2 a usage "
              "error: a bad argument value, a missing, corrupt or wrong-format input file, images and labels of "
              "different lengths, labels or class names that do not fit the model, an output path that cannot be "
              "written or already exists ({exists}). Errors are printed as `error: ...` on stderr (a usage error in "
              "one line), never a traceback; outputs are checked before any model is built or loaded, and a "
              "usage error writes nothing.")


def int_at_least(minimum):
    """An argparse `type`: an int >= `minimum`; anything else is a usage error (exit 2) naming the bound.

    Args:
        minimum: int, the smallest value allowed.

    Returns:
        A function from the option's text to its int value.
    """

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}. Received: {text!r}")
        return value

    return parse


def ints_at_least(minimum, count=None, example="1,2"):
    """An argparse `type`: comma-separated ints, each >= `minimum` (exactly `count` of them when given).

    Args:
        minimum: int, the smallest value allowed.
        count: int or None, how many values there must be.
        example: str, shown in the error message.

    Returns:
        A function from the option's text to a tuple of ints.
    """
    check = int_at_least(minimum)

    def parse(text):
        try:
            values = tuple(check(part) for part in text.split(","))
        except argparse.ArgumentTypeError:
            values = None
        if values is None or (count is not None and len(values) != count):
            size = f"{count} " if count else ""
            raise argparse.ArgumentTypeError(f"must be {size}comma-separated integers >= {minimum}, e.g. {example}. "
                                             f"Received: {text!r}")
        return values

    return parse


def run_cli(main_fn, argv=None, failures=()) -> int:
    """Runs a tool's `main(argv)`: usage errors (`USAGE_ERRORS`) exit 2 and `failures` exit 1, each with a
    one-line `error: ...` on stderr instead of a traceback.

    Args:
        main_fn: the tool's `main(argv) -> int`, which raises on errors.
        argv: list of str or None (sys.argv[1:]).
        failures: tuple of exception types that mean the work failed (exit 1).

    Returns:
        The exit code.
    """
    try:
        return main_fn(argv)
    except failures as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except USAGE_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
