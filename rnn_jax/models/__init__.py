"""Flax models built on the core: the IMDB classifiers, the language model; and n-gram count models."""
