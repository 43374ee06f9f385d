"""IMDB sentiment: the classifiers' training (`imdb`), several seeds in one table (`imdb_table`),
accuracy against labelled reviews (`label_curve`), the tokenizer's speed (`tokenizer_speed`)."""
