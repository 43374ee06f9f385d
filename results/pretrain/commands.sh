#!/bin/bash
# Sequential runs of issue 13 (one training process at a time), each under nice -n 15.
cd /work/main && . .venv/bin/activate
T="/usr/bin/time -f %e_wall_s"
COMMON="--data_dir /work/shared/tfds --no-download"
SRNN="--models simple_rnn --embedding_dropout 0.3 --num_epochs 15 --patience 4 --pretrained_lm runs/pretrain/lm_simple_rnn $COMMON"
LSTM="--models lstm --embedding_dropout 0.5 --num_epochs 20 --patience 5 --pretrained_lm runs/pretrain/lm_lstm $COMMON"
while pgrep -f "runs/pretrain/simple_rnn_pretrained --out" >/dev/null; do sleep 5; done
nice -n 15 $T python experiments/imdb_table.py --seeds 0,1,2 --runs runs/pretrain/simple_rnn_control --out results/pretrain/simple_rnn_control --pretrained_parts vocab $SRNN > runs/pretrain/simple_rnn_control.log 2>&1
# A try: the embedding only (the LM's recurrence has spectral radius 2.15).
nice -n 15 $T python experiments/imdb_table.py --seeds 0,1,2 --runs runs/pretrain/simple_rnn_embedding --out results/pretrain/simple_rnn_embedding --pretrained_parts embedding $SRNN > runs/pretrain/simple_rnn_embedding.log 2>&1
nice -n 15 $T python experiments/language_model.py --model lstm --embedding_size 32 --hidden_size 32 --softmax full --num_epochs 1 --context_positions 0 --max_train_tokens 4000000 --data_dir /work/shared/tfds --no_progress --workdir runs/pretrain/lm_lstm > runs/pretrain/lm_lstm.log 2>&1
for seeds in 0 0,1 0,1,2; do
  nice -n 15 $T python experiments/imdb_table.py --seeds $seeds --runs runs/pretrain/lstm_pretrained --out results/pretrain/lstm_pretrained --pretrained_parts embedding+rnn $LSTM >> runs/pretrain/lstm_pretrained.log 2>&1
  nice -n 15 $T python experiments/imdb_table.py --seeds $seeds --runs runs/pretrain/lstm_control --out results/pretrain/lstm_control --pretrained_parts vocab $LSTM >> runs/pretrain/lstm_control.log 2>&1
done
echo chain done
