# Sourced by gpu.sh and gpu_atari.sh on a lent GPU machine (the image's python3 with CUDA torch): installs the
# cp312 wheels carried in ${WHEELS:-.whl} (--no-deps) into /tmp/site, maps the package's two folders (pyproject:
# distillhub_cli = cli, distillhub_cards = cards) without an install, and sets W (a scratch folder) and PYTHONPATH.
W=$(mktemp -d)
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_XET=1
if ls "${WHEELS:-.whl}"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "${WHEELS:-.whl}"/*.whl
fi
mkdir -p "$W/pp" && ln -sfn "$PWD/cli" "$W/pp/distillhub_cli" && ln -sfn "$PWD/cards" "$W/pp/distillhub_cards"
export PYTHONPATH=/tmp/site:$PWD:$W/pp
