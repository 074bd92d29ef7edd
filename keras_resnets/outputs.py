"""Output folders that a tool may write into without touching anything that is not its own.

A tool that writes fixed file names into a user-given folder (`python -m benchmarks --out DIR` writes
results.json, RESULTS.md and plots/; `examples/degradation.py --out DIR` writes degradation.json and its
models) calls `check_output_folder` before any work: the folder must be new, empty, or hold the tool's own
marker file from an earlier run, so a mistyped path never overwrites a user's RESULTS.md or README.
"""

import os


def check_output_folder(path, marker, tool):
    """Raises `ValueError` unless `path` is missing, an empty folder, or a folder holding `marker` (the file
    this tool writes in every output folder, e.g. "results.json").

    Args:
        path: str or path, the output folder a user gave.
        marker: str, the file name that marks the tool's own earlier output.
        tool: str, the command, for the message (e.g. "python -m benchmarks").

    Returns:
        The absolute path.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"{tool}: the output {path} exists and is not a folder. Received: {path!r}")
    if os.path.isdir(path) and os.listdir(path) and not os.path.isfile(os.path.join(path, marker)):
        raise ValueError(
            f"{tool}: the output folder {path} holds files that {tool} did not write (no {marker} there); it writes "
            f"only into a new or empty folder or one of its own earlier outputs. Choose another folder. "
            f"Received: {path!r}"
        )
    return path
