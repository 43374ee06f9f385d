#!/bin/bash
# Issue 13, item 4: test accuracy against the number of labelled training reviews, with and without a
# pretrained start. Run from the repository root (the runs of 2026-12-02 ran these from a clone, with
# absolute paths, nice'd, one process at a time). The 20,000-review points are the tables of
# commands.sh (results/pretrain/{simple_rnn,lstm}_*), made by the same language models.
# Epochs grow as the labelled set shrinks: the 20,000-review runs' number of updates, capped at 50 epochs
# for the Simple RNN and 30 for the LSTM (the cap binds at every size below 20,000: patience 14 and 8);
# the best validation epoch is tested; validation is always the same 5,000 reviews.
set -e
R=runs/pretrain
COMMON="--data_dir ../shared/tfds --no-download"
LM="--embedding_size 32 --hidden_size 32 --softmax full --num_epochs 1 --context_positions 0 --max_train_tokens 4000000 --no_progress $COMMON"
for m in simple_rnn lstm; do
  [ -f $R/lm_$m/results.json ] || python experiments/language_model.py --model $m $LM --workdir $R/lm_$m
done
for n in 500 1000 2000 5000; do
  e=$(( 300000 / n )); [ $e -gt 50 ] && e=50; p=$(( (4 * e + 14) / 15 ))
  for start in vocab embedding; do
    python experiments/imdb_table.py --models simple_rnn --seeds 0,1,2 --max_train_examples $n --embedding_dropout 0.3 --num_epochs $e --patience $p --pretrained_lm $R/lm_simple_rnn --pretrained_parts $start $COMMON --runs $R/curve/simple_rnn_${start}_$n --out results/pretrain/curve/simple_rnn_${start}_$n
  done
done
for n in 500 1000 2000 5000; do
  e=$(( 400000 / n )); [ $e -gt 30 ] && e=30; p=$(( (5 * e + 19) / 20 ))
  for start in vocab embedding+rnn; do
    python experiments/imdb_table.py --models lstm --seeds 0 --max_train_examples $n --embedding_dropout 0.5 --num_epochs $e --patience $p --pretrained_lm $R/lm_lstm --pretrained_parts $start $COMMON --runs $R/curve/lstm_${start}_$n --out results/pretrain/curve/lstm_${start}_$n
  done
done
python experiments/label_curve.py --tables results/pretrain/curve/* results/pretrain/simple_rnn_control \
  results/pretrain/simple_rnn_embedding results/pretrain/lstm_control results/pretrain/lstm_pretrained \
  --out results/pretrain/label_curve --command "results/pretrain/curve_commands.sh"
