"""Data: the IMDB reviews through TFDS, the tokenizer and vocabulary, the synthetic long-memory task."""
