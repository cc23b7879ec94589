"""A replay of one greedy episode of the one-step policy: ``replay.mp4`` and a small ``replay.gif``.

Rendering needs the env's ``rgb_array`` mode (pygame for classic control, an OpenGL backend for
MuJoCo) and the video needs ``imageio[ffmpeg]``; when either is missing the caller gets a
:class:`DistillhubError` it can turn into a warning; a replay never costs a batch.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from distillhub.batch import Batch, atomic_write
from distillhub.errors import DistillhubError

VIDEO_FILE = "replay.mp4"
GIF_FILE = "replay.gif"


def record_replay(
    batch: Batch,
    folder: str | Path,
    *,
    seed: int = 0,
    max_frames: int = 1000,
    fps: int = 30,
    allow_import: bool = False,
) -> tuple[Path, Path]:
    """Play one greedy episode of a fresh init after the one step and save it as MP4 and GIF.

    Args:
        batch: The batch; the learner is the recorded one with an init never used in training.
        folder: Where ``replay.mp4`` and ``replay.gif`` go (written atomically).
        seed: Seeds the init and the episode.
        max_frames: Cap on the episode's length in the video.
        fps: Frames per second of the MP4.
        allow_import: Let a ``module:EnvId`` env id import its module.

    Returns:
        The paths of the MP4 and the GIF.

    Raises:
        DistillhubError: The env cannot render, or no video encoder is installed.
    """
    import os

    from distillhub.envs import make_env
    from distillhub.policy import EVAL_SEED_OFFSET, policy_from_batch

    # pygame (classic control) renders off-screen without a display or sound device
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

    try:
        import imageio.v2 as imageio
    except ImportError:
        raise DistillhubError("replays need imageio: pip install 'imageio[ffmpeg]'") from None
    policy = policy_from_batch(batch, seed=EVAL_SEED_OFFSET + 999_999 - seed, allow_import=allow_import)
    try:
        env = make_env(batch.env_id, batch.env_kwargs, render_mode="rgb_array", allow_import=allow_import)
    except DistillhubError as e:
        raise DistillhubError(f"{batch.env_id} cannot render a replay ({e})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # renderer back-ends warn on their way to an error we report
            frames = _play(env, policy, seed, max_frames)
    except DistillhubError:
        raise
    except Exception as e:  # a missing pygame / OpenGL backend surfaces here
        first = str(e).splitlines()[0] if str(e) else ""
        raise DistillhubError(f"{batch.env_id} cannot render ({type(e).__name__}: {first})") from None
    finally:
        env.close()
    folder = Path(folder)
    video, gif = folder / VIDEO_FILE, folder / GIF_FILE
    try:
        with atomic_write(video, suffix=".tmp.mp4") as tmp:
            imageio.mimwrite(tmp, frames, format="FFMPEG", fps=fps, codec="libx264", macro_block_size=2)
    except Exception as e:  # no ffmpeg binary, codec missing
        raise DistillhubError(f"no video encoder for the replay ({type(e).__name__}); pip install 'imageio[ffmpeg]'") from None
    # a small GIF the Hub's card renders inline: every 2nd frame, half size, at most 300 frames
    small = [f[::2, ::2] for f in frames[::2][:300]]
    with atomic_write(gif, suffix=".tmp.gif") as tmp:
        imageio.mimwrite(tmp, small, format="GIF", duration=2 * 1000 / fps, loop=0)
    return video, gif


def _play(env, policy, seed: int, max_frames: int) -> list[np.ndarray]:
    frames = []
    obs, _ = env.reset(seed=seed)
    for _ in range(max_frames):
        frame = env.render()
        if frame is None:
            raise DistillhubError(f"{env.spec.id if env.spec else 'the env'} renders no rgb_array frames")
        frames.append(np.asarray(frame, dtype=np.uint8))
        obs, _, terminated, truncated, _ = env.step(policy.act(obs))
        if terminated or truncated:
            break
    return frames
