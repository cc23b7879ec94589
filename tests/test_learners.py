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
