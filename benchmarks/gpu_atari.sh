#!/usr/bin/env bash
# Pong and Breakout distillations side by side on one lent GPU machine (the image's python3 with CUDA torch),
# each with the teacher hand-off recipe (a PPO teacher on 90 % of the budget, its whole Nature-CNN torso kept
# as the persistent encoder, 128 of its frames labelled with its logits, the head step).
#
#   OUT=gpu_out ATARI_TIME=400 bash benchmarks/gpu_atari.sh     # ~9.5 min on one H200 (16 cores)
#
# A 20-second smoke run first (CUDA, the carried wheels, the card and parquet writes) stops the script within a
# minute if anything is missing, so a second try still fits the session's device time.
# What the image lacks travels as cp312 wheels in .whl/ (installed with --no-deps): gymnasium,
# farama-notifications, ale-py, datasets, dill, multiprocess, pyarrow (datasets needs >= 24).
# Writes to $OUT: info.txt, smoke.log, pong.log, breakout.log and each batch folder's card, batch and pictures as
# <game>.tgz split into 15 MB parts (<game>.tgz.aa, .ab; `cat pong.tgz.* | tar -xz` joins them). The parquet
# rows are left out (they repeat batch.safetensors): `distillhub card`/`save_folder` rewrites them.
set -u
OUT=${OUT:-gpu_out}
T=${ATARI_TIME:-400}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
source benchmarks/gpu_env.sh
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    nproc
    python3 -c "import torch, gymnasium, ale_py, datasets, pyarrow; print('torch', torch.__version__, torch.cuda.is_available(), 'gymnasium', gymnasium.__version__, 'ale_py', ale_py.__version__, 'datasets', datasets.__version__, 'pyarrow', pyarrow.__version__)"
} >"$OUT/info.txt" 2>&1
cat "$OUT/info.txt"

recipe=(--samples 128 --inner-step head --encoder-layers 4 --num-envs 64 --population 4 --rollout-steps 32
    --set x_init=teacher --set teacher_fraction=0.9 --set teacher_lr=2.5e-4 --set encoder_lr=2.5e-4
    --set clip_coef=0.1 --set eval_every=20)

# smoke: the whole path (teacher, hand-off, meta-PPO, evaluation, card, parquet) in ~40 s
timeout 100 python3 -m distillhub distill --quiet --no-video --env ALE/Breakout-v5 --device "$DEVICE" --out "$W/smoke" \
    --time-limit 15 "${recipe[@]}" --set eval_inits=2 --eval-inits 2 --eval-episodes 1 >"$OUT/smoke.log" 2>&1
if ! grep -q "^Wrote" "$OUT/smoke.log" || [ ! -f "$W/smoke/README.md" ]; then
    echo "smoke run failed:"; tail -30 "$OUT/smoke.log"; exit 1
fi
echo "smoke ok: $(grep '^Wrote' "$OUT/smoke.log")"

for game in Pong Breakout; do
    lower=$(echo $game | tr A-Z a-z)
    timeout $((T + 130)) python3 -m distillhub distill --quiet --no-video --env ALE/$game-v5 --device "$DEVICE" \
        --out "$W/$lower" --time-limit "$T" "${recipe[@]}" --set eval_inits=8 --eval-inits 10 --eval-episodes 1 --seed 0 \
        >"$OUT/$lower.log" 2>&1 &
done
wait
for game in pong breakout; do
    if [ -f "$W/$game/README.md" ]; then
        (cd "$W" && tar -cz "$game/README.md" "$game/batch.safetensors" "$game"/*.png) | split -b 15M - "$OUT/$game.tgz."
    fi
    tail -15 "$OUT/$game.log"
done
