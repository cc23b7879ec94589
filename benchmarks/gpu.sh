#!/usr/bin/env bash
# GPU measurements in one short run on a lent GPU machine (the image's python3 with CUDA torch).
#
#   OUT=gpu_out bash benchmarks/gpu.sh        # ~7 min: throughput table, Breakout profile, Pong + Breakout
#
# What such an image lacks travels as cp312 wheels in .whl/ (installed with --no-deps): gymnasium,
# farama-notifications, mujoco, mujoco-core, glfw, pyopengl, ale-py, datasets, dill, multiprocess. envpool's wheels
# (115 MB with its assets) do not fit a 64 MiB transfer, so MuJoCo runs on gymnasium's vector envs there.
# Writes to $OUT: info.txt, speed.md (benchmarks/gpu_speed.py), profile_breakout.md, pong.log, breakout.log and
# each batch folder without its checkpoint as pong.tgz / breakout.tgz (card, batch, pictures).
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
# MUJOCO_GL=egl (set by some CUDA images) makes `import mujoco` fail where no EGL library is installed
export MUJOCO_GL=glfw
source benchmarks/gpu_env.sh
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import torch, gymnasium, mujoco, ale_py, datasets; print('torch', torch.__version__)"
} >"$OUT/info.txt" 2>&1

(cd benchmarks && python3 gpu_speed.py --time 12) >"$OUT/speed.md" 2>&1
(cd benchmarks && timeout 110 python3 profile_distill.py ALE/Breakout-v5 --device cuda --iterations 8 \
    --set num_envs=64 population=8) >"$OUT/profile_breakout.md" 2>&1

# Pong and Breakout side by side on the one GPU (16 cores: 64 envs each, population 8)
for game in Pong Breakout; do
    lower=$(echo $game | tr A-Z a-z)
    timeout $((${ATARI_TIME:-210} + 150)) python3 -m distillhub distill --quiet --no-video --env ALE/$game-v5 \
        --device cuda --out "$W/$lower" --time-limit ${ATARI_TIME:-210} --num-envs 64 --population 8 --eval-inits 10 \
        --seed 0 >"$OUT/$lower.log" 2>&1 &
done
wait
for game in pong breakout; do
    [ -d "$W/$game" ] && tar -czf "$OUT/$game.tgz" --exclude=.distillhub -C "$W" "$game"
done
cat "$OUT/speed.md"; grep -h "Wrote\|Error" "$OUT"/*.log
