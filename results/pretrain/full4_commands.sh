#!/bin/bash
# Issue 21, second round (2026-12-04): the whole-corpus language models of full_commands.sh trained for
# 4 epochs instead of 2 (both were still improving at epoch 2), then the classifiers started from them.
# Same settings otherwise; two chains side by side on the 2 cores, each line timed, nice'd.
cd "$(dirname "$0")/../.." && . .venv/bin/activate
T="/usr/bin/time -f %e_wall_s"
R=runs/pretrain_full4
COMMON="--data_dir /work/shared/tfds --no_download"
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
mkdir -p $R
lm() {  # the language models (run first, both at once)
  $T python experiments/language_model.py --model $1 --embedding_size 32 --hidden_size 32 --softmax adaptive \
    --num_epochs 4 --patience 1 --context_positions 0 --data_dir /work/shared/tfds --no_download \
    --workdir $R/lm_$1 > $R/lm_$1.log 2>&1
}
SRNN="--models simple_rnn --embedding_dropout 0.3 --num_epochs 15 --patience 4 --pretrained_lm $R/lm_simple_rnn $COMMON"
LSTM="--models lstm --embedding_dropout 0.5 --num_epochs 20 --patience 5 --pretrained_lm $R/lm_lstm $COMMON"
srnn_reach() { $T rnn-jax pretrained-start --pretrained_lm $R/lm_simple_rnn --radii 1.0,0.5 --input_scales 0.5,0.25 --orthogonal $COMMON --out results/pretrain/full4_start_reach_simple_rnn; }
lstm_reach() { $T rnn-jax pretrained-start --pretrained_lm $R/lm_lstm $COMMON --out results/pretrain/full4_start_reach_lstm; }
srnn() {  # srnn <name> <extra flags...>: 3 seeds, all 20,000 labelled reviews
  name=$1; shift
  $T python experiments/imdb_table.py --seeds 0,1,2 --runs $R/simple_rnn_$name --out results/pretrain/full4_simple_rnn_$name $SRNN "$@"
}
lstm_seed() {  # lstm_seed <seeds>: the LSTM from the LM (embedding + recurrence); seeds run in separate processes share one runs dir
  $T python experiments/imdb_table.py --seeds $1 --runs $R/lstm_pretrained --out $R/lstm_pretrained_table_$1 --pretrained_parts embedding+rnn $LSTM
}
lstm_control_seed() {  # the LSTM control's seeds 1 and 2 (seed 0: results/pretrain/lstm_control), one process each
  $T python experiments/imdb_table.py --seeds $1 --runs $R/lstm_control --out $R/lstm_control_table_$1 --pretrained_parts vocab $LSTM
}
lstm_control_table() {
  $T python experiments/imdb_table.py --seeds 1,2 --runs $R/lstm_control --out results/pretrain/full4_lstm_control --pretrained_parts vocab $LSTM
}
lstm_table() {  # the 3-seed table from the finished seed runs (reused, not retrained)
  $T python experiments/imdb_table.py --seeds 0,1,2 --runs $R/lstm_pretrained --out results/pretrain/full4_lstm_pretrained --pretrained_parts embedding+rnn $LSTM
}
curve() {  # curve SIZES NAME FLAGS...: item 4, the Simple RNN's best start of item 2 at SIZES (e.g. 500,1000)
  # labelled reviews, with curve_commands.sh's epochs and patience; its controls are reused (the same vocabulary)
  sizes=$1; name=$2; shift 2
  for n in ${sizes//,/ }; do
    e=$(( 300000 / n )); [ $e -gt 50 ] && e=50; p=$(( (4 * e + 14) / 15 ))
    $T python experiments/imdb_table.py --models simple_rnn --seeds 0,1,2 --max_train_examples $n --embedding_dropout 0.3 \
      --num_epochs $e --patience $p --pretrained_lm $R/lm_simple_rnn $COMMON \
      --runs $R/curve/simple_rnn_${name}_$n --out results/pretrain/full4_curve/simple_rnn_${name}_$n "$@"
  done
}
lstm_curve() {  # item 4 for the LSTM (2026-12-04): its best start of item 2, embedding + recurrence of the 4-epoch
  # LM, at 500 to 5,000 labelled reviews; seed 0 and the epochs of curve_commands.sh's LSTM points, whose
  # controls are reused (the same vocabulary)
  for n in 500 1000 2000 5000; do
    e=$(( 400000 / n )); [ $e -gt 30 ] && e=30; p=$(( (5 * e + 19) / 20 ))
    $T python experiments/imdb_table.py --models lstm --seeds 0 --max_train_examples $n --embedding_dropout 0.5 \
      --num_epochs $e --patience $p --pretrained_lm $R/lm_lstm --pretrained_parts embedding+rnn $COMMON \
      --runs $R/curve/lstm_embedding+rnn_$n --out results/pretrain/full4_curve/lstm_embedding+rnn_$n
  done
}
lstm_budget() {  # the LSTM at 2,000 labels with 3 times the epochs (90, patience 23), start and control: does
  # the start lose at small n by learning slower (best epochs at the 30-epoch cap) or for good?
  for start in embedding+rnn vocab; do
    $T python experiments/imdb_table.py --models lstm --seeds 0 --max_train_examples 2000 --embedding_dropout 0.5 \
      --num_epochs 90 --patience 23 --pretrained_lm $R/lm_lstm --pretrained_parts $start $COMMON \
      --runs $R/lstm_budget/lstm_${start}_2000 --out results/pretrain/full4_lstm_budget/lstm_${start}_2000_e90
  done
}
label_curve() {  # today's curve (curve_commands.sh) beside the whole-corpus start, one PNG
  python experiments/label_curve.py --tables results/pretrain/curve/* results/pretrain/simple_rnn_control \
    results/pretrain/simple_rnn_embedding results/pretrain/lstm_control results/pretrain/lstm_pretrained \
    results/pretrain/full4_curve/* results/pretrain/full4_simple_rnn_embedding results/pretrain/full4_lstm_pretrained \
    --lm_labels "runs/pretrain/lm_simple_rnn=LM of 4M tokens" "runs/pretrain/lm_lstm=LM of 4M tokens" \
    "$R/lm_simple_rnn=whole-corpus LM, 4 epochs" "$R/lm_lstm=whole-corpus LM, 4 epochs" \
    --out results/pretrain/full4_label_curve --command "results/pretrain/curve_commands.sh; results/pretrain/full4_commands.sh"
}
chain_lstm() { for seed in 0 1 2; do lstm_seed $seed; done; lstm_table; }
chain_srnn() {
  srnn_reach; lstm_reach
  srnn embedding --pretrained_parts embedding
  srnn embedding_freeze2 --pretrained_parts embedding --freeze_embedding_epochs 2
  srnn embedding_lr0.1 --pretrained_parts embedding --pretrained_lr_scale 0.1
  # (a radius-1 run was started here and stopped: the reach table showed the polar factor of chain_srnn2
  # to be the better rescaled recurrence, and the 2-epoch round had measured radius 1 already)
}
chain_srnn2() {  # after the reach table: the pretrained recurrence with the longest reach and < 1 % saturated units
  srnn orthogonal_input0.5 --pretrained_parts embedding+rnn --pretrained_orthogonal --pretrained_input_scale 0.5
  curve 500,1000,2000,5000 embedding --pretrained_parts embedding
}
case "$1" in
  lm) lm simple_rnn & lm lstm & wait ;;
  srnn_reach|lstm_reach|lstm_table|lstm_control_table|label_curve) $1 ;;
  lstm_controls) lstm_control_seed 1 > $R/control1.log 2>&1 & lstm_control_seed 2 > $R/control2.log 2>&1 & wait; lstm_control_table ;;
  srnn2) chain_srnn2 > $R/chain_srnn2.log 2>&1 ;;
  lstm_curve) lstm_curve > $R/lstm_curve.log 2>&1 ;;
  lstm_budget) lstm_budget > $R/lstm_budget.log 2>&1 ;;
  classifiers) chain_lstm > $R/chain_lstm.log 2>&1 & chain_srnn > $R/chain_srnn.log 2>&1 & wait ;;
  curve) shift; curve "$@" ;;
  srnn) shift; srnn "$@" ;;
  lstm_seed) lstm_seed "$2" ;;
  *) echo "usage: $0 lm | classifiers | srnn2 | lstm_controls | srnn_reach | lstm_reach | srnn NAME FLAGS... | lstm_seed SEEDS | lstm_table | curve SIZES NAME FLAGS... | label_curve" >&2; exit 2 ;;
esac
