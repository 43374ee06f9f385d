"""Flax models built on the core: the IMDB classifiers (embedding -> recurrence -> head)."""
