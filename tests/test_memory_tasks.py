"""The adding problem and the copy task against plain NumPy generators of the same definitions."""

import math

import jax
import numpy as np
import pytest

from rnn_jax.data import memory_tasks


def numpy_adding(values: np.ndarray, first: np.ndarray, second: np.ndarray):
    """Le et al. 2015 / Arjovsky et al. 2016, written as a loop: channel 2 marks p1 and p2."""
    batch_size, seq_len = values.shape
    xs = np.zeros((batch_size, seq_len, 2), np.float32)
    targets = np.zeros(batch_size, np.float32)
    for i in range(batch_size):
        for t in range(seq_len):
            xs[i, t, 0] = values[i, t]
            if t in (first[i], second[i]):
                xs[i, t, 1] = 1.0
                targets[i] += values[i, t]
    return xs, targets


def numpy_copy(symbols: np.ndarray, blank_len: int):
    """Arjovsky et al. 2016: symbols, T - 1 blanks, the delimiter 9, 10 blanks; recall at the end."""
    rows_in, rows_out = [], []
    for row in symbols:
        s = list(row)
        rows_in.append(s + [0] * (blank_len - 1) + [9] + [0] * len(s))
        rows_out.append([0] * (blank_len + len(s)) + s)
    return np.array(rows_in), np.array(rows_out)


def test_adding_assembly_matches_numpy():
    rng = np.random.default_rng(0)
    values = rng.uniform(size=(5, 12)).astype(np.float32)
    first, second = rng.integers(0, 6, 5), rng.integers(6, 12, 5)
    batch = memory_tasks.adding_from_draws(values, first, second)
    xs, targets = numpy_adding(values, first, second)
    np.testing.assert_array_equal(np.asarray(batch.xs), xs)
    np.testing.assert_allclose(np.asarray(batch.targets), targets, rtol=1e-6)


@pytest.mark.parametrize("seq_len", [2, 7, 50])
def test_adding_batch_follows_the_definition(seq_len):
    batch = memory_tasks.adding_batch(jax.random.key(seq_len), 400, seq_len)
    xs, targets = np.asarray(batch.xs), np.asarray(batch.targets)
    assert xs.shape == (400, seq_len, 2) and targets.shape == (400,)
    markers = xs[..., 1]
    assert np.all(markers.sum(axis=1) == 2)  # exactly two markers
    half = seq_len // 2
    assert np.all(markers[:, :half].sum(axis=1) == 1) and np.all(markers[:, half:].sum(axis=1) == 1)
    assert 0.0 <= xs[..., 0].min() and xs[..., 0].max() < 1.0
    np.testing.assert_allclose(targets, (xs[..., 0] * markers).sum(axis=1), rtol=1e-6)


def test_adding_statistics_give_the_baseline():
    # The constant predictor 1 scores Var(U1 + U2) = 1/6; marker positions cover each half uniformly.
    batch = memory_tasks.adding_batch(jax.random.key(1), 20_000, 10)
    targets = np.asarray(batch.targets)
    assert abs(targets.mean() - 1.0) < 0.02
    assert abs(np.mean((targets - 1.0) ** 2) - memory_tasks.ADDING_BASELINE) < 0.01
    counts = np.asarray(batch.xs[..., 1]).sum(axis=0)
    np.testing.assert_allclose(counts / 20_000, np.full(10, 0.2), atol=0.02)


def test_copy_assembly_matches_numpy():
    symbols = np.random.default_rng(2).integers(1, 9, (4, 10))
    batch = memory_tasks.copy_from_draws(symbols, 7)
    tokens, targets = numpy_copy(symbols, 7)
    np.testing.assert_array_equal(np.asarray(batch.tokens), tokens)
    np.testing.assert_array_equal(np.asarray(batch.targets), targets)


@pytest.mark.parametrize("blank_len", [1, 10, 100])
def test_copy_batch_follows_the_definition(blank_len):
    batch = memory_tasks.copy_batch(jax.random.key(blank_len), 64, blank_len)
    tokens, targets = np.asarray(batch.tokens), np.asarray(batch.targets)
    assert tokens.shape == targets.shape == (64, blank_len + 20)
    assert np.all((tokens[:, :10] >= 1) & (tokens[:, :10] <= 8))
    assert np.all(tokens[:, 10 : blank_len + 9] == 0) and np.all(tokens[:, blank_len + 9] == 9)
    assert np.all(tokens[:, blank_len + 10 :] == 0)
    np.testing.assert_array_equal(targets[:, -10:], tokens[:, :10])
    assert np.all(targets[:, :-10] == 0)
    tokens_np, targets_np = numpy_copy(tokens[:, :10], blank_len)
    np.testing.assert_array_equal(tokens, tokens_np)
    np.testing.assert_array_equal(targets, targets_np)


def test_copy_baseline_is_the_memoryless_cross_entropy():
    # Blank for T + 10 steps (loss 0), uniform over 8 symbols for the last 10 (loss log 8 each).
    assert memory_tasks.copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)
    batch = memory_tasks.copy_batch(jax.random.key(3), 8, 30)
    logits = np.where(np.arange(9) == 0, 30.0, 0.0)  # certain blank
    guess = np.log(np.r_[1e-30, np.full(8, 1 / 8)])  # uniform over the symbols
    targets = np.asarray(batch.targets)
    losses = [
        -(logits - np.log(np.exp(logits).sum()))[y] if t < 40 else -guess[y]
        for row in targets
        for t, y in enumerate(row)
    ]
    assert np.mean(losses) == pytest.approx(memory_tasks.copy_baseline(30), rel=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: memory_tasks.adding_batch(jax.random.key(0), 4, 1), "seq_len >= 2"),
        (lambda: memory_tasks.adding_batch(jax.random.key(0), 0, 10), "batch_size"),
        (lambda: memory_tasks.copy_batch(jax.random.key(0), 4, 0), "blank_len"),
        (lambda: memory_tasks.copy_batch(jax.random.key(0), 4, 5, alphabet=1), "at least 2 symbols"),
        (lambda: memory_tasks.copy_baseline(10, alphabet=1), "at least 2 symbols"),
    ],
)
def test_bad_sizes_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
