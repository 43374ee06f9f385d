"""IMDB sentiment: the classifiers' training (`imdb`), several seeds in one table (`imdb_table`),
accuracy against labelled reviews (`label_curve`), how far a random or a language-model start
reads back at step 0 (`pretrained_start`), the tokenizer's speed (`tokenizer_speed`), the
classifiers' training speed and what a full run costs (`classifier_speed`), and a portable copy of
the reviews for machines without tensorflow-datasets (`export_imdb`)."""
