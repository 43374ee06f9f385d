"""Tests of rnn_jax.studies.next_word.language_model: the stateful-BPTT task on the shared loop, exact resume,
windows against one long unroll, count baselines, prompts, sampling and bad inputs."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_jax.data import lm_corpus
from rnn_jax.errors import ConfigError
from rnn_jax.models.language_model import init_params, token_losses
from rnn_jax.studies.next_word import language_model as lm
from rnn_jax.training import loop, runs
from tests.lm_fixture import write_tiny_lm_imdb


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    write_tiny_lm_imdb(path, num_train=60, num_test=60)
    return path


def tiny_config(tiny_dir, **changes) -> lm.LMConfig:
    return dataclasses.replace(lm.LMConfig(**lm.SMOKE, data_dir=str(tiny_dir), download=False), **changes)


def _no_timings(results):
    return {
        k: v
        for k, v in results.items()
        if "seconds" not in k and k not in ("load_average", "tokens_per_second")
    }


@pytest.fixture(scope="module")
def finished(tiny_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("lm") / "srnn"
    config = tiny_config(tiny_dir, num_epochs=2, checkpoint_every_steps=7)
    return config, workdir, lm.train_and_evaluate(config, workdir, progress=False)


def test_run_writes_the_results_the_issue_names(finished):
    config, workdir, results = finished
    for key in (
        "model",
        "test_perplexity",
        "validation_perplexity",
        "num_params",
        "train_tokens",
        "tokens_per_second",
        "oov_rate",
        "next_words",
        "effective_context",
        "samples",
        "cue_test",
    ):
        assert key in results, key
    for name in (
        "config.json",
        "vocab.json",
        "metrics.jsonl",
        "results.json",
        "curves.png",
        "context_usage.png",
    ):
        assert (workdir / name).is_file(), name
    records = runs.read_metrics(workdir)
    assert results["validation_perplexity"] == min(r["validation_perplexity"] for r in records)
    assert 1 < results["test_perplexity"] < 32  # better than uniform over the 32 ids
    probs = [p for _, p in results["next_words"]["clouds are in the"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) < 1


def test_stateful_run_resumes_exactly(finished, tmp_path):
    config, _, full = finished
    workdir = tmp_path / "cut"
    assert lm.train_and_evaluate(config, workdir, progress=False, stop_after_steps=40)["interrupted"]
    # as a user resumes: the flags come back from config.json, where the tuple `cutoffs` is a list
    resumed = lm.main(["--resume", "--workdir", str(workdir), "--no_progress"])
    assert _no_timings(resumed) == _no_timings(full)


def _task(tiny_dir, **changes):
    config = tiny_config(tiny_dir, **changes)
    corpus = lm.load_corpus(config)
    model = lm.build_model(config, corpus.num_ids)
    return config, corpus, model, lm.make_task(config, model, corpus)


def test_windows_cover_every_token_of_a_row_once_per_epoch(tiny_dir):
    config, corpus, _, task = _task(tiny_dir)
    windows = np.stack(
        [
            np.asarray(task.gather(jnp.asarray(task.train_data), jnp.asarray(starts)))
            for starts in task.epoch_indices(0)
        ]
    )  # [steps, B, K + 1]
    inputs = np.concatenate(list(windows[:, :, :-1]), axis=1)
    targets = np.concatenate(list(windows[:, :, 1:]), axis=1)
    rows = task.train_data
    np.testing.assert_array_equal(inputs, rows[:, : inputs.shape[1]])  # each input once, in order
    np.testing.assert_array_equal(targets, rows[:, 1 : inputs.shape[1] + 1])  # targets: inputs shifted by one
    assert rows.shape[1] - 1 - inputs.shape[1] < config.window  # only the last, short window is left out


def test_evaluation_windows_carry_the_state_like_one_long_unroll(tiny_dir):
    _, _, model, task = _task(tiny_dir, model="lstm")
    params = init_params(model, jax.random.key(3))
    sums = loop.eval_step(params, jnp.asarray(task.validation), task=task)
    windows = task.validation  # [W, R, K + 1]
    whole = np.concatenate([windows[0][:, :1]] + [w[:, 1:] for w in windows], axis=1)  # [R, W K + 1]
    logits, _ = model.apply({"params": params}, jnp.asarray(whole[:, :-1]), task.init_eval_carry())
    want = token_losses(logits, jnp.asarray(whole[:, 1:]))
    np.testing.assert_allclose(float(sums["nll"]), float(want.sum()), rtol=1e-5)
    assert float(sums["count"]) == want.size


def test_a_uniform_model_has_the_vocabulary_size_as_perplexity(tiny_dir):
    _, corpus, model, task = _task(tiny_dir, softmax="full")
    params = init_params(model, jax.random.key(0))
    params = {**params, "output": jax.tree_util.tree_map(jnp.zeros_like, params["output"])}  # logits = 0
    metrics = lm.perplexity_metrics(loop.eval_step(params, jnp.asarray(task.test), task=task))
    np.testing.assert_allclose(metrics["perplexity"], corpus.num_ids, rtol=1e-5)


def test_window_capacities_bound_every_window_and_change_no_loss(tiny_dir):
    """The adaptive softmax's per-window bounds, read off the data, give the unbounded sums exactly."""
    config, corpus, model, task = _task(tiny_dir, model="gru")
    rows = lm_corpus.batchify(corpus.train, config.batch_size)
    starts = lm_corpus.windows(rows.shape[1], config.window, drop_last=True)
    targets = lm._window_targets(rows, starts, config.window)
    np.testing.assert_array_equal(targets[3], rows[:, starts[3] + 1 : starts[3] + 1 + config.window])
    capacities = lm.window_capacities(model, targets)
    counts = [((targets >= lo) & (targets < hi)).sum(axis=(1, 2)).max() for lo, hi in ((10, 20), (20, 32))]
    assert capacities == tuple(int(c) for c in counts) and capacities[0] < targets[0].size
    params = init_params(model, jax.random.key(0))
    bounded = loop.eval_step(params, jnp.asarray(task.validation), task=task)
    unbounded = loop.eval_step(
        params,
        jnp.asarray(task.validation),
        task=dataclasses.replace(task, eval_sums=functools.partial(lm._eval_sums, model=model)),
    )
    np.testing.assert_allclose(float(bounded["nll"]), float(unbounded["nll"]), rtol=1e-6)
    assert (
        lm.window_capacities(lm.build_model(dataclasses.replace(config, softmax="full"), 32), targets) is None
    )


def test_sampling_is_deterministic_per_key(finished):
    _, workdir, _ = finished
    config, params, vocab = lm.load_run(workdir)
    model = lm.build_model(config, vocab.num_ids)
    prompt = jnp.asarray(lm.encode_prompt("the movie was", vocab))
    a = lm.sample(model, params, prompt, jax.random.key(0), num_words=12, temperature=0.8, top_k=5)
    b = lm.sample(model, params, prompt, jax.random.key(0), num_words=12, temperature=0.8, top_k=5)
    c = lm.sample(model, params, prompt, jax.random.key(1), num_words=12, temperature=0.8, top_k=5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (12,) and not np.array_equal(a, c)
    greedy = lm.sample(model, params, prompt, jax.random.key(5), num_words=1, top_k=1)
    assert lm.decode(greedy, vocab)[0] == lm.next_words(model, params, vocab, "the movie was", k=1)[0][0]


def test_count_baselines_on_the_same_tokens(tiny_dir, tmp_path):
    kn = lm.train_and_evaluate(tiny_config(tiny_dir, model="kneser_ney"), tmp_path / "kn", progress=False)
    uni = lm.train_and_evaluate(tiny_config(tiny_dir, model="unigram"), tmp_path / "uni", progress=False)
    # The fixture's words are drawn independently (no order to learn): both beat uniform (32 ids);
    # that Kneser-Ney beats the unigram on text with structure is tests/test_ngram.py's.
    assert kn["test_perplexity"] < 32 and uni["test_perplexity"] < 32
    assert kn["train_tokens"] == uni["train_tokens"] and (tmp_path / "kn" / "results.json").is_file()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"window": 0}, "window must be a positive int"),
        ({"model": "transformer"}, "unknown model 'transformer'"),
        ({"vocab_size": 10_000}, "larger than the number of distinct words"),
        ({"tie_embeddings": True, "hidden_size": 8}, "tie_embeddings needs hidden_size == embedding_size"),
        ({"cutoffs": (10, 40)}, "cutoffs must increase strictly and lie in \\(0, 32\\)"),
        ({"softmax": "sampled"}, "softmax"),
    ],
)
def test_bad_settings(changes, message, tiny_dir, tmp_path):
    with pytest.raises(ConfigError, match=message):
        lm.train_and_evaluate(tiny_config(tiny_dir, **changes), tmp_path / "bad", progress=False)


def test_bad_prompts(finished):
    _, workdir, _ = finished
    _, _, vocab = lm.load_run(workdir)
    with pytest.raises(ConfigError, match="holds no words"):
        lm.encode_prompt("  ...  ", vocab)
    with pytest.raises(ConfigError, match="outside the vocabulary"):
        lm.encode_prompt("zyzzyva quux", vocab)


def test_bad_top_k(finished):
    _, workdir, _ = finished
    config, params, vocab = lm.load_run(workdir)
    model = lm.build_model(config, vocab.num_ids)
    with pytest.raises(ConfigError, match="top_k must be >= 1"):
        lm.sample(model, params, jnp.asarray([2, 3]), jax.random.key(0), num_words=3, top_k=0)


def test_analyze_only_recomputes_the_examples_of_a_finished_run(finished, tmp_path):
    import shutil

    _, workdir, full = finished
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy)
    # as if stopped after the loop's results.json, before the study's own entries
    partial = runs.load_json(copy / "results.json")
    for key in ("validation_perplexity", "train_tokens", "cue_test", "samples", "context"):
        partial.pop(key)
    runs.save_results(copy, partial)
    again = lm.main(["--workdir", str(copy), "--analyze_only"])
    assert again["test_perplexity"] == full["test_perplexity"] and again["samples"] == full["samples"]
    assert again["validation_perplexity"] == full["validation_perplexity"]
    assert again["train_tokens"] == full["train_tokens"] and again["context"] == full["context"]
    assert runs.load_json(copy / "results.json")["cue_test"] == again["cue_test"]


@pytest.mark.slow
def test_rows_split_over_two_devices_give_the_one_device_run(finished, tmp_path):
    """Data parallelism: the same run on two (simulated) devices, in a subprocess, matches this one."""
    import os
    import subprocess
    import sys

    config, _, results = finished
    flags = ["--smoke", "--data_dir", config.data_dir, "--no-download", "--no_progress"]
    flags += ["--num_epochs", "2", "--checkpoint_every_steps", "7", "--num_devices", "2"]
    xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
    env = {**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-m", "rnn_jax.cli", "lm", *flags, "--workdir", str(tmp_path / "two")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    two = runs.load_json(tmp_path / "two" / "results.json")
    assert two["num_devices"] == 2 and results["num_devices"] == 1
    for key in ("test_perplexity", "validation_perplexity", "best_epoch", "skipped_updates"):
        np.testing.assert_allclose(two[key], results[key], rtol=1e-5, err_msg=key)


def test_cue_test_with_its_controls():
    from rnn_jax.data.tokenizer import Vocabulary, split_words

    words = sorted(
        {w for place, lang in lm.CUE_PAIRS for w in (place, lang)} | set(split_words(lm.CUE_PROMPT))
    )
    words += sorted(set(split_words(lm.CUE_TEMPLATE.format(place=""))) - set(words))
    vocab = Vocabulary(words)
    config = dataclasses.replace(lm.LMConfig(**lm.SMOKE), softmax="full")
    model = lm.build_model(config, vocab.num_ids)
    params = init_params(model, jax.random.key(0))
    filler = np.random.default_rng(0).integers(2, vocab.num_ids, 60).astype(np.int32)
    cue = lm.cue_test(model, params, vocab, filler, gaps=(0, 5, 50))
    assert cue["cue"] == "i grew up in china and my parents spoke to me in" and cue["answer"] == "chinese"
    for gap in (0, 5, 50):
        table = np.asarray(cue["probabilities_by_gap"][gap])  # [6 cues, 6 languages]
        assert table.shape == (6, 6) and np.all((0 < table) & (table < 1))
        assert cue["probability_by_gap"][gap] == table[0, 0]
        assert cue["accuracy_by_gap"][gap] in {k / 6 for k in range(7)}
        assert np.isfinite(cue["lift_by_gap"][gap])
    without = Vocabulary([w for w in words if w != "chinese"])
    assert "outside the vocabulary" in lm.cue_test(model, params, without, filler, gaps=(0,))["skipped"]


def test_reset_at_review_end_resets_at_the_end_of_review_id():
    assert (
        lm.build_model(lm.LMConfig(cutoffs=(4, 8)), 12).reset_id is None
    )  # off by default, as PyTorch's example
    model = lm.build_model(lm.LMConfig(reset_at_review_end=True, cutoffs=(4, 8)), 12)
    assert model.reset_id == lm_corpus.EOS_ID
