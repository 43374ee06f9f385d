"""The errors a user can cause and mend: the command line prints them as one line, without a traceback.

Each is also a standard exception (`ValueError`, `FileNotFoundError`, ...), so code that catches those
keeps working. Anything else that escapes a command is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake of the user's (a bad setting, missing data, a run folder in the way): one line, status 2."""


class ConfigError(UserError, ValueError):
    """A config field (a command-line flag) has a value that makes no sense."""


class RunFolderError(UserError, FileExistsError):
    """The run folder already holds a run, and `--resume` was not given."""


class ResumeError(UserError, ValueError):
    """A run cannot be resumed with this config: it differs from the run's saved config.json."""


class RunNotFoundError(UserError, FileNotFoundError):
    """Nothing to resume or load where a run was expected (no config.json, checkpoint, best parameters)."""


class CheckpointError(UserError, ValueError):
    """No checkpoint of a run could be read (all of them are corrupt or incomplete)."""


class DatasetNotFoundError(UserError, FileNotFoundError):
    """The dataset is neither prepared in the data directory nor downloadable."""


class CorruptDatasetError(UserError, ValueError):
    """A dataset file is there but cannot be read: truncated, of another format, or failing its checksum."""


class TrainingInterrupted(Exception):
    """Training stopped on SIGTERM or SIGINT after saving a checkpoint at the current step.

    Attributes:
      signal_number: the signal that stopped it (`signal.SIGTERM` = 15, `signal.SIGINT` = 2).
      step: the step of the checkpoint written; `--resume` continues from it.
      workdir: the run folder.
    """

    def __init__(self, signal_number: int, step: int, workdir: str, how_to_resume: str = "--resume"):
        self.signal_number, self.step, self.workdir = signal_number, step, workdir
        super().__init__(
            f"interrupted by signal {signal_number} at step {step}: checkpoint saved in "
            f"{workdir}; continue with {how_to_resume}"
        )

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal number (143 for SIGTERM, 130 for Ctrl-C)."""
        return 128 + self.signal_number
