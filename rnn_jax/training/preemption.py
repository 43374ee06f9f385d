"""SIGTERM and Ctrl-C during training: finish the current step, checkpoint it, stop (nothing is lost).

    with StopSignals() as stop:
        for step in ...:
            state = train_step(...)
            if stop.requested:     # a signal arrived during the step
                save(...)          # a checkpoint at this step
                raise TrainingInterrupted(stop.signal_number, step, workdir)

A cluster scheduler sends SIGTERM before it kills a preempted job; a person presses Ctrl-C (SIGINT).
The handlers are installed only in the main thread (Python allows no other) and the previous ones are
restored on exit. A second Ctrl-C while the checkpoint is written is ignored the same way.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """A context manager that turns SIGTERM / SIGINT into a flag the training loop polls."""

    def __init__(self, signals: tuple[int, ...] = SIGNALS):
        self.signals = signals
        self.signal_number: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """True once one of the signals has arrived."""
        return self.signal_number is not None

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        if self.signal_number is None:
            self.signal_number = signal_number

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
