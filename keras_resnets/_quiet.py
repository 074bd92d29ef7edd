"""A quiet start for command lines: TensorFlow imported without its start-up log.

`import tensorflow` writes a screenful to stderr before any setting can hide it: "All log messages before
absl::InitializeLog() is called are written to STDERR", "oneDNN custom operations are on", "Could not find
cuda drivers", "rebuild TensorFlow with the appropriate compiler flags", twice over. TensorFlow's C++ code logs
through absl, which writes everything to stderr until `absl::InitializeLog()` is called (TensorFlow never calls
it), so TF_CPP_MIN_LOG_LEVEL does not hide those lines; it applies only afterwards (at 3 it hides e.g. "failed
call to cuInit: ... UNKNOWN ERROR (303)" on a machine with CUDA libraries and no GPU).

`quiet_tensorflow_import()` sets TF_CPP_MIN_LOG_LEVEL=3 unless the user set it, sends file descriptor 2 (the
C++ writes and Python's alike) to a temporary file while `import tensorflow` runs, restores it right after, so
that later errors show as usual, and replays what was captured when the import fails. Python's `tensorflow`
and absl loggers are set to ERROR. `verbose=True` changes nothing and imports TensorFlow as it is.

This module uses the standard library only, so that a command line can load it before anything imports
TensorFlow. `import keras_resnets._quiet` would run `keras_resnets/__init__.py` first, which imports Keras and
so TensorFlow: load the file by path instead (`training/cli.py` does):

    import importlib.util, os
    origin = importlib.util.find_spec("keras_resnets").origin  # finds the package without importing it
    spec = importlib.util.spec_from_file_location(
        "_keras_resnets_quiet", os.path.join(os.path.dirname(origin), "_quiet.py"))
    quiet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quiet)
    quiet.quiet_tensorflow_import(verbose="--verbose" in sys.argv)
"""

import contextlib
import io
import logging
import os
import sys
import tempfile


@contextlib.contextmanager
def silenced_stderr():
    """Sends file descriptor 2 (C and C++ writes) to a temporary file and `sys.stderr` (Python's, which need not
    be file descriptor 2) to memory while the block runs, then restores both. When the block raises, what was
    written is replayed to stderr before the exception goes on, so that real errors show.

    A process that dies inside the block (an abort in a C++ library) loses what it wrote: run with the log
    on (`verbose=True`, the command lines' --verbose) to see it."""
    python_writes = io.StringIO()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 to silence
        saved = None
    try:
        capture = tempfile.TemporaryFile()
    except OSError:  # no writable temporary folder: discard instead
        capture = open(os.devnull, "wb")  # noqa: SIM115  (closed below)
    with capture:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        if saved is not None:
            os.dup2(capture.fileno(), 2)
        failed = False
        try:
            with contextlib.redirect_stderr(python_writes):
                yield
        except BaseException:
            failed = True
            raise
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            if failed:
                if capture.name != os.devnull:
                    capture.seek(0)
                    with contextlib.suppress(OSError):
                        os.write(2, capture.read())
                sys.stderr.write(python_writes.getvalue())
                sys.stderr.flush()


def quiet_tensorflow_import(verbose=False):
    """Imports TensorFlow without its start-up log (the module docstring says how) and returns it.

    Args:
        verbose: bool, True imports TensorFlow as it is, every log line on, and changes no setting.

    Returns:
        The `tensorflow` module. When something imported it already, nothing is silenced (its start-up log
        is written by then); the log levels are set all the same.
    """
    if verbose:
        import tensorflow

        return tensorflow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        tensorflow = sys.modules["tensorflow"]
    else:
        with silenced_stderr():
            import tensorflow
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):  # absl comes with TensorFlow
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    return tensorflow
