"""Pictures of a batch (real matplotlib PNGs)."""

import pytest
import torch
from PIL import Image

from distillhub.batch import Batch
from distillhub.plots import MANY_SAMPLES, plot_samples


def _size(path):
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize(
    "n, obs_dim, n_out, continuous",
    [(256, 4, 2, False), (MANY_SAMPLES + 1, 11, 3, True), (100, 1, 2, False)],
)
def test_many_vector_samples_make_one_landscape_picture(tmp_path, n, obs_dim, n_out, continuous):
    """A 256-sample batch (the default CartPole-v1 batch) is a heatmap sorted by target beside a scatter, not a strip
    with one row per sample."""
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        observations=torch.randn(n, obs_dim, generator=g), targets=torch.randn(n, n_out, generator=g), learning_rate=1.0,
        env_id="Hopper-v5" if continuous else "CartPole-v1", action_space="continuous" if continuous else "discrete",
        log_std=torch.zeros(n_out) if continuous else None,
    )  # fmt: skip
    width, height = _size(plot_samples(batch, tmp_path / "s.png"))
    assert width > height and height < 700, (width, height)


def test_few_vector_samples_get_a_row_each(tmp_path):
    g = torch.Generator().manual_seed(0)
    sizes = []
    for n in (2, MANY_SAMPLES):
        batch = Batch(observations=torch.randn(n, 4, generator=g), targets=torch.randn(n, 2, generator=g),
                      learning_rate=0.1, env_id="CartPole-v1")  # fmt: skip
        sizes.append(_size(plot_samples(batch, tmp_path / f"s{n}.png"))[1])
    assert sizes[1] > sizes[0] + 200  # the height grows with the rows
