"""The adaptive softmax (Grave et al. 2017; PyTorch's `nn.AdaptiveLogSoftmaxWithLoss`) as a Flax module.

The ids are sorted by frequency (id 0 end-of-review, 1 out-of-vocabulary, 2.. the words, most
frequent first), so the cutoffs c_0 < c_1 < ... < c_m = V split them into a head [0, c_0), holding the
frequent words, and m tail clusters [c_{i-1}, c_i) of ever rarer words. The head scores its c_0 ids
and one entry per cluster; cluster i scores its words from a projection of h to d_i = H / div^(i+1)
dimensions, so rare words cost fewer multiply-adds:

    log p(w | h) = log softmax(W_head h + b)[w]                                  w in the head
    log p(w | h) = log softmax(W_head h + b)[c_0 + i - 1] + log softmax(U_i P_i h)[w - c_{i-1}]
                                                                                 w in cluster i

    shapes: h [..., H];  W_head [c_0 + m, H];  P_i [d_i, H];  U_i [c_i - c_{i-1}, d_i]

It is an exact, normalised distribution over all V ids (the probabilities sum to 1: tested), so a
perplexity from it is a full-vocabulary perplexity, not a sampled estimate. `target_log_probs`
computes log p(target | h) alone, scoring a cluster only at the positions whose target lies in it
(gathered into a block of static size for `jit`, bounded from the data by `cluster_capacities`);
`log_probs` gives the whole [..., V] distribution (sampling, top words). Multiply-adds per
position at H = 256, V = 10,002 with the default cutoffs (2,000, 6,000) and div 4: 2.56 M for the
full softmax against 0.51 M for the head and 0.27 M / 0.07 M for the two tails, paid only by the
positions whose target lies in them (about 9 % and 3 % of the IMDB text).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rnn_jax.errors import ConfigError


def check_cutoffs(cutoffs: Sequence[int], num_ids: int) -> tuple[int, ...]:
    """The cutoffs as a tuple, checked: increasing, each in (0, num_ids); ConfigError otherwise."""
    cutoffs = tuple(cutoffs)
    if not cutoffs:
        raise ConfigError("the adaptive softmax needs at least one cutoff (the head's size)")
    if any(isinstance(c, bool) or not isinstance(c, int) for c in cutoffs):
        raise ConfigError(f"cutoffs must be ints, got {cutoffs!r}")
    if list(cutoffs) != sorted(set(cutoffs)) or cutoffs[0] <= 0 or cutoffs[-1] >= num_ids:
        raise ConfigError(
            f"cutoffs must increase strictly and lie in (0, {num_ids}) (the vocabulary's ids), "
            f"got {cutoffs!r}"
        )
    return cutoffs


def cluster_capacities(targets: np.ndarray, cutoffs: Sequence[int], num_ids: int) -> tuple[int, ...]:
    """The most targets any one call holds in each tail cluster: targets [num_calls, ...] -> (cap_i, ...).

    With these as `capacities`, `target_log_probs` scores each cluster at exactly as many positions
    as the data ever needs (e.g. the training windows: at most 142 of 1,120 positions fall in the
    cluster [2000, 6000) of the IMDB stream, against 1,120 scored without a bound).
    """
    bounds = (*check_cutoffs(cutoffs, num_ids), num_ids)
    flat = np.asarray(targets).reshape(len(targets), -1)
    return tuple(
        max(1, int(((flat >= lo) & (flat < hi)).sum(axis=1).max(initial=0)))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    )


class AdaptiveSoftmax(nn.Module):
    """log p(w | h) over `num_ids` ids with a frequent head and cheaper tail clusters (module docstring).

    Attributes:
      num_ids: V.
      hidden_size: H, the size of the states it reads.
      cutoffs: c_0 < ... < c_{m-1}, the first id of each tail cluster (c_m = V is implied).
      div_value: cluster i reads a projection of h to d_i = max(1, H // div_value^(i+1)) dimensions.
      kernel_init: initialiser of every weight matrix.
    """

    num_ids: int
    hidden_size: int
    cutoffs: tuple[int, ...] = (2000, 6000)
    div_value: float = 4.0
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    def setup(self):
        cutoffs = check_cutoffs(self.cutoffs, self.num_ids)
        if not self.div_value >= 1.0:
            raise ConfigError(f"div_value must be >= 1, got {self.div_value}")
        self.bounds = (*cutoffs, self.num_ids)
        self.head = nn.Dense(cutoffs[0] + len(cutoffs), kernel_init=self.kernel_init, name="head")
        self.projections = [
            nn.Dense(self.projection_size(i), use_bias=False, kernel_init=self.kernel_init, name=f"proj_{i}")
            for i in range(len(cutoffs))
        ]
        self.tails = [
            nn.Dense(hi - lo, use_bias=False, kernel_init=self.kernel_init, name=f"tail_{i}")
            for i, (lo, hi) in enumerate(zip(self.bounds[:-1], self.bounds[1:], strict=True))
        ]

    def projection_size(self, i: int) -> int:
        """d_i = max(1, H // div_value^(i+1)), the size of cluster i's projection of h."""
        return max(1, int(self.hidden_size // self.div_value ** (i + 1)))

    def _cluster_log_probs(self, hs: jax.Array, i: int) -> jax.Array:
        """log softmax over cluster i's words, given that the word is in cluster i: [..., c_i - c_{i-1}]."""
        return jax.nn.log_softmax(self.tails[i](self.projections[i](hs)).astype(jnp.float32), axis=-1)

    def target_log_probs(
        self, hs: jax.Array, targets: jax.Array, capacities: Sequence[int] | None = None
    ) -> jax.Array:
        """log p(targets | hs): hs [..., H], targets [...] int in [0, V) -> [...] float32.

        `capacities[i]`: how many positions cluster i is scored at, a static bound on the number
        of targets in it (`cluster_capacities` reads it off the data); those positions are
        gathered and the rest skip the cluster. None scores every cluster at every position. A
        call with more targets in a cluster than its capacity returns NaN everywhere (never a
        silently wrong value: the training loop skips a non-finite update and counts it).
        """
        shape = targets.shape
        hs, targets = hs.reshape(-1, hs.shape[-1]), targets.reshape(-1)
        num_clusters = len(self.bounds) - 1
        if capacities is not None and len(capacities) != num_clusters:
            raise ConfigError(
                f"capacities must give one bound per tail cluster ({num_clusters}), got {capacities!r}"
            )
        head = jax.nn.log_softmax(self.head(hs).astype(jnp.float32), axis=-1)  # [N, c_0 + m]
        head_size = self.bounds[0]
        out = jnp.take_along_axis(head, jnp.where(targets < head_size, targets, 0)[:, None], axis=-1)[:, 0]
        overflow = jnp.zeros((), bool)
        for i, (lo, hi) in enumerate(zip(self.bounds[:-1], self.bounds[1:], strict=True)):
            inside = (targets >= lo) & (targets < hi)
            block = len(targets) if capacities is None else min(len(targets), max(1, int(capacities[i])))
            word = self._cluster_target_log_probs(hs, targets - lo, inside, i, block)
            out = jnp.where(inside, head[:, head_size + i] + word, out)
            overflow |= jnp.sum(inside) > block
        return jnp.where(overflow, jnp.nan, out).reshape(shape)

    def _cluster_target_log_probs(self, hs, local, inside, i: int, block: int) -> jax.Array:
        """log p(local id | cluster i, h) at the first `block` positions `inside` [N] (0 elsewhere): [N]."""

        def at(rows, ids):  # log p of ids [R] given the states rows [R, H]
            log_probs = self._cluster_log_probs(rows, i)
            ids = jnp.clip(ids, 0, log_probs.shape[-1] - 1)[:, None]
            return jnp.take_along_axis(log_probs, ids, axis=-1)[:, 0]

        if block == len(local):
            return at(hs, local)
        rows = jnp.nonzero(inside, size=block, fill_value=0)[0]  # [block]
        used = jnp.arange(block) < jnp.sum(inside)
        return jnp.zeros(len(local)).at[rows].add(jnp.where(used, at(hs[rows], local[rows]), 0.0))

    def log_probs(self, hs: jax.Array) -> jax.Array:
        """log p(w | hs) for every id w: hs [..., H] -> [..., V] float32 (logsumexp over w is 0)."""
        head = jax.nn.log_softmax(self.head(hs).astype(jnp.float32), axis=-1)
        head_size = self.bounds[0]
        parts = [head[..., :head_size]]
        for i in range(len(self.bounds) - 1):
            parts.append(head[..., head_size + i, None] + self._cluster_log_probs(hs, i))
        return jnp.concatenate(parts, axis=-1)

    def __call__(self, hs: jax.Array) -> jax.Array:
        return self.log_probs(hs)
