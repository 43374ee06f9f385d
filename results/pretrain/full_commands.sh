#!/bin/bash
# Issue 21: whole-corpus language models at the lecture's sizes (E = H = 32, adaptive softmax), the
# reach of each start, then the lecture-size classifiers started from them. Two chains run side by
# side on the 2 cores (the Simple RNN chain, the LSTM chain); each line is timed.
cd "$(dirname "$0")/../.." && . .venv/bin/activate
T="/usr/bin/time -f %e_wall_s"
COMMON="--data_dir /work/shared/tfds --no_download"
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
lm() {  # the language models (run first, both at once)
  $T python experiments/language_model.py --model $1 --embedding_size 32 --hidden_size 32 --softmax adaptive \
    --num_epochs 2 --patience 1 --context_positions 0 --data_dir /work/shared/tfds --no_download \
    --workdir runs/pretrain_full/lm_$1 > runs/pretrain_full/lm_$1.log 2>&1
}
srnn_chain() {
  SRNN="--models simple_rnn --embedding_dropout 0.3 --num_epochs 15 --patience 4 --pretrained_lm runs/pretrain_full/lm_simple_rnn $COMMON"
  $T rnn-jax pretrained-start --pretrained_lm runs/pretrain_full/lm_simple_rnn --radii 1.0,0.5 $COMMON --out results/pretrain/start_reach_simple_rnn
  # The control: the same vocabulary as issue 13's (counted on all 75,000 reviews); seed 0 rerun to check.
  $T python experiments/imdb_table.py --seeds 0 --runs runs/pretrain_full/simple_rnn_control --out results/pretrain/full_simple_rnn_control --pretrained_parts vocab $SRNN
  $T python experiments/imdb_table.py --seeds 0,1,2 --runs runs/pretrain_full/simple_rnn_radius1 --out results/pretrain/full_simple_rnn_radius1 --pretrained_parts embedding+rnn --pretrained_radius 1.0 $SRNN
  $T python experiments/imdb_table.py --seeds 0,1,2 --runs runs/pretrain_full/simple_rnn_pretrained --out results/pretrain/full_simple_rnn_pretrained --pretrained_parts embedding+rnn $SRNN
  $T python experiments/imdb_table.py --seeds 0,1,2 --runs runs/pretrain_full/simple_rnn_embedding --out results/pretrain/full_simple_rnn_embedding --pretrained_parts embedding $SRNN
}
lstm_chain() {
  LSTM="--models lstm --embedding_dropout 0.5 --num_epochs 20 --patience 5 --pretrained_lm runs/pretrain_full/lm_lstm $COMMON"
  $T rnn-jax pretrained-start --pretrained_lm runs/pretrain_full/lm_lstm $COMMON --out results/pretrain/start_reach_lstm
  for seeds in 0 0,1; do
    $T python experiments/imdb_table.py --seeds $seeds --runs runs/pretrain_full/lstm_pretrained --out results/pretrain/full_lstm_pretrained --pretrained_parts embedding+rnn $LSTM
  done
}
case "${1:-all}" in
  lm) lm simple_rnn & lm lstm & wait ;;
  srnn) srnn_chain ;;
  lstm) lstm_chain ;;
  all) lm simple_rnn & lm lstm & wait; srnn_chain > runs/pretrain_full/srnn_chain.log 2>&1 & lstm_chain > runs/pretrain_full/lstm_chain.log 2>&1 & wait ;;
esac
