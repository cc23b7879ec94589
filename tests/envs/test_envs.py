import pytest
import torch

from distillhub.envs import GymVectorEnv, env_info, make_env, make_vector_env
from distillhub.errors import DistillhubError


def test_env_info_discrete_and_continuous():
    info = env_info("CartPole-v1")
    assert (info.family, info.obs_shape, info.action_space, info.n_outputs) == ("cartpole", (4,), "discrete", 2)
    assert info.reward_threshold == 475.0
    info = env_info("Pendulum-v1")
    assert info.action_space == "continuous" and info.n_outputs == 1
    assert info.action_low == (-2.0,) and info.action_high == (2.0,)


def test_unknown_env_and_dict_space_give_one_line_errors():
    with pytest.raises(DistillhubError, match="unknown env id 'NoSuchEnv-v0'"):
        make_env("NoSuchEnv-v0")
    with pytest.raises(DistillhubError, match="Dict observation space"):
        env_info("tests/DictObs-v0")


def test_generic_env_runs_through_gymnasium_vector_api():
    info = env_info("Acrobot-v1")
    venv = make_vector_env(info, 3, seed=0)
    assert isinstance(venv, GymVectorEnv)
    obs = venv.reset()
    assert obs.shape == (3, 6)
    obs, reward, term, trunc, finished = venv.step(torch.zeros(3, dtype=torch.long))
    assert obs.shape == (3, 6) and reward.tolist() == [-1.0] * 3
    venv.close()
