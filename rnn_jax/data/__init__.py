"""Data: IMDB through TFDS, the tokenizer and vocabulary, the language-model corpus, the long-memory task."""
