#!/usr/bin/env bash
# Issue 21, item 3 on one GPU: the whole-corpus language models at E = H = 256 (the commands of
# docs/language_model.md, "Results on the whole corpus") and the state-256 classifiers started from
# them, each beside a control without the start, one seed each, all 20,000 labelled reviews, reading
# the last 500 words:
#
#   LSTM:       language model (2 epochs) -> classifier from its embedding + recurrence;   control
#   Simple RNN: language model (3 epochs) -> classifier from its embedding;                control
#
# Four chains run at once on the one GPU, each stopped by SIGTERM at the deadline (a checkpoint is
# saved; what finished is kept). The controls start at once, so they use the classifier's own
# vocabulary (the 10,000 most frequent words of its 20,000 training reviews), not the language
# model's (the same-vocabulary control of item 2 would have to wait for the language model).
# Prepared on a CPU machine from the H200's measured step times (docs/pretraining.md, "State 256"):
# about 2.3 min of training steps per LSTM classifier at B = 32, scan_unroll 4; the language models'
# GPU time is not measured yet.
#
#   rnn-jax export-imdb --data_dir ../shared/tfds --out .imdb_portable    # here, once: 38 MB, no TFDS needed there
#   bash experiments/gpu_state256.sh OUT                 # on the GPU machine (DATA_DIR defaults to .imdb_portable)
#   SMOKE=1 DATA_DIR=<tiny copy> bash experiments/gpu_state256.sh /tmp/s256   # a minute on a CPU: tiny settings
#
# On the project's lent H200 (its image lacks tyro, which travels as a wheel in the ignored .whl/):
# run(carry=[".imdb_portable", ".whl"], timeout_s=600, command=
#   'python -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export
#    PYTHONPATH=/tmp/site || exit 1; BUDGET_S=530 bash experiments/gpu_state256.sh "$OUT"').
# The working tree and the copy together are about 61 MB of the 64 MiB a call carries. Writes OUT/summary.md
# (each run's test accuracy or perplexity, its minutes, and how it ended), OUT/logs.tar (every log) and
# OUT/results.tar (each run's config.json, results.json, metrics.jsonl and table; no parameters) and
# OUT/lm_<model>.tar (each finished language model, parameters included, for later studies).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-/tmp/state256}}"
DATA="${DATA_DIR:-.imdb_portable}"
R="${RUNS_DIR:-/tmp/state256_runs}"
BUDGET="${BUDGET_S:-540}"  # seconds from the start to the last SIGTERM
mkdir -p "$OUT_DIR" "$R/logs"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
DEADLINE=$(( $(date +%s) + BUDGET ))

COMMON=(--data_dir "$DATA" --no_download)
if [ -n "${SMOKE:-}" ]; then  # tiny settings: the plumbing in a minute on a CPU
  SIZE=(--embedding_size 16 --hidden_size 16)
  LM_EXTRA=(--vocab_size 40 --num_validation 5 --num_test 5 --batch_size 4 --window 8 --max_train_reviews 40
    --cutoffs 10 20)
  CLS_EXTRA=(--num_validation 10 --max_train_examples 30 --max_eval_examples 10 --seq_len 20 --batch_size 8
    --vocab_size 40)
  LM_EPOCHS=(1 1); CLS_EPOCHS=(1 1)
else
  SIZE=(--embedding_size 256 --hidden_size 256)
  LM_EXTRA=(--checkpoint_every_steps 2000)
  CLS_EXTRA=(--scan_unroll 4)
  LM_EPOCHS=(2 3); CLS_EPOCHS=(20 15)  # lstm, simple_rnn: as docs/language_model.md and the state-32 runs
fi

left() { echo $(( DEADLINE - $(date +%s) > 5 ? DEADLINE - $(date +%s) : 5 )); }
timed() {  # timed NAME CMD...: runs CMD until the deadline, logs it, notes its minutes and exit status
  local name=$1 start=$SECONDS status; shift
  timeout -s TERM -k 30 "$(left)" "$@" > "$R/logs/$name.log" 2>&1
  status=$?
  echo "$name $(( SECONDS - start )) $status" >> "$R/logs/times.txt"
  return $status
}
lm() {  # lm MODEL EPOCHS
  timed "lm_$1" python experiments/language_model.py --model "$1" --num_epochs "$2" --softmax adaptive \
    --context_positions 0 --no_progress "${SIZE[@]}" "${LM_EXTRA[@]}" "${COMMON[@]}" --workdir "$R/lm_$1"
}
classifier() {  # classifier MODEL NAME EPOCHS PATIENCE DROPOUT [FLAGS...]: one seed
  local model=$1 name=$2 epochs=$3 patience=$4 dropout=$5; shift 5
  timed "${model}_$name" python experiments/imdb_table.py --models "$model" --seeds 0 --num_epochs "$epochs" \
    --patience "$patience" --embedding_dropout "$dropout" "$@" "${SIZE[@]}" "${CLS_EXTRA[@]}" "${COMMON[@]}" \
    --runs "$R/${model}_$name" --out "$R/table_${model}_$name"
}
start() {  # start MODEL PARTS EPOCHS PATIENCE DROPOUT: from the language model in $R/lm_MODEL
  local model=$1 parts=$2; shift 2
  classifier "$model" start "$@" --pretrained_lm "$R/lm_$model" --pretrained_parts "$parts"
}

for model in ${MODELS:-lstm simple_rnn}; do  # MODELS="lstm": the LSTM's two chains only
  if [ "$model" = lstm ]; then
    ( lm lstm "${LM_EPOCHS[0]}" && start lstm embedding+rnn "${CLS_EPOCHS[0]}" 5 0.5 ) &
    classifier lstm control "${CLS_EPOCHS[0]}" 5 0.5 &
  else
    ( lm simple_rnn "${LM_EPOCHS[1]}" && start simple_rnn embedding "${CLS_EPOCHS[1]}" 4 0.3 ) &
    classifier simple_rnn control "${CLS_EPOCHS[1]}" 4 0.3 &
  fi
done
wait

python - "$R" "$OUT_DIR/summary.md" <<'EOF'
"""One table of what finished: test accuracy (classifiers) or perplexity (language models)."""
import json, sys
from pathlib import Path

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
times = {}
for line in (runs / "logs" / "times.txt").read_text().splitlines():
    name, seconds, status = line.split()
    times[name] = (int(seconds), int(status))
rows = ["| run | result | minutes | exit status |", "| --- | --- | ---: | ---: |"]
for name, (seconds, status) in sorted(times.items()):
    result = "-"
    if name.startswith("lm_") and (runs / name / "results.json").exists():
        r = json.loads((runs / name / "results.json").read_text())
        result = f"test perplexity {r['test_perplexity']:.2f}"
    elif (runs / f"table_{name}" / "table.md").exists():  # the row's "test accuracy" cell
        result = (runs / f"table_{name}" / "table.md").read_text().splitlines()[2].split("|")[2].strip()
    rows.append(f"| {name} | {result} | {seconds / 60:.1f} | {status} |")
out.write_text("\n".join(rows) + "\n")
print(out.read_text())
EOF
tar cf "$OUT_DIR/logs.tar" -C "$R" logs
(cd "$R" && find . -maxdepth 3 \( -name config.json -o -name results.json -o -name table.md -o -name table.json \
  -o -name metrics.jsonl \) -print0 \
  | tar cf "$OUT_DIR/results.tar" --null -T -)
for model in lstm simple_rnn; do  # the language models' parameters (about 15 MB each), for later studies
  [ -d "$R/lm_$model/best_params" ] && tar cf "$OUT_DIR/lm_$model.tar" -C "$R" \
    "lm_$model/best_params" "lm_$model/config.json" "lm_$model/vocab.json" "lm_$model/results.json"
done
ls -la "$OUT_DIR"
