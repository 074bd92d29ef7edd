"""Where a run keeps its files and what it is called, settled before any work.

A new run starts in a new or empty workdir, so it never writes over files that are not its own; `--resume`
needs the backup of the run it continues. The run name is a plain name (`training.config.check_run_name`)
that names the export folder, which is new (`training.run_export.export_target`). In a multi-worker run only
the chief writes the run's files; the other workers keep theirs in `worker-N` folders of the chief's workdir.
`place_run` makes all of these choices in one step and returns them as a `RunPlace`.
"""

import dataclasses
import json
import os
import re
import tempfile

from training.callbacks import CrashBackup
from training.config import ConfigError, check_run_name
from training.run_export import export_target

# Sub-folders that the other workers of a multi-worker run keep in the chief's workdir.
WORKER_DIR_PATTERN = r"worker-\d+"


def check_workdir(workdir, resume):
    """Checks the workdir before anything is written (`make_workdir` creates it). Returns the earlier run's
    `run.json` contents when resuming, else None.

    A new run starts in a new or empty folder (its other workers' `worker-N` folders aside), so it never
    writes over files that are not its own; `--resume` needs the backup of the run it continues."""
    backup_dir = os.path.join(workdir, "backup")
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        raise ConfigError(f"The workdir {workdir!r} exists and is not a folder. Pass --workdir with a new folder.")
    if resume:
        state = CrashBackup.latest(backup_dir) if os.path.isdir(backup_dir) else None
        run_json = os.path.join(workdir, "run.json")
        if state is None or not os.path.isfile(run_json):
            raise ConfigError(
                f"--resume found no run to continue in {workdir!r}: it looked for {os.path.join(backup_dir, 'latest.json')}"
                f" and {run_json} (a run writes them after its first backup: every backup_every_steps steps and "
                "at each epoch end). Check --workdir, or start a new run without --resume."
            )
        with open(run_json) as f:
            run_meta = json.load(f)
        check_run_name(run_meta.get("run_name"))
        return run_meta
    entries = sorted(os.listdir(workdir)) if os.path.isdir(workdir) else []
    entries = [e for e in entries if not re.fullmatch(WORKER_DIR_PATTERN, e)]
    if os.path.isdir(backup_dir) and CrashBackup.latest(backup_dir):
        raise ConfigError(
            f"{workdir!r} holds a backup of an earlier run. Pass --resume to continue it, or another --workdir."
        )
    if entries:
        raise ConfigError(
            f"The workdir {workdir!r} is not empty ({len(entries)} entries, e.g. {entries[:3]}). A new run "
            "starts in a new or empty folder so that it never writes over other files: pass another --workdir "
            "(the default is a new runs/<name>-<time>), or --resume to continue the run kept there."
        )
    return None


def make_workdir(workdir):
    """Creates the (checked) workdir and proves it writable with a probe file of its own."""
    try:
        os.makedirs(workdir, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=workdir)
        os.close(fd)
        os.remove(probe)  # the probe this process just created
    except OSError as err:
        raise ConfigError(f"The workdir {workdir!r} is not writable ({err}). Pass --workdir with a writable path.")


def default_run_name(config, workdir):
    """The workdir's name (runs/<recipe>-<time> from the CLI), else the recipe's: the first that is a plain
    name (`training.config.check_run_name`)."""
    for candidate in (os.path.basename(workdir.rstrip(os.sep)), str(config.get("recipe") or ""), "run"):
        try:
            return check_run_name(candidate)
        except ConfigError:
            continue


@dataclasses.dataclass(frozen=True)
class RunPlace:
    """Where a run keeps its files and what it is called (`place_run`).

    Attributes:
        workdir: str, this process's workdir (a `worker-N` folder of the chief's for the other workers).
        run_name: str, the run's name (the export folder's, unless that folder appeared meanwhile).
        requested_name: str, the name asked for (`run_name`, the resumed run's, or the default).
        explicit_name: bool, whether the user named a new run (an existing export folder is then an error).
        export_dir: str or None, the export folder, None when the run exports nothing.
        run_meta: dict or None, the resumed run's `run.json`.
        is_chief: bool, whether this process writes the run's files (export, W&B).
    """

    workdir: str
    run_name: str
    requested_name: str
    explicit_name: bool
    export_dir: object
    run_meta: object
    is_chief: bool

    @property
    def backup_dir(self):
        """The folder of the crash backups (`training.callbacks.CrashBackup`)."""
        return os.path.join(self.workdir, "backup")


def place_run(config, workdir, *, replicas, resume, export):
    """Checks and creates the run's workdir and settles its name and export folder, before any work.

    Args:
        config: Config, the run's (its `run_name`, `recipe` and `export_dir`).
        workdir: str, the absolute workdir given (the chief's, in a multi-worker run).
        replicas: dict, `training.distribute.replica_info` of the run's strategy.
        resume: bool, whether the run continues the one kept in `workdir`.
        export: bool, whether the run exports.

    Returns:
        RunPlace.

    Raises:
        ConfigError: a workdir that is not new or empty, nothing to resume, a bad run name, an export folder
            that exists for an explicit name.
    """
    default_name = default_run_name(config, workdir)  # the chief's workdir: the same on every worker
    if not replicas["is_chief"]:
        # Multi-worker: every worker trains in lockstep, but only the chief writes the run's files; the
        # others keep their backups and logs apart so they never write the same file.
        workdir = os.path.join(workdir, f"worker-{replicas['worker_index']}")
    run_meta = check_workdir(workdir, resume)
    explicit_name = bool(config.get("run_name")) and run_meta is None
    requested = run_meta["run_name"] if run_meta else (config.get("run_name") or default_name)
    if export:
        run_name, export_dir = export_target(config.export_dir, requested, explicit=explicit_name)
    else:
        run_name, export_dir = check_run_name(requested), None
    make_workdir(workdir)
    return RunPlace(workdir=workdir, run_name=run_name, requested_name=requested, explicit_name=explicit_name,
                    export_dir=export_dir, run_meta=run_meta, is_chief=replicas["is_chief"])
