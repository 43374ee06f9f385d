"""The long-term dependence task (rnn_jax.data.long_memory: the batches' layout) and its study
(rnn_jax.studies.lecture.long_memory: the classifier, the chunked training, the sweep)."""

import ast
import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rnn_jax.data import long_memory as task
from rnn_jax.studies.lecture import long_memory as study

SPEC = task.TaskSpec(seq_len=9, num_answers=4, num_fillers=5)


@pytest.mark.parametrize("gap", [1, 3, 7])
def test_batch_layout(gap):
    batch = task.make_batch(jax.random.key(0), SPEC, 32, gap)
    tokens, labels = np.asarray(batch.tokens), np.asarray(batch.labels)
    assert tokens.shape == (32, 9) and labels.shape == (32,)
    assert tokens.dtype == np.int32
    np.testing.assert_array_equal(tokens[:, -1], SPEC.query_token)
    np.testing.assert_array_equal(tokens[:, 9 - 1 - gap], labels)  # the answer, gap steps before the query
    np.testing.assert_array_equal(tokens[:, 9 - 2 - gap], SPEC.marker_token)  # "grew up in"
    assert set(np.unique(labels)) <= set(range(4)) and len(np.unique(labels)) > 1
    distractors = np.delete(tokens, [9 - 2 - gap, 9 - 1 - gap, 8], axis=1)
    assert distractors.min() >= 0 and distractors.max() < SPEC.num_answers + SPEC.num_fillers
    assert (distractors < SPEC.num_answers).any()  # answer words appear as distractors too
    assert SPEC.vocab_size == 4 + 5 + 2


def test_traced_gap_gives_the_same_batch():
    concrete = task.make_batch(jax.random.key(3), SPEC, 8, 4)
    traced = jax.jit(lambda gap: task.make_batch(jax.random.key(3), SPEC, 8, gap))(jnp.int32(4))
    np.testing.assert_array_equal(concrete.tokens, traced.tokens)
    np.testing.assert_array_equal(concrete.labels, traced.labels)


@pytest.mark.parametrize("cell, rows", [("simple_rnn", 6), ("lstm", 24), ("gru", 12)])
def test_classifier_shapes_and_keep_bias(cell, rows):
    params = study.init_classifier(jax.random.key(0), cell, SPEC.vocab_size, 6, 4, keep_bias=2.0)
    assert params["cell"]["A"].shape == (rows, 6 + SPEC.vocab_size)
    assert params["readout"]["W"].shape == (4, 6)
    if cell == "lstm":  # forget gate (second block) starts at +keep_bias
        np.testing.assert_array_equal(params["cell"]["b"][6:12], 2.0)
    if cell == "gru":  # update gate z (first block) starts at -keep_bias
        np.testing.assert_array_equal(params["cell"]["b"][:6], -2.0)
    batch = task.make_batch(jax.random.key(1), SPEC, 5, 2)
    logits = study.classifier_logits(params, batch.tokens, cell)
    assert logits.shape == (5, 4)
    loss, accuracy = study.loss_and_accuracy(params, batch, cell)
    assert np.isfinite(float(loss)) and 0.0 <= float(accuracy) <= 1.0


def test_one_chunk_changes_every_parameter_and_stays_finite():
    settings = study.TrainSettings(hidden_size=6, batch_size=8, steps_per_chunk=3)
    optimizer = study.make_optimizer(settings)
    params = study.init_classifier(jax.random.key(0), "simple_rnn", SPEC.vocab_size, 6, 4)
    chunk = study.make_train_chunk(SPEC, settings, "simple_rnn", optimizer)  # unjitted
    new, _, loss, accuracy = chunk(
        params, optimizer.init(params), jax.random.key(1), jnp.int32(2), jnp.int32(0)
    )
    for before, after in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(new), strict=True):
        assert np.all(np.isfinite(np.asarray(after)))
        assert not np.allclose(before, after)
    assert np.isfinite(float(loss)) and 0 <= float(accuracy) <= 1
    assert isinstance(optimizer, optax.GradientTransformation)


def test_short_gap_is_learned_and_training_lowers_the_loss():
    spec = task.TaskSpec(seq_len=4, num_answers=4, num_fillers=4)
    settings = study.TrainSettings(
        hidden_size=16, batch_size=32, learning_rate=1e-2, max_steps=400, steps_per_chunk=25, num_test=256
    )
    seen = []
    result = study.train_classifier(
        jax.random.key(0), spec, "simple_rnn", 1, settings, progress=lambda *record: seen.append(record)
    )
    assert result.test_accuracy >= 0.9  # "clouds are in the ___": the answer was the word just read
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert len(seen) == len(result.history) and result.steps == 25 * len(seen) <= 400
    # Same seed, same result.
    again = study.train_classifier(jax.random.key(0), spec, "simple_rnn", 1, settings)
    assert again.test_accuracy == result.test_accuracy and again.steps == result.steps


def test_largest_gap_reaching():
    assert study.largest_gap_reaching({1: 1.0, 5: 0.95, 10: 0.5, 20: 0.91}) == 20
    assert study.largest_gap_reaching({1: 1.0, 5: 0.95, 10: 0.5}, threshold=0.96) == 1
    assert study.largest_gap_reaching({1: 0.2}) is None


def test_errors():
    with pytest.raises(ValueError, match=r"seq_len must be >= 3"):
        task.TaskSpec(seq_len=2)
    with pytest.raises(ValueError, match="num_answers must be a positive int"):
        task.TaskSpec(seq_len=5, num_answers=0)
    with pytest.raises(ValueError, match=r"gap must lie in \[1, 7\]"):
        task.make_batch(jax.random.key(0), SPEC, 4, 8)
    with pytest.raises(ValueError, match=r"gap must lie in \[1, 7\]"):
        study.train_classifier(jax.random.key(0), SPEC, "lstm", 0)
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        study.train_classifier(jax.random.key(0), SPEC, "transformer", 1)
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        study.init_classifier(jax.random.key(0), "transformer", 5, 3, 2)
    with pytest.raises(ValueError, match="max_steps must be a positive int"):
        study.train_classifier(jax.random.key(0), SPEC, "gru", 1, study.TrainSettings(max_steps=0))


def test_the_task_data_is_free_of_training():
    # The data module holds the task alone; the classifier and its optax training live in the study.
    tree = ast.parse(Path(task.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "optax" not in imported and "flax" not in imported
    assert not hasattr(task, "train_classifier") and hasattr(study, "train_classifier")


def test_batches_take_one_gap_per_sequence():
    spec = task.TaskSpec(seq_len=12, num_answers=4, num_fillers=5)
    gaps = jnp.array([1, 4, 10])
    batch = task.make_batch(jax.random.key(0), spec, 3, gaps)
    for row, label, gap in zip(batch.tokens, batch.labels, gaps, strict=True):
        answer_position = spec.seq_len - 1 - int(gap)
        assert int(row[answer_position - 1]) == spec.marker_token and int(row[answer_position]) == int(label)
    with pytest.raises(ValueError, match="gap must lie in"):
        task.make_batch(jax.random.key(0), spec, 3, jnp.array([1, 11, 2]))


@pytest.mark.parametrize("mode", study.TRAIN_GAPS)
def test_training_gaps_follow_the_mode(mode):
    settings = study.TrainSettings(batch_size=2000, train_gaps=mode, curriculum_steps=100)
    early = np.asarray(study.training_gaps(jax.random.key(0), settings, jnp.int32(40), jnp.int32(25)))
    late = np.asarray(study.training_gaps(jax.random.key(0), settings, jnp.int32(40), jnp.int32(100)))
    if mode == "exact":
        assert early.tolist() == 40 and late.tolist() == 40
    elif mode == "mixed":
        assert early.min() == 1 and early.max() == 40
    else:  # the curriculum's largest gap: 1 + 39 * 25 // 100 = 10 at step 25, 40 once it is done
        assert early.min() == 1 and early.max() == 10 and late.max() == 40


def test_a_curriculum_run_stops_only_once_the_test_gap_is_reached():
    settings = study.TrainSettings(train_gaps="curriculum", curriculum_steps=100)
    assert not study._reached_target_at_gap(settings, 50, lambda: 1.0)
    assert study._reached_target_at_gap(settings, 100, lambda: 1.0)
    assert not study._reached_target_at_gap(settings, 100, lambda: 0.5)
    assert study._reached_target_at_gap(dataclasses.replace(settings, train_gaps="exact"), 1, lambda: 0.0)
