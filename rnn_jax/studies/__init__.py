"""The experiments as importable code: IMDB classification, the lecture report, the benchmark, ..."""
