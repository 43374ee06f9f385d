"""Data: the IMDB reviews through TFDS, the tokenizer and vocabulary, the language-model corpus, the long-memory task."""
