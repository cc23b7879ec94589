"""The card's plain-PyTorch snippet, executed as written, reproduces distillhub's one step."""

import pytest
import torch

from distillhub.batch import Batch, save_folder
from distillhub.card import render_card
from distillhub.learners import build_learner, reinit_
from distillhub.policy import init_generator, policy_from_batch


def _run_card_snippet(batch: Batch, folder, net: torch.nn.Module) -> torch.nn.Module:
    text = render_card(batch)
    start = text.index("```python", text.index("In plain PyTorch")) + len("```python")
    code = text[start : text.index("```", start)]
    download = 'hf_hub_download("<user>/<repo>", "batch.safetensors", repo_type="dataset")'
    assert download in code and "net = ..." in code
    code = code.replace(download, repr(str(folder / "batch.safetensors"))).replace("net = ...", "net = NET")
    namespace = {"NET": net}
    exec(code, namespace)  # noqa: S102 - our own rendered template
    return namespace["net"]


def _fresh(batch: Batch, seed: int) -> torch.nn.Module:
    net = build_learner(batch.architecture, batch.obs_shape, batch.n_outputs)
    return reinit_(net, batch.init, init_generator(seed))


def _assert_same_params(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_snippet_matches_one_step_with_normalised_observations(tmp_path):
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        observations=torch.randn(5, 4, generator=g) * 3 + 1,
        targets=torch.randn(5, 2, generator=g),
        learning_rate=0.7,
        env_id="CartPole-v1",
        obs_mean=torch.tensor([1.0, 0.5, 0.0, -1.0]),
        obs_std=torch.tensor([3.0, 2.0, 1.0, 0.5]),
    )
    save_folder(batch, tmp_path, render_card(batch))
    by_snippet = _run_card_snippet(batch, tmp_path, _fresh(batch, 11))
    by_distillhub = policy_from_batch(batch, seed=11).learner
    _assert_same_params(by_snippet, by_distillhub)
    assert not torch.equal(by_snippet[0].weight, _fresh(batch, 11)[0].weight)  # it did take a step


def test_snippet_keeps_a_persistent_encoder_fixed(tmp_path):
    g = torch.Generator().manual_seed(1)
    encoder_src = _fresh(Batch(torch.zeros(1, 4, 84, 84), torch.zeros(1, 4), 0.1, "ALE/Breakout-v5",
                               architecture="cnn:nature"), 99)  # fmt: skip
    batch = Batch(
        observations=torch.rand(3, 4, 84, 84, generator=g) * 255,
        targets=torch.randn(3, 4, generator=g),
        learning_rate=0.3,
        env_id="ALE/Breakout-v5",
        architecture="cnn:nature",
        obs_mean=torch.zeros(1),
        obs_std=torch.full((1,), 255.0),
        encoder={k: v.clone() for k, v in encoder_src.state_dict().items() if k.startswith("0.")},
    )
    save_folder(batch, tmp_path, render_card(batch))
    by_snippet = _run_card_snippet(batch, tmp_path, _fresh(batch, 5))
    by_distillhub = policy_from_batch(batch, seed=5).learner
    _assert_same_params(by_snippet, by_distillhub)
    assert torch.equal(by_snippet[0].weight, batch.encoder["0.weight"])


def test_card_records_provenance(cartpole_batch):
    from distillhub.batch import load_folder
    from distillhub.card import render_card

    batch = load_folder(cartpole_batch)
    training = batch.extra["training"]
    assert training["env_spec"]["id"] == "CartPole-v1" and training["env_spec"]["max_episode_steps"] == 500
    assert {"distillhub", "torch", "gymnasium"} <= set(training["versions"])
    card = render_card(batch)
    assert f"torch {training['versions']['torch']}" in card and '"max_episode_steps": 500' in card


@pytest.mark.parametrize(
    ("rule", "settings"),
    [("sgd-ls", {}), ("gn", {}), ("head", {}), ("fit", {}), ("auto", {}), ("auto", {"tolerance": 0.0})],
    ids=["sgd-ls", "gn", "head", "fit", "auto-head", "auto-fit"],
)
def test_snippet_matches_one_step_with_the_scale_free_steps(tmp_path, rule, settings):
    g = torch.Generator().manual_seed(2)
    batch = Batch(
        observations=torch.randn(4, 4, generator=g),
        targets=torch.randn(4, 2, generator=g) * 2,
        learning_rate=1.3 if rule == "sgd-ls" else 0.8,
        env_id="CartPole-v1",
        inner_step=rule,
        step_settings=settings,
    )
    save_folder(batch, tmp_path, render_card(batch))
    assert f"inner_step: {rule}" in (tmp_path / "README.md").read_text()
    by_snippet = _run_card_snippet(batch, tmp_path, _fresh(batch, 3))
    _assert_same_params(by_snippet, policy_from_batch(batch, seed=3).learner)
    plain = _run_card_snippet(Batch(**{**batch.__dict__, "inner_step": "sgd"}), tmp_path, _fresh(batch, 3))
    assert not torch.allclose(plain[-1].weight, by_snippet[-1].weight)  # the rule changed the step
    if rule == "auto":  # the head step where it fits the batch, the fit rule where the tolerance says it does not
        head = policy_from_batch(Batch(**{**batch.__dict__, "inner_step": "head", "step_settings": {}}), seed=3).learner
        assert torch.equal(head[0].weight, by_snippet[0].weight) == ("tolerance" not in settings)
