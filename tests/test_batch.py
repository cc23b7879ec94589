import json

import datasets
import numpy as np
import pytest
import torch

from distillhub.batch import (
    PARQUET_FILE,
    SAFETENSORS_FILE,
    Batch,
    load_folder,
    load_safetensors,
    save_folder,
)
from distillhub.card import read_card_block, render_card
from distillhub.errors import DistillhubError
from distillhub.validate import validate_folder


def _batch(**kw):
    g = torch.Generator().manual_seed(0)
    defaults = dict(
        observations=torch.randn(3, 4, generator=g),
        targets=torch.randn(3, 2, generator=g),
        learning_rate=0.25,
        env_id="CartPole-v1",
    )
    defaults.update(kw)
    return Batch(**defaults)


def test_safetensors_roundtrip_with_metadata(tmp_path):
    b = _batch(obs_mean=torch.zeros(4), obs_std=torch.ones(4) * 2, extra={"eval": {"mean": 1.0}})
    save_folder(b, tmp_path, render_card(b))
    loaded = load_folder(tmp_path)
    assert torch.equal(loaded.observations, b.observations)
    assert torch.equal(loaded.targets, b.targets)
    assert loaded.learning_rate == pytest.approx(0.25)
    assert torch.equal(loaded.obs_std, b.obs_std)
    assert loaded.extra["eval"] == {"mean": 1.0}
    from safetensors import safe_open

    with safe_open(str(tmp_path / SAFETENSORS_FILE), "pt") as f:
        md = f.metadata()
        assert f.get_tensor("learning_rate").shape == ()
        assert f.get_tensor("observations").dtype == torch.float32
    assert md["format"] == "distillhub/v1"
    assert md["inner_loss"] == "mse" and md["action_space"] == "discrete"
    assert json.loads(md["env_kwargs"]) == {}
    assert not list(tmp_path.rglob("*.tmp"))  # no temp files left behind


def test_parquet_rows_equal_safetensors_bit_for_bit(tmp_path):
    b = _batch(observations=torch.randn(5, 4) * 1e-3 + 1 / 3, targets=torch.randn(5, 2))
    save_folder(b, tmp_path, render_card(b))
    rows = datasets.load_dataset(str(tmp_path), split="train")
    assert rows.column_names == ["observation", "target", "index"]
    obs = torch.tensor(np.array(rows["observation"], dtype=np.float32))
    assert torch.equal(obs, b.observations)
    assert torch.equal(torch.tensor(np.array(rows["target"], dtype=np.float32)), b.targets)
    assert rows["index"] == list(range(5))
    validate_folder(tmp_path)


def test_image_observations_keep_their_shape_in_parquet(tmp_path):
    b = _batch(observations=torch.rand(2, 4, 84, 84), targets=torch.randn(2, 6), env_id="ALE/Pong-v5")
    save_folder(b, tmp_path, render_card(b))
    rows = datasets.load_dataset(str(tmp_path), split="train").with_format("numpy")
    assert rows[0]["observation"].shape == (4, 84, 84)
    assert np.array_equal(rows[1]["observation"], b.observations[1].numpy())


def test_rows_are_written_and_read_without_datasets_dill_fingerprint(tmp_path, monkeypatch):
    # datasets fingerprints an in-memory table by pickling it with dill, which failed on a GPU image
    # (pyarrow 26, Python 3.12.3: "Can't pickle <class 'MonthDayNano'>") and lost a distillation's final
    # write; a batch's rows must never depend on it
    import datasets.arrow_dataset

    def refuse(*args, **kwargs):
        raise AssertionError("datasets' dill fingerprint was used")

    monkeypatch.setattr(datasets.arrow_dataset, "generate_fingerprint", refuse)
    b = _batch(observations=torch.rand(2, 4, 84, 84) * 255, targets=torch.randn(2, 6), env_id="ALE/Pong-v5")
    save_folder(b, tmp_path, render_card(b))
    validate_folder(tmp_path)  # reads the parquet rows back and checks them against the safetensors
    assert torch.equal(load_folder(tmp_path).observations, b.observations)
    monkeypatch.undo()
    rows = datasets.load_dataset(str(tmp_path), split="train").with_format("numpy")
    assert np.array_equal(rows[1]["observation"], b.observations[1].numpy())
    assert rows.features["preview"] == datasets.Image()


def test_card_has_front_matter_block_and_snippet(tmp_path):
    b = _batch()
    text = render_card(b, "someone/cartpole")
    block = read_card_block(text)
    assert block["env_id"] == "CartPole-v1" and block["num_samples"] == 3
    assert block["learning_rate"] == pytest.approx(0.25)
    assert "configs:" in text and "data/train-*.parquet" in text
    assert "dataset-distillation" in text and "reinforcement-learning" in text
    assert 'hf_hub_download("someone/cartpole"' in text
    assert "2508.09283" in text


def test_validation_rejects_bad_batches(tmp_path):
    with pytest.raises(DistillhubError, match="learning_rate"):
        _batch(learning_rate=-1.0).validate()
    with pytest.raises(DistillhubError, match="targets"):
        _batch(targets=torch.zeros(2, 2)).validate()
    with pytest.raises(DistillhubError, match="log_std"):
        _batch(action_space="continuous").validate()
    with pytest.raises(DistillhubError, match="NaN"):
        _batch(targets=torch.full((3, 2), float("nan"))).validate()


def test_corrupt_and_mismatched_folders_are_refused(tmp_path):
    b = _batch()
    save_folder(b, tmp_path, render_card(b))
    # parquet no longer matching the tensors
    other = _batch(targets=torch.zeros(3, 2))
    from distillhub.batch import save_parquet

    save_parquet(other, tmp_path / PARQUET_FILE)
    with pytest.raises(DistillhubError, match="does not match"):
        validate_folder(tmp_path)
    # a truncated safetensors file
    data = (tmp_path / SAFETENSORS_FILE).read_bytes()
    (tmp_path / SAFETENSORS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(DistillhubError, match="not a readable safetensors file"):
        load_safetensors(tmp_path / SAFETENSORS_FILE)


def test_format_versions(tmp_path):
    import warnings as _w

    from safetensors import safe_open
    from safetensors.torch import save_file

    folder = tmp_path / "v"
    save_folder(_batch(), folder)
    path = folder / SAFETENSORS_FILE

    def with_format(fmt):
        with safe_open(str(path), framework="pt") as f:
            md, t = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
        md["format"] = fmt
        save_file(t, str(path), metadata=md)

    with_format("distillhub/v1.3")  # a newer minor version: loads, with a warning
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        assert load_folder(folder).num_samples == 3
    assert any("newer than this distillhub" in str(w.message) for w in caught)
    for bad in ("distillhub/v2", "distillhub/v2.0", "other/v1", ""):
        with_format(bad)
        with pytest.raises(DistillhubError, match="upgrade distillhub or re-distill"):
            load_folder(folder)
