"""IMDB movie-review sentiment with the lecture's Simple RNN (and baselines): one training run.

    python experiments/imdb_sentiment.py --model simple_rnn --data_dir ../shared/tfds
    python experiments/imdb_sentiment.py --model lstm --workdir runs/imdb/lstm --resume

Every flag is a field of `rnn_jax.train.TrainConfig` (see --help); `--workdir` and `--resume` are
the script's own. With `--resume` the run's config.json supplies the defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rnn_jax.training import runs
from rnn_jax.studies.command import build_parser
from rnn_jax.studies.imdb import TrainConfig, load_config, train_and_evaluate


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(TrainConfig)
    parser.add_argument("--workdir", default=None,
                        help="run folder (default: runs/imdb/<model>_seed<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    parser.add_argument("--no_progress", action="store_true", help="no tqdm bars")
    script_flags = ("workdir", "resume", "no_progress")
    first = parser.parse_args(argv)
    if first.resume and first.workdir and (Path(first.workdir) / runs.CONFIG_FILE).exists():
        # The saved config supplies the defaults; flags given again must agree with it.
        parser.set_defaults(**vars(load_config(first.workdir)))
    args = vars(parser.parse_args(argv))
    options = {name: args.pop(name) for name in script_flags}
    config = TrainConfig(**args)
    workdir = options["workdir"] or f"runs/imdb/{config.model}_seed{config.seed}"
    return train_and_evaluate(config, workdir, resume=options["resume"],
                              progress=not options["no_progress"])


if __name__ == "__main__":
    main()
