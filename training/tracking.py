"""Weights & Biases: mode resolution, files kept in the run's workdir, key hygiene.

The API key is read by wandb itself from the environment (`WANDB_API_KEY`) or netrc, never from the run
config; nothing here reads, logs or writes it.
"""

import netrc
import os

WANDB_MODES = ("auto", "online", "offline", "disabled")


def key_configured() -> bool:
    """Whether wandb would find an API key (environment or netrc), without reading it into the run."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(mode: str) -> str:
    """The W&B mode a run uses: `mode`, with "auto" made "online" when an API key is configured, else "offline"."""
    if mode not in WANDB_MODES:
        raise ValueError(f"wandb mode must be one of {WANDB_MODES}. Received: {mode!r}")
    if mode == "auto":
        return "online" if key_configured() else "offline"
    return mode


def describe_mode(mode, workdir) -> str:
    """The W&B line at the start of a run: the mode, why (for auto), and where its files go."""
    resolved = resolve_mode(mode)
    if resolved == "disabled":
        return "disabled (nothing is logged to W&B)"
    why = ""
    if mode == "auto":
        why = (" (auto: an API key is configured)" if resolved == "online" else
               " (auto: no API key in WANDB_API_KEY or ~/.netrc; --wandb online after `wandb login` uploads live)")
    return f"{resolved}{why}; its files in {os.path.join(os.fspath(workdir), 'wandb')}"


def keep_files_in(workdir) -> None:
    """Points every wandb directory at the run's workdir instead of $HOME."""
    base = os.path.join(os.fspath(workdir), "wandb")
    for var, sub in (("WANDB_DIR", ""), ("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"),
                     ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):
        path = os.path.join(base, sub) if sub else os.fspath(workdir)
        os.makedirs(path, exist_ok=True)
        os.environ[var] = path


class Tracker:
    """A wandb run (or nothing, when disabled) with the calls training needs."""

    def __init__(self, mode, *, workdir, project, entity, name, run_id, config, tags):
        self.mode = resolve_mode(mode)
        self.run = None
        if self.mode == "disabled":
            return
        keep_files_in(workdir)
        import wandb

        self._wandb = wandb
        self.run = wandb.init(
            project=project,
            entity=entity,
            name=name,
            id=run_id,
            resume="allow",
            config=config,
            tags=list(tags),
            mode=self.mode,
            dir=os.fspath(workdir),
            settings=wandb.Settings(console="off", silent=True),
        )

    @classmethod
    def disabled(cls, workdir):
        """A tracker that logs nothing (the other workers of a multi-worker run)."""
        return cls("disabled", workdir=workdir, project=None, entity=None, name=None, run_id=None, config=None,
                   tags=())

    def where(self):
        """Where the run's W&B record is: the `wandb sync DIR` command that uploads an offline run, the run's
        URL online, None when disabled."""
        if self.run is None:
            return None
        if self.mode == "offline":
            return f"wandb sync {self.run.settings.sync_dir}"
        return self.run.url

    def callbacks(self, log_every_steps):
        """The Keras callbacks that log to the run every `log_every_steps` steps (none when disabled)."""
        if self.run is None:
            return []
        from wandb.integration.keras import WandbMetricsLogger

        return [WandbMetricsLogger(log_freq=log_every_steps)]

    def log_artifact(self, path, name, kind, metadata=None):
        """Uploads the file or folder `path` as an artifact (nothing when disabled or when `path` is missing)."""
        if self.run is None or path is None or not os.path.exists(path):
            return
        artifact = self._wandb.Artifact(name=name, type=kind, metadata=metadata or {})
        if os.path.isdir(path):
            artifact.add_dir(path)
        else:
            artifact.add_file(path)
        self.run.log_artifact(artifact)

    def summary(self, values):
        """Adds `values` to the run's summary."""
        if self.run is not None:
            self.run.summary.update(values)

    def finish(self, exit_code=0):
        """Ends the run; a non-zero `exit_code` marks it failed."""
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
