"""distillhub: distil a reinforcement-learning environment into one tiny synthetic batch.

One SGD step on the batch, from a fresh random init, gives a working policy.
"""

__version__ = "0.1.0"

from distillhub.batch import Batch, load_folder, save_folder  # noqa: E402
from distillhub.distill import DistillConfig, Distiller, default_config, distill  # noqa: E402
from distillhub.envs import make_env  # noqa: E402
from distillhub.errors import DistillhubError  # noqa: E402
from distillhub.evaluate import EvalResult, evaluate  # noqa: E402
from distillhub.hub import push_folder  # noqa: E402
from distillhub.learners import build_learner, reinit_  # noqa: E402
from distillhub.loader import load_batch, load_policy  # noqa: E402
from distillhub.onestep import one_step, step_params, step_population  # noqa: E402
from distillhub.policy import Policy  # noqa: E402

__all__ = [
    "Batch",
    "DistillConfig",
    "Distiller",
    "DistillhubError",
    "EvalResult",
    "Policy",
    "__version__",
    "build_learner",
    "default_config",
    "distill",
    "evaluate",
    "load_batch",
    "load_policy",
    "load_folder",
    "make_env",
    "one_step",
    "push_folder",
    "reinit_",
    "save_folder",
    "step_params",
    "step_population",
]
