"""Tests of rnn_jax.models.ngram: distributions sum to 1, a hand-computed example, a dict-based reference."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.models import ngram
from rnn_jax.models.ngram import KneserNeyModel, UnigramModel, discounts_from_counts

V = 25  # ids 20 .. 24 never occur in the toy corpus


def _markov_stream(size, seed=0, num_words=20):
    """A second-order Markov chain over `num_words` ids where each pair allows 3 successors."""
    rng = np.random.default_rng(0)
    successors = rng.integers(0, num_words, size=(num_words, num_words, 3))
    weights = rng.dirichlet(np.ones(3), size=(num_words, num_words))
    rng = np.random.default_rng(seed)
    stream = [int(rng.integers(num_words)), int(rng.integers(num_words))]
    for _ in range(size - 2):
        a, b = stream[-2], stream[-1]
        stream.append(int(successors[a, b, rng.choice(3, p=weights[a, b])]))
    return np.asarray(stream, np.int32)


@pytest.fixture(scope="module")
def train():
    return _markov_stream(4_000, seed=1)


def _reference_probability(stream, num_ids, order, discounts, history, word):
    """Interpolated Kneser-Ney written out with dicts of tuples, the obvious way (slow)."""
    stream = [int(w) for w in stream]
    grams = {
        k: collections.Counter(tuple(stream[i - k + 1 : i + 1]) for i in range(k - 1, len(stream)))
        for k in range(1, order + 1)
    }
    counts = {order: grams[order]}
    for k in range(1, order):  # continuation counts: distinct words before the k-gram
        counts[k] = collections.Counter(gram[1:] for gram in grams[k + 1])

    def discount(k, c):
        return 0.0 if c == 0 else discounts[k - 1][min(c, 3) - 1]

    def level(k, context):
        followers = {g: c for g, c in counts[k].items() if g[:-1] == context}
        return sum(followers.values()), sum(discount(k, c) for c in followers.values())

    total, freed = level(1, ())
    c = counts[1].get((word,), 0)
    p = (c - discount(1, c) + freed / num_ids) / total
    history = [int(w) for w in history]
    for k in range(2, order + 1):
        if len(history) < k - 1:
            break
        context = tuple(history[len(history) - (k - 1) :])
        total, freed = level(k, context)
        if total == 0:  # an unseen history: the lower order's probability stands
            continue
        c = counts[k].get(context + (word,), 0)
        p = (c - discount(k, c) + freed * p) / total
    return p


def _contexts(stream, order, rng):
    """Seen histories, unseen ones, histories with ids absent from training, short and long ones."""
    seen = [list(stream[i - order + 1 : i]) for i in rng.integers(order, stream.size, size=6)]
    unseen = [list(rng.integers(0, 20, size=order - 1)) for _ in range(4)]
    unknown = [[22] * (order - 1), [int(stream[5]), 24], [23, int(stream[7])], [21]]
    short = [[], [int(stream[3])]]
    long = [list(stream[10 : 10 + order + 3])]
    return seen + unseen + unknown + short + long


@pytest.mark.parametrize("order", [3, 4])
@pytest.mark.parametrize("discount", ["modified", "plain"])
def test_distributions_sum_to_one(train, order, discount):
    model = KneserNeyModel(V, order, discount=discount).fit(train)
    for context in _contexts(train, order, np.random.default_rng(order)):
        probs = model.next_word_distribution(context)
        assert probs.shape == (V,) and np.all(probs > 0), context
        np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-6, err_msg=str(context))


def test_unigram_distribution_sums_to_one(train):
    probs = UnigramModel(V).fit(train).next_word_distribution([3, 4])
    assert probs.shape == (V,) and np.all(probs > 0)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_agrees_with_the_dict_reference(order):
    stream = _markov_stream(400, seed=3, num_words=8)
    model = KneserNeyModel(10, order).fit(stream)
    rng = np.random.default_rng(0)
    for context in _contexts(stream, order, rng)[:12] + [[9, 9], [0]]:
        context = [w % 10 for w in context]
        expected = [_reference_probability(stream, 10, order, model.discounts, context, w) for w in range(10)]
        np.testing.assert_allclose(model.next_word_distribution(context), expected, rtol=1e-12)


def test_hand_computed_trigram():
    # stream a b a b c (ids 0 1 0 1 2), V = 4 (id 3 unseen), D = 0.5 at every order.
    # continuation counts: unigrams 0, 1, 2 -> 1 each (T = 3); bigrams (1,0), (0,1), (1,2) -> 1 each.
    #   P1(0) = P1(1) = P1(2) = (1 - 1/2 + (3/2) / 4) / 3 = 7/24,   P1(3) = (3/8) / 3 = 1/8
    #   P2(0 | 1) = (1/2 + 1 * 7/24) / 2 = 19/48,   P2(1 | 0) = (1/2 + 1/2 * 7/24) / 1 = 31/48
    #   P3(2 | 0 1) = (1/2 + 1 * P2(2 | 1)) / 2 = (1/2 + 19/48) / 2 = 43/96
    #   P3(1 | 1 0) = (1/2 + 1/2 * P2(1 | 0)) / 1 = 79/96
    model = KneserNeyModel(4, 3, discounts=[0.5, 0.5, 0.5]).fit(np.array([0, 1, 0, 1, 2]))
    cases = [
        ([0, 1], 2, 43 / 96),
        ([0, 1], 0, 43 / 96),
        ([0, 1], 1, (7 / 48) / 2),
        ([0, 1], 3, 1 / 32),
        ([1, 0], 1, 79 / 96),
        ([2, 0], 1, 31 / 48),
        ([3, 3], 3, 1 / 8),
        ([], 0, 7 / 24),
        ([1], 0, 19 / 48),
    ]
    for context, word, expected in cases:
        assert np.exp(model.log_prob(context, word)) == pytest.approx(expected, rel=1e-12), (context, word)
    # the stream's own targets: 1 | (start, 0), 0 | (0, 1), 1 | (1, 0), 2 | (0, 1)
    np.testing.assert_allclose(
        np.exp(model.log_probs(np.array([0, 1, 0, 1, 2]))), [31 / 48, 43 / 96, 79 / 96, 43 / 96], rtol=1e-12
    )
    np.testing.assert_array_equal(model.num_ngrams, [3, 3, 3])


def test_discounts_from_counts_of_counts():
    counts = np.repeat([1, 2, 3, 4, 7], [10, 5, 3, 2, 4])  # n1 = 10, n2 = 5, n3 = 3, n4 = 2
    # Y = 10 / (10 + 2 * 5) = 1/2;  D1 = 1 - 2 Y 5/10 = 1/2;  D2 = 2 - 3 Y 3/5 = 1.1;  D3+ = 3 - 4 Y 2/3 = 5/3
    np.testing.assert_allclose(discounts_from_counts(counts), [0.5, 1.1, 5 / 3])
    np.testing.assert_allclose(discounts_from_counts(counts, "plain"), [0.5, 0.5, 0.5])
    # no singletons: Y falls back to 0.5; an undefined D_r to Y; everything clipped into [MIN_DISCOUNT, r]
    d = discounts_from_counts(np.array([2, 2, 5]))
    assert np.all(d >= ngram.MIN_DISCOUNT) and np.all(d <= [1, 2, 3])


def test_log_probs_agree_with_one_by_one_lookups(train, monkeypatch):
    monkeypatch.setattr(ngram, "_CHUNK", 7)  # several chunks, boundaries included
    model = KneserNeyModel(V, 3).fit(train)
    stream = _markov_stream(50, seed=9)
    expected = [model.log_prob(stream[max(t - 2, 0) : t], int(stream[t])) for t in range(1, stream.size)]
    np.testing.assert_allclose(model.log_probs(stream), expected, rtol=1e-12)
    assert model.perplexity(stream) == pytest.approx(np.exp(-np.mean(expected)))


def test_kneser_ney_beats_unigram_on_structured_text(train):
    held_out = _markov_stream(1_000, seed=2)
    unigram = UnigramModel(V).fit(train).perplexity(held_out)
    trigram = KneserNeyModel(V, 3).fit(train).perplexity(held_out)
    bigram = KneserNeyModel(V, 2).fit(train).perplexity(held_out)
    assert trigram < 0.5 * bigram and bigram < unigram  # the chain is second order


def test_a_uniform_model_has_perplexity_V():
    model = UnigramModel(V).fit(np.arange(V))  # every id once: uniform
    np.testing.assert_allclose(model.next_word_distribution([]), 1 / V, rtol=1e-12)
    assert model.perplexity(_markov_stream(300, seed=4)) == pytest.approx(V, rel=1e-12)


def test_unigram_smoothing():
    stream = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(
        UnigramModel(4, smoothing=0.0).fit(stream).next_word_distribution([]), [0.5, 1 / 6, 1 / 3, 0]
    )
    np.testing.assert_allclose(
        UnigramModel(4).fit(stream).next_word_distribution([]), np.array([4, 2, 3, 1]) / 10
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: KneserNeyModel(V, 1), "order must be an int >= 2"),
        (lambda: KneserNeyModel(0), "num_ids must be an int >= 1"),
        (lambda: KneserNeyModel(V, discount="good-turing"), "unknown discount 'good-turing'"),
        (lambda: KneserNeyModel(V, 3, discounts=[0.5, 0.5]), "discounts needs one entry per order \\(3\\)"),
        (lambda: KneserNeyModel(V, 2, discounts=[0.5, (0.5, 2.5, 1.0)]), "discounts must lie in \\(0, r\\]"),
        (lambda: KneserNeyModel(V).fit(np.array([1, 2])), "stream needs at least 3 tokens"),
        (lambda: KneserNeyModel(V).fit(np.array([1, 2, V])), "stream ids must lie in \\[0, 25\\)"),
        (lambda: KneserNeyModel(V).fit(np.array([[1, 2, 3]])), "stream must be a 1-D array of integer ids"),
        (lambda: KneserNeyModel(V).perplexity(np.arange(5)), "KneserNeyModel is not fitted yet"),
        (lambda: KneserNeyModel(V).fit(np.arange(9)).next_word_distribution([-1]), "context ids must lie in"),
        (lambda: KneserNeyModel(V).fit(np.arange(9)).log_prob([1], V), "word must be an id in \\[0, 25\\)"),
        (
            lambda: KneserNeyModel(V).fit(np.arange(9)).perplexity(np.array([3])),
            "stream needs at least 2 tokens",
        ),
        (lambda: UnigramModel(V, smoothing=-1.0), "smoothing must be a finite number >= 0"),
    ],
)
def test_bad_inputs(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
