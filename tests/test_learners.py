import pytest
import torch
from torch.func import functional_call, vmap

from distillhub.errors import DistillhubError
from distillhub.learners import build_learner, fresh_params, population_forward, reinit_


def test_mlp_spec_builds_expected_layers():
    net = build_learner("mlp:32-16:relu", (4,), 3)
    shapes = [tuple(p.shape) for p in net.parameters()]
    assert shapes == [(32, 4), (32,), (16, 32), (16,), (3, 16), (3,)]
    assert isinstance(net[1], torch.nn.ReLU)
    assert build_learner("mlp::tanh", (4,), 2)(torch.zeros(1, 4)).shape == (1, 2)


def test_cnn_nature_shapes():
    net = build_learner("cnn:nature", (4, 84, 84), 6)
    assert net(torch.zeros(2, 4, 84, 84)).shape == (2, 6)


@pytest.mark.parametrize("spec", ["mlp:64-64", "mlp:a-b:tanh", "mlp:64:sigmoid", "transformer:big", "mlp:0:tanh"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(DistillhubError):
        build_learner(spec, (4,), 2)


def test_orthogonal_init_is_seeded_and_output_gain_small():
    net = build_learner("mlp:64-64:tanh", (4,), 2)
    reinit_(net, "orthogonal:0.01", torch.Generator().manual_seed(0))
    w1 = net[0].weight.clone()
    out = net(torch.randn(100, 4))
    assert out.abs().max() < 0.2  # near-zero outputs: one step decides the policy
    reinit_(net, "orthogonal:0.01", torch.Generator().manual_seed(0))
    assert torch.equal(w1, net[0].weight)
    reinit_(net, "torch-default", torch.Generator().manual_seed(0))
    assert not torch.equal(w1, net[0].weight)
    for bad in ("glorot", "orthogonal:inf", "orthogonal:nan", "orthogonal:-1", "orthogonal:0"):
        with pytest.raises(DistillhubError):
            reinit_(net, bad, None)


def test_population_forward_matches_vmap():
    net = build_learner("mlp:8-8:tanh", (3,), 2)
    params = fresh_params(net, "orthogonal:1.0", torch.Generator().manual_seed(0), 4)
    obs = torch.randn(4, 5, 3)
    expected = vmap(lambda p, o: functional_call(net, p, (o,)))(params, obs)
    torch.testing.assert_close(population_forward(net, params, obs), expected)
    assert not torch.equal(params["0.weight"][0], params["0.weight"][1])  # independent inits


# ----------------------------------------------------------------------------- families, inits, distributions

import json  # noqa: E402

from typer.testing import CliRunner  # noqa: E402

from distillhub.batch import Batch, load_folder  # noqa: E402
from distillhub.loader import load_policy  # noqa: E402
from distillhub.onestep import one_step, step_params, step_population  # noqa: E402
from distillhub.population import (  # noqa: E402
    HELD_OUT_VECTOR,
    ZOO_IMAGE,
    ZOO_VECTOR,
    Learner,
    Population,
    parse_learners,
)
from distillhub_cli.app import app  # noqa: E402

FAMILIES = sorted({lr.arch for lr in ZOO_VECTOR + HELD_OUT_VECTOR})
INITS = ["orthogonal:0.01", "xavier", "kaiming", "torch-default"]


@pytest.mark.parametrize("spec", FAMILIES)
@pytest.mark.parametrize("init", INITS)
def test_every_family_and_init_rebuilds_from_its_spec_and_steps(spec, init):
    """Same spec + init + seed -> the same learner; the shared rule steps it as autograd does by hand."""
    a, b = build_learner(spec, (4,), 2), build_learner(spec, (4,), 2)
    reinit_(a, init, torch.Generator().manual_seed(5))
    reinit_(b, init, torch.Generator().manual_seed(5))
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(p, q), n
    reinit_(b, init, torch.Generator().manual_seed(6))
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    x, y = torch.randn(5, 4), torch.randn(5, 2)
    batch = Batch(observations=x, targets=y, learning_rate=0.3, env_id="CartPole-v1")
    stepped = one_step(a, batch)
    # the same step by hand with autograd
    loss = torch.nn.functional.mse_loss(a(x), y)
    grads = torch.autograd.grad(loss, list(a.parameters()))
    for p1, p0, g in zip(stepped.parameters(), a.parameters(), grads, strict=True):
        torch.testing.assert_close(p1, p0 - 0.3 * g, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", ["cnn:nature", "cnn:small"])
def test_cnn_families(spec):
    for shape in ([4, 84, 84], [4, 10, 10]) if spec == "cnn:small" else ([4, 84, 84],):
        net = build_learner(spec, tuple(shape), 6)
        reinit_(net, "kaiming", torch.Generator().manual_seed(0))
        assert net(torch.zeros(2, *shape)).shape == (2, 6)


def test_mixed_population_steps_each_draw_like_stepping_it_alone():
    """A population mixing learners gives, per draw, the θ1 of that draw stepped alone (float64)."""
    torch.set_default_dtype(torch.float64)
    try:
        learners = [Learner("mlp:16-16:relu", "kaiming"), Learner("transformer:8-1-2", "torch-default"),
                    Learner("mlp:8:gelu:ln", "xavier")]  # fmt: skip
        pop = Population(learners, (3,), 2, torch.device("cpu"))
        draw = pop.draw(7, torch.Generator().manual_seed(0))
        assert sum(draw.sizes) == 7 and {i for i, _ in draw.groups} == {0, 1, 2}  # every learner appears
        x = torch.randn(4, 3, requires_grad=True)
        y, lr = torch.randn(4, 2), torch.tensor(0.2)
        stepped = pop.step(draw, x, y, lr, {})
        for (i, p0), (_, p1) in zip(draw.groups, stepped.groups, strict=True):
            for j in range(next(iter(p0.values())).shape[0]):
                alone = step_params(pop.modules[i], {k: v[j] for k, v in p0.items()}, x, y, lr)
                for k in alone:
                    torch.testing.assert_close(p1[k][j], alone[k])
        obs = torch.randn(7, 5, 3)
        out = pop.forward(stepped, obs, {})
        assert out.shape == (7, 5, 2)
        out.sum().backward()  # gradients reach the batch through every family
        assert x.grad is not None and bool(x.grad.abs().sum() > 0)
        # the plain-MLP fast path gives the same θ1 as vmap
        mlp = build_learner("mlp:16-16:silu", (3,), 2)
        p0 = fresh_params(mlp, "xavier", torch.Generator().manual_seed(1), 3)
        fast = step_population(mlp, p0, x.detach(), y, lr)
        slow = torch.func.vmap(lambda p: step_params(mlp, p, x.detach(), y, lr))(p0)
        for k in fast:
            torch.testing.assert_close(fast[k], slow[k])
    finally:
        torch.set_default_dtype(torch.float32)


def test_parse_learners():
    assert parse_learners("zoo", False) == list(ZOO_VECTOR)
    assert parse_learners("zoo", True) == list(ZOO_IMAGE)
    assert parse_learners("single", False, "mlp:8:relu", "xavier") == [Learner("mlp:8:relu", "xavier")]
    assert parse_learners("mlp:8:relu@kaiming, mlp:4:tanh", False) == [
        Learner("mlp:8:relu", "kaiming"), Learner("mlp:4:tanh", "orthogonal:0.01")]  # fmt: skip
    assert not set(ZOO_VECTOR) & set(HELD_OUT_VECTOR)  # the held-out set is never trained on
    for bad in ("mlp:8:relu@", "@xavier", "mlp:8:relu@nope"):
        with pytest.raises(DistillhubError):
            parse_learners(bad, False)


class UserNet(torch.nn.Module):
    """A user's own module with its own (PyTorch default) init: LayerNorm, residual, GELU."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(4, 32)
        self.norm = torch.nn.LayerNorm(32)
        self.mid = torch.nn.Linear(32, 32)
        self.out = torch.nn.Linear(32, 2)

    def forward(self, x):
        h = self.inp(x)
        h = h + torch.nn.functional.gelu(self.mid(self.norm(h)))
        return self.out(h)


def test_load_policy_with_a_user_module(cartpole_batch):
    net = UserNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    policy = load_policy(cartpole_batch, module=net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the user's module is not changed
    assert policy.act([0.0, 0.1, 0.0, -0.1]) in (0, 1)
    stepped = policy.learner
    assert not torch.equal(stepped.out.weight, net.out.weight)
    with pytest.raises(DistillhubError, match="must map"):
        load_policy(cartpole_batch, module=torch.nn.Linear(4, 3))


def test_distill_with_a_learner_distribution_records_it(tmp_path):
    out = tmp_path / "mix"
    spec = "mlp:16:relu@kaiming,transformer:8-1-2@torch-default"
    r = CliRunner().invoke(
        app, ["distill", "--out", str(out), "--learners", spec, "--population", "4", "--num-envs", "64",
              "--max-steps", "4096", "--eval-inits", "1", "--quiet", "--no-video",
              "--env-kwargs", '{"max_episode_steps": 100}'],  # the head step balances: keep its episodes short
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    batch = load_folder(out)
    assert batch.learners == spec and batch.architecture == "mlp:16:relu" and batch.init == "kaiming"
    # a distribution over vectors takes the auto rule (the head step, fit where it cannot fit) on 256 samples
    assert batch.inner_step == "auto" and batch.num_samples == 256
    assert batch.step_settings == {"damping": 0.03, "head_damping": 1e-3, "rounds": 5, "tolerance": 0.3}
    card = (out / "README.md").read_text()
    assert "`transformer:8-1-2@torch-default`" in card
    r = CliRunner().invoke(app, ["eval", str(out), "--learners", "mlp:8:elu@xavier,mlp:8", "--inits", "1"])
    assert r.exit_code == 1 and "Error: bad architecture 'mlp:8'" in r.output
    png = tmp_path / "learners.png"
    r = CliRunner().invoke(
        app, ["eval", str(out), "--learners", "held-out", "--inits", "1", "--episodes", "1", "--json",
              "--plot", str(png), "--update-card"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["learners"]
    assert set(rows) == {lr.label for lr in HELD_OUT_VECTOR}
    assert all(not row["in_distribution"] for row in rows.values())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_folder(out).extra["eval_learners"] == rows
    assert "| `resmlp:64x2:relu@torch-default` | no |" in (out / "README.md").read_text()
    r = CliRunner().invoke(app, ["eval", str(out), "--learners", "zoo", "--arch", "mlp:8:relu"])
    assert r.exit_code == 1 and "exclude each other" in r.output


def test_a_head_batch_records_the_ridge_it_was_made_with_and_loaders_step_with_it(tmp_path):
    def distill(out, *extra):
        return CliRunner().invoke(
            app, ["distill", "--out", str(out), "--learners", "mlp:16:relu@kaiming,mlp:8:tanh@xavier", "--samples",
                  "8", "--population", "2", "--num-envs", "64", "--max-steps", "4096", "--eval-inits", "1", "--quiet",
                  "--no-video", *extra],
        )  # fmt: skip

    out = tmp_path / "zoo-head"
    r = distill(out, "--inner-step", "head", "--set", "head_damping=0.03")
    assert r.exit_code == 0, r.output
    batch = load_folder(out)
    assert batch.inner_step == "head" and batch.step_settings == {"damping": 0.03}
    assert "lambda = 0.03" in (out / "README.md").read_text()
    # loading steps with the recorded ridge, not this version's 1e-3
    net = build_learner("mlp:16:relu", batch.obs_shape, batch.n_outputs)
    theta0 = {k: v.detach() for k, v in net.named_parameters()}
    x, y = batch.learner_inputs(), batch.targets.float()
    want = step_params(net, theta0, x, y, 1.0, rule="head", settings={"damping": 0.03})
    plain = step_params(net, theta0, x, y, 1.0, rule="head")
    got = dict(one_step(net, batch).named_parameters())
    assert all(torch.allclose(got[k], want[k]) for k in want)
    assert any(not torch.allclose(got[k], plain[k]) for k in want)
    r = distill(tmp_path / "bad", "--inner-step", "sgd", "--set", "head_damping=0.1")  # sgd has no ridge
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "head, fit and auto rules" in r.output
    assert not (tmp_path / "bad").exists()


def _balancing_batch(samples: int = 64) -> Batch:
    """Behaviour cloning in one head step: states a balancing linear policy visits (with 20 % random
    actions), labelled with its choice as logits ±1 (softened near the boundary)."""
    import gymnasium as gym
    import numpy as np

    w = np.array([0.1, 0.5, 1.0, 0.5])
    env, rng, states = gym.make("CartPole-v1"), np.random.default_rng(0), []
    obs, _ = env.reset(seed=0)
    while len(states) < 20 * samples:
        states.append(obs)
        action = int(rng.integers(2)) if rng.random() < 0.2 else int(obs @ w > 0)
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            obs, _ = env.reset()
    x = torch.as_tensor(np.stack(states)[rng.choice(len(states), samples, replace=False)], dtype=torch.float32)
    side = torch.tanh(x @ torch.as_tensor(w, dtype=torch.float32) / 0.05)  # soft near the decision boundary
    return Batch(observations=x, targets=torch.stack([-side, side], 1), learning_rate=1.0, env_id="CartPole-v1", inner_step="head")


def test_head_batch_teaches_a_user_module_and_unlike_learners_to_balance():
    """With the head step a user's own module (not a Sequential: the Jacobian path), a Kaiming ReLU
    MLP, a LayerNorm-residual MLP and a Transformer all balance the pole after one step from their
    own fresh inits."""
    import gymnasium as gym

    batch = _balancing_batch()
    policies = [load_policy(batch, module=UserNet()) for _ in range(3)]  # PyTorch's own random inits
    policies += [load_policy(batch, arch="mlp:256-256:relu", init="kaiming", seed=s) for s in range(2)]
    policies += [load_policy(batch, arch="resmlp:64x2:relu", init="torch-default", seed=s) for s in range(2)]
    policies += [load_policy(batch, arch="transformer:16-2-2", init="torch-default", seed=s) for s in range(2)]
    env = gym.make("CartPole-v1")
    for i, policy in enumerate(policies):
        obs, _ = env.reset(seed=100 + i)
        total, done = 0.0, False
        while not done:
            obs, reward, term, trunc, _ = env.step(policy.act(obs))
            total, done = total + reward, term or trunc
        assert total >= 475, (i, total)
    # the paper's plain SGD step on the same batch does not teach the user's module
    sgd = Batch(**{**batch.__dict__, "inner_step": "sgd", "learning_rate": 0.1})
    obs, _ = env.reset(seed=100)
    total, done, policy = 0.0, False, load_policy(sgd, module=UserNet())
    while not done:
        obs, reward, term, trunc, _ = env.step(policy.act(obs))
        total, done = total + reward, term or trunc
    assert total < 475
