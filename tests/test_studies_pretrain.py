"""Tests of the IMDB classifiers' pretrained start from a language-model run (rnn_jax.studies.sentiment.imdb,
`pretrained_lm`): the arrays taken at step 0, the frozen embedding, the learning-rate scale, exact
resumption, every mismatch's one clear error, and that the language model never reads a review of
the `test` split the classifier is tested on."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil

import jax
import numpy as np
import pytest

from rnn_jax.core.initializers import spectral_radius
from rnn_jax.data import lm_corpus
from rnn_jax.data.imdb import load_imdb
from rnn_jax.errors import ConfigError, RunNotFoundError
from rnn_jax.models.classifiers import build_model
from rnn_jax.studies.next_word import language_model as lm
from rnn_jax.studies.sentiment import imdb as imdb_study
from rnn_jax.studies.sentiment.imdb import (
    TrainConfig,
    load_pretrained,
    make_optimizer,
    make_task,
    train_and_evaluate,
)
from rnn_jax.training import checkpoints, loop, runs
from tests.imdb_fixture import TINY_CONFIG, tiny_flags
from tests.lm_fixture import write_tiny_lm_imdb

SIZES = {"vocab_size": 30, "embedding_size": 8, "hidden_size": 8}
STEPS_PER_EPOCH = 6  # 48 training reviews, batch 8


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    return path, write_tiny_lm_imdb(path, num_train=120, num_test=40, num_unsupervised=50)


@pytest.fixture(scope="module")
def tiny_dir(tiny):
    return tiny[0]


def _lm_config(tiny_dir, **changes) -> lm.LMConfig:
    base = lm.LMConfig(**{**lm.SMOKE, **SIZES}, data_dir=str(tiny_dir), download=False, context_positions=0)
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def lm_runs(tiny_dir, tmp_path_factory):
    """Finished tiny language models: `{"simple_rnn", "lstm", "two_layers", "unigram"}` -> run folder."""
    root = tmp_path_factory.mktemp("lm")
    settings = {
        "simple_rnn": {},
        "lstm": {"model": "lstm"},
        "two_layers": {"num_layers": 2},
        "unigram": {"model": "unigram"},
    }
    folders = {}
    for name, changes in settings.items():
        folders[name] = root / name
        lm.train_and_evaluate(_lm_config(tiny_dir, **changes), folders[name], progress=False)
    return folders


def tiny_config(tiny_dir, lm_dir=None, **changes) -> TrainConfig:
    base = TrainConfig(
        **{**TINY_CONFIG, **SIZES, "num_epochs": 2, "checkpoint_every_steps": 5},
        model="simple_rnn",
        data_dir=str(tiny_dir),
        download=False,
        pretrained_lm=None if lm_dir is None else str(lm_dir),
    )
    return dataclasses.replace(base, **changes)


def _initial_state(config: TrainConfig, pretrained=None, steps_per_epoch=STEPS_PER_EPOCH):
    model, tx = build_model(config), make_optimizer(config, steps_per_epoch)
    task = make_task(config, model, pretrained=pretrained)
    init_key, _ = jax.random.split(jax.random.key(config.seed))  # the loop's own split of the seed
    return task, tx, loop.create_train_state(task, tx, init_key)


def _batch(seed, config):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, config.seq_len + 1, config.batch_size)
    ids = rng.integers(2, config.vocab_size + 2, (config.batch_size, config.seq_len))
    ids = np.where(np.arange(config.seq_len) < lengths[:, None], ids, 0)
    return imdb_study.Batch(
        ids.astype(np.int32),
        lengths.astype(np.int32),
        (np.arange(config.batch_size) % 2).astype(np.int32),
        np.ones((config.batch_size,), np.float32),
    )


def _steps(task, tx, state, config, num_steps):
    step = jax.jit(functools.partial(loop.train_step, task=task, tx=tx))
    states = [state]
    for s in range(num_steps):
        states.append(step(states[-1], _batch(s, config), jax.random.key(1)))
    return states


def _assert_same(a, b):
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def _changed(a, b) -> bool:
    return any(
        not np.array_equal(x, y)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


# ----------------------------------------------------------------------------- the start


@pytest.mark.parametrize("model", ["simple_rnn", "lstm"])
@pytest.mark.parametrize("parts", ["embedding", "embedding+rnn"])
def test_step_0_holds_the_language_models_arrays(lm_runs, tiny_dir, model, parts):
    lm_dir = lm_runs[model]
    _, lm_params, _ = lm.load_run(lm_dir)
    config = tiny_config(tiny_dir, lm_dir, model=model, pretrained_parts=parts)
    _, _, state = _initial_state(config, load_pretrained(config))
    _, _, random = _initial_state(tiny_config(tiny_dir, model=model))
    _assert_same(state.params["embedding"], lm_params["embedding"])
    if parts == "embedding+rnn":
        _assert_same(state.params["rnn"], lm_params["rnn"])
    else:
        _assert_same(state.params["rnn"], random.params["rnn"])
    _assert_same(state.params["head"], random.params["head"])  # the rest is drawn as without the start


def test_vocab_only_is_the_random_start_with_the_lms_vocabulary(lm_runs, tiny_dir, tmp_path):
    config = tiny_config(tiny_dir, lm_runs["lstm"], model="lstm", pretrained_parts="vocab", embedding_size=5)
    pretrained = load_pretrained(config)  # embedding_size may differ: nothing but the words is taken
    assert pretrained.params == {} and pretrained.vocab == lm.load_run(lm_runs["lstm"])[2]
    _, _, state = _initial_state(config, pretrained)
    _, _, random = _initial_state(
        dataclasses.replace(config, pretrained_lm=None, pretrained_parts="embedding")
    )
    _assert_same(state.params, random.params)


def test_run_uses_the_lms_vocabulary_and_records_the_start(lm_runs, tiny_dir, tmp_path):
    workdir = tmp_path / "run"
    argv = [
        *tiny_flags(**SIZES),
        "--data_dir",
        str(tiny_dir),
        "--pretrained_lm",
        str(lm_runs["simple_rnn"]),
        "--pretrained_parts",
        "embedding+rnn",
        "--workdir",
        str(workdir),
        "--no_progress",
    ]
    results = imdb_study.main(argv)
    assert (workdir / "vocab.json").read_text() == (lm_runs["simple_rnn"] / "vocab.json").read_text()
    start = results["pretrained_lm"]
    assert start["workdir"] == str(lm_runs["simple_rnn"]) and start["parts"] == "embedding+rnn"
    assert start["model"] == "simple_rnn" and start["test_perplexity"] > 1
    assert json.loads((workdir / "results.json").read_text())["pretrained_lm"] == start
    assert runs.load_json(workdir / "config.json")["pretrained_lm"] == str(lm_runs["simple_rnn"])
    assert 0 <= results["test_accuracy"] <= 1


def test_logreg_takes_the_embedding(lm_runs, tiny_dir, tmp_path):
    config = tiny_config(tiny_dir, lm_runs["lstm"], model="logreg", num_epochs=1, hidden_size=5)
    results = train_and_evaluate(config, tmp_path / "logreg", progress=False)  # other H: embedding only
    assert results["pretrained_lm"]["parts"] == "embedding"


# ----------------------------------------------------------------------------- freezing and lr scale


def test_frozen_embedding_waits_for_its_epochs(lm_runs, tiny_dir):
    config = tiny_config(
        tiny_dir, lm_runs["simple_rnn"], pretrained_parts="embedding+rnn", freeze_embedding_epochs=1
    )
    task, tx, state = _initial_state(config, load_pretrained(config), steps_per_epoch=3)
    states = _steps(task, tx, state, config, 5)
    for s in (1, 2, 3):  # epoch 1: steps 1 .. 3
        _assert_same(states[s].params["embedding"], state.params["embedding"])
        assert _changed(states[s].params["rnn"], states[s - 1].params["rnn"])
        assert _changed(states[s].params["head"], states[s - 1].params["head"])
    assert _changed(states[4].params["embedding"], states[3].params["embedding"])
    assert _changed(states[5].params["embedding"], states[4].params["embedding"])


def test_frozen_embedding_in_a_run(lm_runs, tiny_dir, tmp_path):
    """Through the loop: unchanged at the end of epoch 1 (step 6), changed by the first step of epoch 2."""
    config = tiny_config(tiny_dir, lm_runs["simple_rnn"], freeze_embedding_epochs=1, checkpoint_every_steps=0)
    workdir = tmp_path / "frozen"
    # Checkpoints at step 6 (the end of epoch 1) and step 7 (the stop). (Not a stop at step 6 itself:
    # resuming from a stop on an epoch's last step fails in the loop, StepAlreadyExistsError.)
    train_and_evaluate(config, workdir, progress=False, stop_after_steps=STEPS_PER_EPOCH + 1)
    _, _, state = _initial_state(config, load_pretrained(config))
    abstract = functools.partial(jax.tree_util.tree_map, lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype))

    def restore():
        return checkpoints.restore_latest(workdir, abstract(state), abstract(state.params), writer=False)[1]

    step_7 = restore()
    shutil.rmtree(workdir / "checkpoints" / str(STEPS_PER_EPOCH + 1))
    step_6 = restore()
    assert int(step_6.step) == STEPS_PER_EPOCH and int(step_7.step) == STEPS_PER_EPOCH + 1
    _assert_same(step_6.params["embedding"], state.params["embedding"])
    assert _changed(step_6.params["rnn"], state.params["rnn"])
    assert _changed(step_7.params["embedding"], step_6.params["embedding"])


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_lr_scale_scales_the_pretrained_parts_only(lm_runs, tiny_dir, optimizer):
    lm_dir = lm_runs["simple_rnn"]
    deltas = {}
    for scale in (1.0, 0.25):
        config = tiny_config(
            tiny_dir, lm_dir, pretrained_parts="embedding+rnn", pretrained_lr_scale=scale, optimizer=optimizer
        )
        task, tx, state = _initial_state(config, load_pretrained(config))
        after = _steps(task, tx, state, config, 1)[1]
        deltas[scale] = jax.tree_util.tree_map(lambda a, b: np.asarray(a - b), after.params, state.params)
    for part in ("embedding", "rnn"):
        jax.tree_util.tree_map(
            lambda full, scaled: np.testing.assert_allclose(scaled, 0.25 * full, rtol=1e-5, atol=1e-7),
            deltas[1.0][part],
            deltas[0.25][part],
        )
        assert np.abs(jax.tree_util.tree_leaves(deltas[1.0][part])[0]).max() > 0
    _assert_same(deltas[1.0]["head"], deltas[0.25]["head"])


def test_lr_scale_leaves_a_random_recurrence_alone(lm_runs, tiny_dir):
    """pretrained_parts 'embedding': the recurrence is not pretrained, so it keeps the full rate."""
    deltas = {}
    for scale in (1.0, 0.5):
        config = tiny_config(tiny_dir, lm_runs["simple_rnn"], pretrained_lr_scale=scale)
        task, tx, state = _initial_state(config, load_pretrained(config))
        after = _steps(task, tx, state, config, 1)[1]
        deltas[scale] = jax.tree_util.tree_map(lambda a, b: np.asarray(a - b), after.params, state.params)
    _assert_same(deltas[1.0]["rnn"], deltas[0.5]["rnn"])
    np.testing.assert_allclose(
        deltas[0.5]["embedding"]["embedding"],
        0.5 * deltas[1.0]["embedding"]["embedding"],
        rtol=1e-5,
        atol=1e-7,
    )


# ----------------------------------------------------------------------------- resume


def _without_timings(results):
    return {
        k: v
        for k, v in results.items()
        if "seconds" not in k and k not in ("tokens_per_second", "load_average")
    }


def test_pretrained_run_resumes_exactly(lm_runs, tiny_dir, tmp_path):
    config = tiny_config(
        tiny_dir,
        lm_runs["simple_rnn"],
        pretrained_parts="embedding+rnn",
        freeze_embedding_epochs=1,
        pretrained_lr_scale=0.5,
    )
    full = train_and_evaluate(config, tmp_path / "full", progress=False)
    workdir = tmp_path / "killed"
    # Killed mid-epoch 2 (step 8 of 12; last checkpoint at step 5, inside the frozen epoch) ...
    assert train_and_evaluate(config, workdir, progress=False, stop_after_steps=8) == {
        "interrupted": True,
        "step": 8,
    }
    shutil.rmtree(workdir / "checkpoints" / "8")  # ... before its last checkpoint was written
    resumed = train_and_evaluate(config, workdir, resume=True, progress=False)
    assert _without_timings(resumed) == _without_timings(full)
    _assert_same(imdb_study.load_run(workdir)[1], imdb_study.load_run(tmp_path / "full")[1])


# ----------------------------------------------------------------------------- errors


def _not_finished(lm_runs, tmp_path):
    folder = tmp_path / "unfinished"
    shutil.copytree(lm_runs["simple_rnn"], folder)
    shutil.rmtree(folder / "best_params")
    (folder / "results.json").unlink()
    return folder


def _classifier_run(lm_runs, tmp_path):
    folder = tmp_path / "classifier"
    runs.save_config(folder, TrainConfig())
    return folder


@pytest.mark.parametrize(
    "lm_name, changes, error, message",
    [
        ("missing", {}, RunNotFoundError, "holds no language-model run"),
        ("unfinished", {}, RunNotFoundError, "has not finished"),
        ("classifier", {}, ConfigError, "is not a language-model run"),
        ("unigram", {}, ConfigError, "is a unigram count model"),
        (
            "simple_rnn",
            {"embedding_size": 16},
            ConfigError,
            "embedding_size differs: .* is 8, the classifier's 16",
        ),
        ("simple_rnn", {"vocab_size": 40}, ConfigError, "vocab_size differs"),
        (
            "simple_rnn",
            {"hidden_size": 4, "pretrained_parts": "embedding+rnn"},
            ConfigError,
            "hidden_size differs",
        ),
        (
            "lstm",
            {"pretrained_parts": "embedding+rnn"},
            ConfigError,
            "cell is 'lstm', the classifier's 'simple_rnn'",
        ),
        ("two_layers", {"pretrained_parts": "embedding+rnn"}, ConfigError, "has 2 layers"),
        (
            "simple_rnn",
            {"model": "logreg", "pretrained_parts": "embedding+rnn"},
            ConfigError,
            "'logreg' has no single recurrence",
        ),
        (
            "simple_rnn",
            {"model": "birnn", "pretrained_parts": "embedding+rnn"},
            ConfigError,
            "'birnn' has no single recurrence",
        ),
        ("simple_rnn", {"pretrained_parts": "all"}, ConfigError, "unknown pretrained_parts 'all'"),
        ("simple_rnn", {"freeze_embedding_epochs": -1}, ConfigError, "freeze_embedding_epochs must be"),
        ("simple_rnn", {"pretrained_lr_scale": 0.0}, ConfigError, "pretrained_lr_scale must be > 0"),
        (
            "simple_rnn",
            {"pretrained_parts": "vocab", "freeze_embedding_epochs": 1},
            ConfigError,
            "pretrained_parts 'vocab' takes none",
        ),
        (None, {"freeze_embedding_epochs": 1}, ConfigError, "freeze_embedding_epochs needs pretrained_lm"),
        (None, {"pretrained_lr_scale": 0.1}, ConfigError, "pretrained_lr_scale needs pretrained_lm"),
        (None, {"pretrained_parts": "embedding+rnn"}, ConfigError, "pretrained_parts needs pretrained_lm"),
        ("simple_rnn", {"pretrained_radius": 0.0}, ConfigError, "pretrained_radius must be > 0"),
        ("simple_rnn", {"pretrained_radius": 1.0}, ConfigError, "needs model 'simple_rnn'"),  # embedding only
        (
            "lstm",
            {"pretrained_radius": 1.0, "model": "lstm", "pretrained_parts": "embedding+rnn"},
            ConfigError,
            "needs model 'simple_rnn'",
        ),
        (None, {"pretrained_radius": 1.0}, ConfigError, "pretrained_radius needs pretrained_lm"),
        ("simple_rnn", {"pretrained_input_scale": 0.0}, ConfigError, "pretrained_input_scale must be > 0"),
        ("simple_rnn", {"pretrained_input_scale": 0.5}, ConfigError, "pretrained_input_scale rescales"),
        (None, {"pretrained_input_scale": 0.5}, ConfigError, "pretrained_input_scale needs pretrained_lm"),
        ("simple_rnn", {"pretrained_orthogonal": True}, ConfigError, "pretrained_orthogonal rescales"),
        (None, {"pretrained_orthogonal": True}, ConfigError, "pretrained_orthogonal needs pretrained_lm"),
    ],
)
def test_mismatches_are_clear_errors(lm_runs, tiny_dir, tmp_path, lm_name, changes, error, message):
    folders = {
        **lm_runs,
        "missing": tmp_path / "nothing",
        "unfinished": _not_finished(lm_runs, tmp_path),
        "classifier": _classifier_run(lm_runs, tmp_path),
        None: None,
    }
    config = tiny_config(tiny_dir, folders[lm_name], **changes)
    with pytest.raises(error, match=message):
        train_and_evaluate(config, tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()  # checked before the run folder is made


def test_cli_prints_a_mismatch_as_one_line(lm_runs, tiny_dir, tmp_path, capsys):
    from rnn_jax import cli

    flags = [*tiny_flags(**{**SIZES, "embedding_size": 16}), "--data_dir", str(tiny_dir)]
    code = cli.main(
        ["imdb", *flags, "--pretrained_lm", str(lm_runs["simple_rnn"]), "--workdir", str(tmp_path / "x")]
    )
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "embedding_size differs" in err, err


# ----------------------------------------------------------------------------- a rescaled recurrence


def test_pretrained_radius_rescales_the_start_of_a_run(lm_runs, tiny_dir, tmp_path):
    """--pretrained_radius / --pretrained_input_scale: A_h at step 0 has that spectral radius, A_x is
    the LM's times the scale, b is the LM's; both recorded."""
    config = tiny_config(
        tiny_dir,
        lm_runs["simple_rnn"],
        pretrained_parts="embedding+rnn",
        pretrained_radius=0.7,
        pretrained_input_scale=0.5,
        num_epochs=1,
    )
    polar = tiny_config(
        tiny_dir, lm_runs["simple_rnn"], pretrained_parts="embedding+rnn", pretrained_orthogonal=True
    )
    _, _, polar_state = _initial_state(polar, load_pretrained(polar))
    q = np.asarray(polar_state.params["rnn"]["A"][:, : SIZES["hidden_size"]])
    np.testing.assert_allclose(q @ q.T, np.eye(SIZES["hidden_size"]), atol=1e-5)
    _, lm_params, _ = lm.load_run(lm_runs["simple_rnn"])
    hidden = SIZES["hidden_size"]
    _, _, state = _initial_state(config, load_pretrained(config))
    a = state.params["rnn"]["A"]
    assert spectral_radius(a[:, :hidden]) == pytest.approx(0.7, rel=1e-5)
    np.testing.assert_allclose(a[:, hidden:], 0.5 * lm_params["rnn"]["A"][:, hidden:], rtol=1e-6)
    _assert_same(state.params["rnn"]["b"], lm_params["rnn"]["b"])
    train_and_evaluate(config, tmp_path / "run", progress=False)
    recorded = json.loads((tmp_path / "run" / "results.json").read_text())["pretrained_lm"]
    assert recorded["recurrent_radius"] == 0.7 and recorded["input_scale"] == 0.5
    assert recorded["lm_recurrent_radius"] == pytest.approx(
        spectral_radius(lm_params["rnn"]["A"][:, :hidden])
    )


# ----------------------------------------------------------------------------- the step-0 reach study


def test_pretrained_start_study_writes_every_start(lm_runs, tiny_dir, tmp_path):
    """rnn_jax.studies.sentiment.pretrained_start on a finished language model (its math: its own tests)."""
    from rnn_jax.studies.sentiment import pretrained_start

    out = tmp_path / "reach"
    flags = ["--pretrained_lm", str(lm_runs["simple_rnn"]), "--radii", "1.0,0.5", "--data_dir", str(tiny_dir)]
    flags += ["--input_scales", "0.25", "--orthogonal"]
    results = pretrained_start.main(["--smoke", *flags, "--no_download", "--out", str(out)])
    rescaled = [
        "",
        ", A_x x 0.25",
        ", radius 1",
        ", radius 1, A_x x 0.25",
        ", radius 0.5",
        ", radius 0.5, A_x x 0.25",
    ]
    names = [
        "random start",
        "language model's embedding",
        *(f"language model{r}" for r in rescaled),
        *(f"language model, A_h orthogonal{r}" for r in rescaled),
    ]
    assert list(results["starts"]) == names
    found = results["starts"]
    assert found["language model, radius 0.5"]["recurrent_radius"] == pytest.approx(0.5, rel=1e-5)
    assert found["language model, A_h orthogonal"]["recurrent_radius"] == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(
        found["language model, A_h orthogonal"]["recurrent_singular_values"], 1.0, rtol=1e-5
    )
    a_h = np.asarray(lm.load_run(lm_runs["simple_rnn"])[1]["rnn"]["A"][:, : SIZES["hidden_size"]], np.float64)
    np.testing.assert_allclose(
        found["language model"]["recurrent_singular_values"], np.linalg.svd(a_h, compute_uv=False), rtol=1e-5
    )
    assert found["language model, A_h orthogonal, radius 0.5"]["recurrent_radius"] == pytest.approx(
        0.5, rel=1e-5
    )
    # The embedding-only start: the language model's word vectors, the random start's recurrence.
    assert (
        found["language model's embedding"]["recurrent_radius"] == found["random start"]["recurrent_radius"]
    )
    embedding = lm.load_run(lm_runs["simple_rnn"])[1]["embedding"]["embedding"]
    assert found["language model"]["embedding_row_norm"] == pytest.approx(
        float(np.median(np.linalg.norm(np.asarray(embedding), axis=1))), rel=1e-6
    )
    assert (
        found["language model's embedding"]["embedding_row_norm"]
        == found["language model"]["embedding_row_norm"]
    )
    for start in results["starts"].values():
        assert len(start["median_norm"]) == pretrained_start.SMOKE["seq_len"]
        assert np.all(np.isfinite(start["median_norm"]))
    for name in ("results.json", "table.md", "reach.png", "config.json"):
        assert (out / name).exists(), name
    assert "| language model, A_h orthogonal | 1.00 | 0.0 % |" in (out / "table.md").read_text()


@pytest.mark.parametrize(
    "lm_name, flags, message",
    [
        ("simple_rnn", ["--radii", "1.0,x"], "radii: 'x' is not a number"),
        ("simple_rnn", ["--radii", "-1"], "radii must be > 0"),
        ("simple_rnn", ["--num_reviews", "1000"], "training reviews have at least"),
        ("lstm", ["--radii", "1.0"], "rescale a Simple RNN's A"),
        ("lstm", ["--input_scales", "0.5"], "rescale a Simple RNN's A"),
        ("lstm", ["--orthogonal"], "rescale a Simple RNN's A"),
        ("simple_rnn", ["--input_scales", "0"], "input_scales must be > 0"),
        ("two_layers", [], "a one-layer"),
        ("missing", [], "holds no run"),
    ],
)
def test_pretrained_start_mistakes_are_one_line(lm_runs, tiny_dir, tmp_path, capsys, lm_name, flags, message):
    from rnn_jax import cli

    folder = lm_runs.get(lm_name, tmp_path / "nothing")
    argv = ["pretrained-start", "--smoke", "--pretrained_lm", str(folder), "--data_dir", str(tiny_dir)]
    code = cli.main([*argv, "--no_download", "--out", str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


# ----------------------------------------------------------------------------- no test review in the LM


def test_lm_training_stream_holds_no_test_review(tiny):
    """The LM reads `unsupervised` + `train` only: its stream is exactly those reviews, none of `test`."""
    tiny_dir, texts = tiny
    corpus = lm_corpus.load_lm_corpus(tiny_dir, vocab_size=30, num_validation=20, num_test=20, download=False)
    expected = lm_corpus.encode_reviews(texts["unsupervised"] + texts["train"], corpus.vocab)
    np.testing.assert_array_equal(corpus.train, expected)
    cuts = np.flatnonzero(corpus.train == lm_corpus.EOS_ID)
    train_reviews = {tuple(r) for r in np.split(corpus.train, cuts + 1)[:-1]}  # each ends with its EOS
    assert len(cuts) == len(texts["unsupervised"]) + len(texts["train"])
    test_reviews = {tuple(lm_corpus.encode_reviews([text], corpus.vocab)) for text in texts["test"]}
    assert len(test_reviews) == 40 and not test_reviews & train_reviews
    # ... and the classifier's test reviews are that split's, in the LM's ids too.
    classifier_test = load_imdb(str(tiny_dir), num_validation=20, download=False)["test"].texts
    assert len(classifier_test) == 40
    for text in classifier_test:
        assert tuple(lm_corpus.encode_reviews([text], corpus.vocab)) in test_reviews
