"""Tests for rnn_jax.studies.command: command lines generated from config dataclasses (tyro)."""

import dataclasses

import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.studies.command import parse_config, parse_flags, run_experiment


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    """A toy config."""

    hidden_size: int = 32  # no metadata: still a flag
    learning_rate: float = dataclasses.field(default=1e-3, metadata={"help": "step size"})
    clip_norm: float | None = None
    model: str = dataclasses.field(default="simple_rnn", metadata={"choices": ("simple_rnn", "lstm")})
    resume: bool = False


def test_defaults_and_overrides():
    assert parse_config(ToyConfig, []) == ToyConfig()
    config = parse_config(
        ToyConfig,
        ["--hidden_size", "8", "--learning_rate", "0.1", "--clip_norm", "1.5", "--model", "lstm", "--resume"],
    )
    assert config == ToyConfig(8, 0.1, 1.5, "lstm", True)
    assert parse_config(ToyConfig, ["--clip_norm", "None", "--no-resume"]).clip_norm is None
    assert parse_config(ToyConfig, ["--no_resume"]).resume is False  # both spellings of the negation
    assert parse_config(ToyConfig, [], hidden_size=4).hidden_size == 4


def test_help_lists_every_field(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(ToyConfig, ["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name in (
        "--hidden_size",
        "--learning_rate",
        "--clip_norm",
        "--model",
        "--resume",
        "step size",
        "lstm",
    ):
        assert name in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "transformer"], "invalid choice 'transformer'"),
        (["--hidden_size", "big"], "Error parsing --hidden_size"),
        (["--unknown", "1"], "Unrecognized options: --unknown"),
    ],
)
def test_bad_flags_raise_one_line(argv, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_config(ToyConfig, argv)
    assert "\n" not in str(err.value)


def test_defaults_read_back_from_json_turn_lists_into_tuples():
    @dataclasses.dataclass(frozen=True)
    class WithTuple:
        cutoffs: tuple[int, ...] = (2, 4)

    assert parse_flags([WithTuple], [], defaults={"cutoffs": [3, 5]}) == [WithTuple((3, 5))]
    assert parse_flags([WithTuple], ["--cutoffs", "6", "7"], defaults={"cutoffs": [3, 5]}) == [
        WithTuple((6, 7))
    ]


def test_flags_of_two_configs_share_one_command_line():
    toy, experiment = parse_flags([ToyConfig, ToyExperimentConfig], ["--hidden_size", "3", "--size", "5"])
    assert toy == ToyConfig(hidden_size=3) and experiment == ToyExperimentConfig(size=5)


@dataclasses.dataclass(frozen=True)
class ToyExperimentConfig:
    workdir: str = "runs/toy"
    size: int = 100


def test_run_experiment_parses_runs_and_reports(tmp_path, capsys):
    seen = []

    def run(config):
        seen.append(config)
        return {"size": config.size, "notes": ["a note"]}

    summary = lambda results: [f"size {results['size']}"]  # noqa: E731
    argv = ["--workdir", str(tmp_path)]
    assert run_experiment(ToyExperimentConfig, run, summary, argv, smoke={"size": 2})["size"] == 100
    assert (
        run_experiment(
            ToyExperimentConfig, run, summary, [*argv, "--smoke"], smoke={"size": 2}, outputs=["toy.png"]
        )["size"]
        == 2
    )
    assert (
        run_experiment(
            ToyExperimentConfig, run, summary, [*argv, "--smoke", "--size", "7"], smoke={"size": 2}
        )["size"]
        == 7
    )  # flags beat the smoke defaults
    out = capsys.readouterr().out
    assert "size 100\na note\n" in out and "size 2\n" in out
    assert f"wrote {tmp_path / 'results.json'}, {tmp_path / 'toy.png'}" in out
    assert [c.size for c in seen] == [100, 2, 7]
