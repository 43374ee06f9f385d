"""Memory where the field measures it: the adding problem and the copy task, four cells, T up to 1,000.

    python experiments/memory.py --task adding --workdir results/memory
    python experiments/memory.py --task copy --cells lstm,gru --lengths 100,200 --workdir results/memory
    python experiments/memory.py --task adding --smoke --workdir /tmp/memory

The study is `rnn_jax.studies.memory.sweep` (its config, `run` and `main`), also run by
`rnn-jax memory`; `--help` lists the flags. Each (cell, T) is recorded as soon as it ends and a run
cut off mid-way resumes from its saved state, so the sweep can be run in parts and cells in
parallel processes. A user's mistake prints one `error: ...` line (exit status 2).
"""

import sys

from rnn_jax.cli import guarded
from rnn_jax.studies.memory.sweep import main

if __name__ == "__main__":
    sys.exit(guarded(main))
