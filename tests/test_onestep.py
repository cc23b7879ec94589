import copy
import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from distillhub.batch import Batch
from distillhub.onestep import one_step, step_params


def _batch(x, y, lr, **kw):
    return Batch(observations=x, targets=y, learning_rate=lr, env_id="CartPole-v1", **kw)


def test_one_step_equals_hand_computed_step_on_linear_model():
    torch.manual_seed(0)
    n, d, k, lr = 5, 3, 2, 0.37
    x, y = torch.randn(n, d), torch.randn(n, k)
    model = nn.Linear(d, k)
    W, b = model.weight.detach().clone(), model.bias.detach().clone()
    # loss = mean over n*k elements of (xW^T + b - y)^2
    r = x @ W.T + b - y
    gW = 2.0 / (n * k) * r.T @ x
    gb = 2.0 / (n * k) * r.sum(0)
    stepped = one_step(model, _batch(x, y, lr))
    torch.testing.assert_close(stepped.weight, W - lr * gW)
    torch.testing.assert_close(stepped.bias, b - lr * gb)
    # the input module is untouched unless inplace
    torch.testing.assert_close(model.weight, W)


def test_one_step_applies_recorded_normalisation():
    torch.manual_seed(1)
    x, y = torch.randn(4, 3) * 5 + 2, torch.randn(4, 2)
    mean, std = torch.tensor([2.0, 2.0, 2.0]), torch.tensor([5.0, 4.0, 3.0])
    model = nn.Linear(3, 2)
    a = one_step(model, _batch(x, y, 0.5, obs_mean=mean, obs_std=std))
    b = one_step(model, _batch((x - mean) / std, y, 0.5))
    torch.testing.assert_close(a.weight, b.weight)


class Custom(nn.Module):
    """Any module: a frozen parameter and a buffer must be respected."""

    def __init__(self):
        super().__init__()
        self.frozen = nn.Linear(3, 4)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(4, 2)
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x):
        return self.head(torch.relu(self.frozen(x))) * self.scale


def test_one_step_on_arbitrary_module_matches_autograd_sgd():
    torch.manual_seed(2)
    x, y = torch.randn(6, 3), torch.randn(6, 2)
    model = Custom()
    reference = copy.deepcopy(model)
    opt = torch.optim.SGD([p for p in reference.parameters() if p.requires_grad], lr=0.2)
    nn.functional.mse_loss(reference(x), y).backward()
    opt.step()
    stepped = one_step(model, _batch(x, y, 0.2))
    torch.testing.assert_close(stepped.head.weight, reference.head.weight)
    torch.testing.assert_close(stepped.frozen.weight, model.frozen.weight)  # not stepped


def test_gradients_reach_x_y_lr_finite_differences():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    params = {k: v.detach() for k, v in net.named_parameters()}
    probe = torch.randn(4, 2, dtype=torch.double)

    def post_step_output(x, y, lr):
        theta1 = step_params(net, params, x, y, lr)
        return torch.func.functional_call(net, theta1, (probe,)).sum()

    x = torch.randn(3, 2, dtype=torch.double, requires_grad=True)
    y = torch.randn(3, 2, dtype=torch.double, requires_grad=True)
    lr = torch.tensor(0.3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(post_step_output, (x, y, lr))
    gx, gy, glr = torch.autograd.grad(post_step_output(x, y, lr), (x, y, lr))
    assert gx.abs().sum() > 0 and gy.abs().sum() > 0 and glr.abs() > 0


def test_population_step_equals_per_init_step_and_its_gradients():
    from distillhub.learners import build_learner, fresh_params, population_forward
    from distillhub.onestep import step_population

    torch.manual_seed(4)
    net = build_learner("mlp:16-16:tanh", (4,), 3).double()
    theta0 = {
        k: v.double() for k, v in fresh_params(net, "orthogonal:0.01", torch.Generator().manual_seed(0), 5).items()
    }
    x = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    y = torch.randn(3, 3, dtype=torch.double, requires_grad=True)
    lr = torch.tensor(0.4, dtype=torch.double, requires_grad=True)
    fast = step_population(net, theta0, x, y, lr)  # batched-matmul path
    slow = torch.func.vmap(lambda p: step_params(net, p, x, y, lr))(theta0)  # the per-init rule
    for k in slow:
        torch.testing.assert_close(fast[k], slow[k])
    probe = torch.randn(5, 7, 4, dtype=torch.double)
    g_fast = torch.autograd.grad(population_forward(net, fast, probe).square().sum(), (x, y, lr))
    g_slow = torch.autograd.grad(population_forward(net, slow, probe).square().sum(), (x, y, lr))
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b)
    # without grad mode (rollouts) it builds no graph
    with torch.no_grad():
        assert not step_population(net, theta0, x, y, lr)["0.weight"].requires_grad


def test_gauss_newton_step_on_linear_model_matches_closed_form():
    """For a linear model J is exact: the post-step residual is λ (K + λI)⁻¹ r with K = J Jᵀ the
    model's kernel (x_i·x_j + 1 per output), whatever the init scale."""
    from distillhub.onestep import GN_DAMPING

    torch.manual_seed(1)
    n, d, k = 4, 3, 2
    x, y = torch.randn(n, d, dtype=torch.double), torch.randn(n, k, dtype=torch.double)
    for scale in (0.01, 100.0):  # the step does not care about the init's scale
        model = nn.Linear(d, k).double()
        with torch.no_grad():
            model.weight.mul_(scale)
        r = model(x).detach() - y
        gram = x @ x.T + 1.0  # per output; outputs are independent
        kernel = torch.kron(gram, torch.eye(k, dtype=torch.double))  # rows ordered (sample, output)
        lam = GN_DAMPING * kernel.diagonal().mean()
        expected = (lam * torch.linalg.solve(kernel + lam * torch.eye(n * k, dtype=torch.double), r.reshape(-1))).view(n, k)
        params = {nm: p.detach().double() for nm, p in model.named_parameters()}
        new = step_params(model, params, x, y, torch.tensor(1.0, dtype=torch.double), rule="gn")
        after = torch.func.functional_call(model, new, (x,)) - y
        torch.testing.assert_close(after, expected)
        assert after.abs().max() < 0.5 * r.abs().max()
    # one_step applies the rule a batch records
    model = nn.Linear(d, k)
    params = {nm: p.detach() for nm, p in model.named_parameters()}
    by_rule = step_params(model, params, x.float(), y.float(), torch.tensor(0.5), rule="gn")
    stepped = one_step(model, _batch(x.float(), y.float(), 0.5, inner_step="gn"))
    torch.testing.assert_close(stepped.weight, by_rule["weight"])


def _whole_batch_gauss_newton(net, params, x, y, damping, frozen=None):
    """The damped Gauss-Newton direction from the Jacobian of the whole batch's outputs, written out."""

    def forward(p):
        return torch.func.functional_call(net, {**(frozen or {}), **p}, (x,))

    out = forward(params)
    jac = torch.func.jacrev(forward)(params)
    rows = torch.cat([jac[k].reshape(out.numel(), -1) for k in params], dim=1)
    kernel = rows @ rows.T
    lam = damping * kernel.diagonal().mean()
    eye = torch.eye(len(kernel), dtype=kernel.dtype)
    flat = rows.T @ torch.linalg.solve(kernel + lam * eye, (out - y).reshape(-1))
    parts = flat.split([v.numel() for v in params.values()])
    return {k: g.view_as(params[k]) for k, g in zip(params, parts, strict=True)}


def test_the_gauss_newton_step_builds_the_whole_batch_jacobian_a_sample_at_a_time():
    """gn (and fit's rounds) take J one sample at a time: the same step as the whole batch's Jacobian (float64)
    for every learner family, and for a module with batch norm in eval mode (its running statistics)."""
    from distillhub.learners import build_learner, reinit_
    from distillhub.onestep import GN_DAMPING

    torch.manual_seed(9)
    for arch, shape in (("mlp:16-16:relu", (4,)), ("resmlp:16x1:gelu", (4,)), ("transformer:8-2-2", (4,)),
                        ("cnn:small", (2, 10, 10))):  # fmt: skip
        net = build_learner(arch, shape, 3).double()
        reinit_(net, "torch-default", torch.Generator().manual_seed(2))
        params = {n: p.detach() for n, p in net.named_parameters()}
        x, y = torch.randn(5, *shape, dtype=torch.double), torch.randn(5, 3, dtype=torch.double)
        stepped = step_params(net, params, x, y, 1.0, rule="gn")
        expected = _whole_batch_gauss_newton(net, params, x, y, GN_DAMPING)
        for n in params:
            torch.testing.assert_close(params[n] - stepped[n], expected[n], msg=f"{arch} {n}")
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    with torch.no_grad():
        net[1].running_mean.normal_(), net[1].running_var.uniform_(0.5, 2.0)
    params = {n: p.detach() for n, p in net.named_parameters()}
    x, y = torch.randn(5, 4, dtype=torch.double), torch.randn(5, 3, dtype=torch.double)
    stepped = step_params(net, params, x, y, 1.0, {k: b for k, b in net.named_buffers()}, rule="gn")
    expected = _whole_batch_gauss_newton(net, params, x, y, GN_DAMPING, dict(net.named_buffers()))
    for n in params:
        torch.testing.assert_close(params[n] - stepped[n], expected[n])


@pytest.mark.parametrize("rule", ["gn", "head", "fit", "auto"])
def test_population_step_equals_per_init_step_and_reaches_x_y_lr(rule):
    from distillhub.learners import build_learner, fresh_params, population_forward
    from distillhub.onestep import step_population

    torch.manual_seed(6)
    for arch, init in (("mlp:8-8:relu", "kaiming"), ("transformer:8-1-2", "torch-default")):
        net = build_learner(arch, (3,), 2).double()
        theta0 = {
            k: v.double() for k, v in fresh_params(net, init, torch.Generator().manual_seed(0), 3).items()
        }
        x = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
        y = torch.randn(2, 2, dtype=torch.double, requires_grad=True)
        lr = torch.tensor(0.7, dtype=torch.double, requires_grad=True)
        together = step_population(net, theta0, x, y, lr, rule=rule)
        for i in range(3):
            alone = step_params(net, {k: v[i] for k, v in theta0.items()}, x, y, lr, rule=rule)
            for k in alone:
                torch.testing.assert_close(together[k][i], alone[k])
        probe = torch.randn(3, 5, 3, dtype=torch.double)
        grads = torch.autograd.grad(population_forward(net, together, probe).square().sum(), (x, y, lr))
        assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_head_step_fits_the_batch_exactly_for_any_learner_and_leaves_the_rest_at_init():
    """The outputs are linear in the head, so one head step lands every learner's outputs on Y up
    to the ridge damping, whatever its depth, activation, normalisation or init, in float64."""
    from distillhub.learners import build_learner, reinit_
    from distillhub.onestep import head_names

    torch.manual_seed(3)
    # fewer samples than the linear model (depth 0) has features per output (4 inputs and the bias)
    x, y = torch.randn(3, 4, dtype=torch.double), torch.randn(3, 2, dtype=torch.double)
    for arch, init in (
        ("mlp::tanh", "torch-default"),
        ("mlp:64-64-64-64-64:relu", "kaiming"),
        ("mlp:32-32:gelu:ln", "xavier"),
        ("resmlp:32x2:relu", "torch-default"),
        ("transformer:16-2-2", "torch-default"),
    ):
        net = build_learner(arch, (4,), 2).double()
        reinit_(net, init, torch.Generator().manual_seed(0))
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        err0 = (net(x) - y).abs().max().item()
        new = step_params(net, before, x, y, torch.tensor(1.0, dtype=torch.double), rule="head")
        err1 = (torch.func.functional_call(net, new, (x,)) - y).abs().max().item()
        assert err1 < 0.05 * err0, (arch, err0, err1)
        heads = head_names(net)
        assert heads and all(n.endswith(("weight", "bias")) for n in heads)
        for n in before:
            assert torch.equal(new[n], before[n]) != (n in heads), (arch, n)  # the head moved, nothing else
        # one_step (float32, the loader's path) applies the same rule
        stepped = one_step(net.float(), _batch(x.float(), y.float(), 1.0, inner_step="head"))
        assert (stepped(x.float()) - y.float()).abs().max().item() < 0.05 * err0


def test_fit_moves_every_layer_and_fits_a_batch_the_head_step_cannot():
    """More samples than a narrow deep ReLU stack has features: the head step alone leaves a residual; the fit
    rule's rounds (a Gauss-Newton step on every parameter, then the head re-fit) move the hidden layers and
    shrink it; the last head re-fit is exact on the moved features (a second head step changes nothing)."""
    from distillhub.learners import build_learner, reinit_
    from distillhub.onestep import FIT_ROUNDS

    torch.manual_seed(4)
    x = torch.randn(48, 4, dtype=torch.double)
    y = 2 * torch.tanh(x @ torch.randn(4, 2, dtype=torch.double))  # a smooth policy-like target
    net = build_learner("mlp:8-8-8-8-8:relu", (4,), 2).double()
    reinit_(net, "kaiming", torch.Generator().manual_seed(0))
    theta0 = {n: p.detach().clone() for n, p in net.named_parameters()}
    lr = torch.tensor(1.0, dtype=torch.double)

    def mse(p):
        return (torch.func.functional_call(net, p, (x,)) - y).square().mean().item()

    head, fit = (step_params(net, theta0, x, y, lr, rule=r) for r in ("head", "fit"))
    assert FIT_ROUNDS >= 2 and mse(fit) < 0.5 * mse(head) < mse(theta0)
    assert all(not torch.equal(fit[n], theta0[n]) for n in theta0 if n.endswith("weight"))  # every layer moved
    again = step_params(net, fit, x, y, lr, rule="head")
    assert mse(again) == pytest.approx(mse(fit), rel=1e-3)
    # one_step (float32, the loader's path) applies the same rule
    stepped = one_step(net.float(), _batch(x.float(), y.float(), 1.0, inner_step="fit"))
    assert (stepped(x.float()) - y.float()).square().mean().item() < 0.5 * mse(head)


def test_auto_takes_the_head_step_where_it_fits_and_the_fit_rule_where_it_does_not():
    """``auto`` per init: the head step when it leaves at most ``tolerance`` of the targets' variance unexplained,
    else the fit rule from the init. A population whose inits fall on both sides gives each init's own choice
    (the same θ1 as stepping it alone, float64), and the gradient reaches x, y and lr through both branches."""
    from distillhub.learners import build_learner, fresh_params, population_forward
    from distillhub.onestep import step_population, unexplained

    torch.manual_seed(4)
    x = torch.randn(48, 4, dtype=torch.double, requires_grad=True)
    y = (2 * torch.tanh(x @ torch.randn(4, 2, dtype=torch.double))).detach().requires_grad_()
    lr = torch.tensor(1.0, dtype=torch.double, requires_grad=True)
    net = build_learner("mlp:8-8-8:relu", (4,), 2).double()
    theta0 = {k: v.double() for k, v in fresh_params(net, "kaiming", torch.Generator().manual_seed(0), 6).items()}
    inits = [{k: v[i] for k, v in theta0.items()} for i in range(6)]
    with torch.no_grad():
        heads = [step_params(net, p, x, y, lr, rule="head") for p in inits]
        left = torch.stack([unexplained(torch.func.functional_call(net, h, (x,)), y) for h in heads])
    tolerance = float(left.median())  # half of the inits refit
    refit = left > tolerance
    assert 0 < int(refit.sum()) < 6 and float(left.max()) < 1
    settings = {"tolerance": tolerance}
    together = step_population(net, theta0, x, y, lr, rule="auto", settings=settings)
    for i, p in enumerate(inits):
        alone = step_params(net, p, x, y, lr, rule="auto", settings=settings)
        expected = step_params(net, p, x, y, lr, rule="fit") if refit[i] else heads[i]
        for k in alone:
            torch.testing.assert_close(together[k][i], alone[k])
            torch.testing.assert_close(alone[k], expected[k])
    assert not torch.equal(together["0.weight"][int(refit.nonzero()[0])], theta0["0.weight"][int(refit.nonzero()[0])])
    assert torch.equal(together["0.weight"][int((~refit).nonzero()[0])], theta0["0.weight"][int((~refit).nonzero()[0])])
    out = population_forward(net, together, torch.randn(6, 5, 4, dtype=torch.double))
    grads = torch.autograd.grad(out.square().sum(), (x, y, lr))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    # a learner with nothing below its head takes the head step whatever it leaves unexplained
    linear = build_learner("mlp::tanh", (4,), 2).double()
    w = {k: v.detach() for k, v in linear.named_parameters()}
    torch.testing.assert_close(
        step_params(linear, w, x, y, lr, rule="auto", settings={"tolerance": 0.0}), step_params(linear, w, x, y, lr, rule="head")
    )
    # unexplained: 0 for an exact fit, 1 for predicting each output's mean
    y = y.detach()
    assert float(unexplained(y, y)) == 0 and float(unexplained(y.mean(0).expand_as(y), y)) == pytest.approx(1.0)


def test_head_step_equals_the_ridge_solution_on_a_linear_model():
    from distillhub.onestep import HEAD_DAMPING

    torch.manual_seed(4)
    n, d, k = 6, 3, 2
    x, y = torch.randn(n, d, dtype=torch.double), torch.randn(n, k, dtype=torch.double)
    model = nn.Linear(d, k).double()
    r = model(x).detach() - y
    gram = x @ x.T + 1.0
    lam = HEAD_DAMPING * gram.diagonal().mean()
    expected = lam * torch.linalg.solve(gram + lam * torch.eye(n, dtype=torch.double), r)  # per output, same kernel
    params = {nm: p.detach() for nm, p in model.named_parameters()}
    new = step_params(model, params, x, y, torch.tensor(1.0, dtype=torch.double), rule="head")
    torch.testing.assert_close(torch.func.functional_call(model, new, (x,)) - y, expected)


@pytest.mark.parametrize("damping", [1e-3, 0.3])
def test_a_recorded_head_damping_is_the_ridge_of_every_path(damping):
    """A batch's ``damping`` (e.g. a distribution's 0.03) is the ridge of the single step, of the population's
    closed form (a Sequential) and of its vmap path (a Transformer), and moves the result."""
    from distillhub.learners import build_learner, fresh_params
    from distillhub.onestep import rule_settings, step_population

    torch.manual_seed(4)
    n, d, k = 6, 3, 2
    x, y = torch.randn(n, d, dtype=torch.double), torch.randn(n, k, dtype=torch.double)
    model = nn.Sequential(nn.Linear(d, k)).double()
    params = {nm: p.detach() for nm, p in model.named_parameters()}
    gram = x @ x.T + 1.0
    lam = damping * gram.diagonal().mean()
    expected = lam * torch.linalg.solve(gram + lam * torch.eye(n, dtype=torch.double), model(x).detach() - y)
    one = torch.tensor(1.0, dtype=torch.double)
    settings = {"damping": damping}
    new = step_params(model, params, x, y, one, rule="head", settings=settings)
    torch.testing.assert_close(torch.func.functional_call(model, new, (x,)) - y, expected)
    stacked = step_population(model, {nm: v.unsqueeze(0) for nm, v in params.items()}, x, y, one, rule="head",
                              settings=settings)  # fmt: skip
    torch.testing.assert_close(torch.func.functional_call(model, {nm: v[0] for nm, v in stacked.items()}, (x,)) - y, expected)
    net = build_learner("transformer:8-1-2", (d,), k).double()
    theta0 = {nm: v.double() for nm, v in fresh_params(net, "torch-default", torch.Generator().manual_seed(0), 2).items()}
    together = step_population(net, theta0, x, y, one, rule="head", settings=settings)
    default = step_population(net, theta0, x, y, one, rule="head")
    for i in range(2):
        alone = step_params(net, {nm: v[i] for nm, v in theta0.items()}, x, y, one, rule="head", settings=settings)
        for nm in alone:
            torch.testing.assert_close(together[nm][i], alone[nm])
    moved = max((together[nm] - default[nm]).abs().max() for nm in together)
    assert (moved > 1e-6) == (damping != rule_settings("head")["damping"])


def test_head_step_needs_a_trainable_linear_output_layer():
    from distillhub.errors import DistillhubError

    batch = _batch(torch.randn(3, 4), torch.randn(3, 2), 1.0, inner_step="head")
    with pytest.raises(DistillhubError, match="last nn.Linear"):
        one_step(nn.Conv1d(1, 1, 1), batch)
    frozen = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    frozen[2].requires_grad_(False)
    with pytest.raises(DistillhubError, match="frozen"):
        one_step(frozen, batch)


def test_head_closed_form_equals_the_generic_jacobian_step():
    """Distillhub's learners take the head step in closed form; any other module through the
    head's Jacobian. Both are the same θ1 (float64), also through a persistent encoder."""
    from distillhub.learners import build_learner, reinit_

    class Wrapped(nn.Module):  # not a Sequential: the generic path
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    torch.manual_seed(8)
    x, y = torch.randn(6, 4, dtype=torch.double), torch.randn(6, 2, dtype=torch.double)
    lr = torch.tensor(0.8, dtype=torch.double)
    for arch in ("mlp::tanh", "mlp:16-16:relu", "resmlp:16x1:gelu", "transformer:8-1-2"):
        net = build_learner(arch, (4,), 2).double()
        reinit_(net, "torch-default", torch.Generator().manual_seed(1))
        params = {n: p.detach() for n, p in net.named_parameters()}
        fast = step_params(net, params, x, y, lr, rule="head")
        slow = step_params(Wrapped(net), {"net." + n: p for n, p in params.items()}, x, y, lr, rule="head")
        for n in params:
            torch.testing.assert_close(fast[n], slow["net." + n])
    # with frozen layers below the head (a persistent encoder): only the trainable head steps
    net = build_learner("mlp:16-16:relu", (4,), 2).double()
    params = {n: p.detach() for n, p in net.named_parameters()}
    frozen = {k: params.pop(k) for k in ("0.weight", "0.bias")}
    fast = step_params(net, params, x, y, lr, frozen, rule="head")
    slow = step_params(Wrapped(net), {"net." + n: p for n, p in params.items()}, x, y, lr,
                       {"net." + n: p for n, p in frozen.items()}, rule="head")  # fmt: skip
    for n in params:
        torch.testing.assert_close(fast[n], slow["net." + n])


def test_population_head_step_with_several_threads_and_256_rows():
    """MKL's batched LU solve fails (and can hang) with 2 threads from ~150 rows; the head and
    gn steps solve their kernels by Cholesky instead. Run in a child process, so a hang is a failure."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from distillhub.learners import build_learner, fresh_params\n"
        "from distillhub.onestep import step_population\n"
        "torch.set_num_threads(2)\n"
        "net = build_learner('mlp::tanh', (4,), 2)\n"
        "theta = fresh_params(net, 'xavier', torch.Generator().manual_seed(0), 3)\n"
        "x, y = torch.randn(256, 4), torch.randn(256, 2)\n"
        "new = step_population(net, theta, x, y, 1.0, rule='head')\n"
        "assert all(bool(torch.isfinite(v).all()) for v in new.values())\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-500:]
    assert "MKL ERROR" not in r.stderr


def test_a_batch_keeps_the_rule_constants_it_was_made_with(tmp_path):
    """The header records the rule's constants (``inner_step_settings``); loading honours them, so a batch keeps
    its step when this version's defaults change, and the card shows the batch's own numbers."""
    from safetensors import safe_open

    from distillhub.batch import SAFETENSORS_FILE, load_folder, save_folder, with_inner_step
    from distillhub.card import render_card
    from distillhub.learners import build_learner, reinit_
    from distillhub.onestep import FIT_DAMPING, FIT_ROUNDS, HEAD_DAMPING, _fit, rule_settings

    torch.manual_seed(4)
    x = torch.randn(48, 4)
    y = 2 * torch.tanh(x @ torch.randn(4, 2))
    net = build_learner("mlp:8-8-8:relu", (4,), 2)
    reinit_(net, "kaiming", torch.Generator().manual_seed(0))
    theta0 = {n: p.detach().clone() for n, p in net.named_parameters()}
    older = {"rounds": 2, "damping": 0.1, "head_damping": HEAD_DAMPING}
    assert older != rule_settings("fit") == {"rounds": FIT_ROUNDS, "damping": FIT_DAMPING, "head_damping": HEAD_DAMPING}
    batch = _batch(x, y, 1.0, inner_step="fit", step_settings=older)
    save_folder(batch, tmp_path, render_card(batch, folder=tmp_path))
    with safe_open(str(tmp_path / SAFETENSORS_FILE), "pt") as f:
        assert json.loads(f.metadata()["inner_step_settings"]) == older
    loaded = load_folder(tmp_path)
    assert loaded.step_settings == older
    stepped = dict(one_step(net, loaded).named_parameters())
    want = _fit(net, theta0, x, y, 1.0, {}, rounds=2, damping=0.1)
    now = _fit(net, theta0, x, y, 1.0, {})  # this version's constants
    # float32 through two damped solves: summation order (BLAS threads) moves the result by ~1e-4, while
    # this version's constants move it by orders of magnitude more
    for n in theta0:
        torch.testing.assert_close(stepped[n].detach(), want[n], rtol=1e-3, atol=1e-3)
    assert (want["0.weight"] - now["0.weight"]).abs().max() > 0.05
    card = (tmp_path / "README.md").read_text()
    assert "2 rounds, each one damped Gauss-Newton step" in card and "range(2)" in card
    # stepping with another rule takes that rule at this version's constants, but for the head step's ridge and
    # (between fit and auto) the rounds and damping the two rules share
    assert with_inner_step(loaded, "head").step_settings == {"damping": HEAD_DAMPING}
    assert with_inner_step(loaded, "gn").step_settings == {}
    assert with_inner_step(loaded, "auto").step_settings == older  # the tolerance: this version's
    head = replace(loaded, inner_step="head", step_settings={"damping": 0.03})  # e.g. an Acrobot-v1 zoo batch
    assert with_inner_step(head, "auto").step_settings == {"head_damping": 0.03}
    assert with_inner_step(head, "sgd").step_settings == {}


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"rounds": 2.5}, "inner_step_settings rounds=2.5 is not a number from 1 to 20"),
        ({"damping": -1}, "inner_step_settings damping=-1 is not a number from 1e-08 to 10"),
        ({"damping": "0.1"}, "inner_step_settings damping='0.1' is not a number"),
        ({"momentum": 0.9}, "inner_step_settings has unknown key 'momentum'"),
    ],
)
def test_bad_recorded_rule_constants_are_refused_on_load(tmp_path, settings, message):
    from safetensors.torch import load_file, save_file

    from distillhub.batch import SAFETENSORS_FILE, load_safetensors, save_safetensors
    from distillhub.errors import DistillhubError

    path = tmp_path / SAFETENSORS_FILE
    batch = _batch(torch.randn(4, 4), torch.randn(4, 2), 1.0, inner_step="fit", step_settings={"rounds": 3})
    save_safetensors(batch, path)
    md = {**batch.metadata(), "inner_step_settings": json.dumps(settings)}
    save_file(load_file(str(path)), str(path), metadata=md)
    with pytest.raises(DistillhubError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_safetensors(path)
