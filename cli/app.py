"""``distillhub``: distil, evaluate, inspect and publish single-batch RL datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="Distil an RL environment into one tiny batch; one SGD step on it gives a policy.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    # escape: messages quote user input and install hints like gymnasium[mujoco]
    err_console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def run_guarded(fn, *args, **kwargs):
    """Call ``fn``; user errors become one line on stderr and exit code 1."""
    from distillhub.errors import DistillhubError

    try:
        return fn(*args, **kwargs)
    except DistillhubError as e:
        raise fail(str(e)) from None


def _slug(env_id: str) -> str:
    return env_id.replace("/", "-")


# --------------------------------------------------------------------------- distill


@app.command(
    epilog=(
        "Examples:\n\n"
        "  distillhub distill                                  # CartPole-v1 for any learner, into runs/CartPole-v1-256\n\n"
        "  distillhub distill --learners single                # the paper's 2-sample batch for one learner\n\n"
        "  distillhub distill --env distillhub/CartPoleND-v0 --env-kwargs '{\"n_dims\": 3}' --samples 4 --out runs/nd3\n\n"
        "  distillhub distill --env Hopper-v5 --samples 64 --time-limit 1800 --out runs/hopper\n\n"
        "  distillhub distill --env ALE/Pong-v5 --samples 4 --device cuda --out runs/pong\n\n"
        "  distillhub distill --out runs/hopper --resume --max-steps 4000000   # continue a run\n\n"
        "  distillhub distill --env Acrobot-v1 --learners zoo  # for any learner (head step, 256 samples)\n\n"
        "  distillhub distill --env Pendulum-v1 --set gamma=0.95 --set update_epochs=10   # any config field\n\n"
        "  torchrun --nproc-per-node 4 -m distillhub distill --env Hopper-v5 --out runs/hopper   # data-parallel"
    )
)
def distill(
    env: Annotated[str, typer.Option(help="Gymnasium env id.")] = "CartPole-v1",
    samples: Annotated[int | None, typer.Option(help="Synthetic samples N (default per env family).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/ENV-N: the env id and the samples).")] = None,
    env_kwargs: Annotated[
        str | None, typer.Option(help="JSON kwargs for gymnasium.make, e.g. '{\"n_dims\": 3}'.")
    ] = None,
    learners: Annotated[
        str | None,
        typer.Option(help="Learner distribution: single (--arch/--init), zoo, or arch@init,... (see README). Default: zoo on CartPole-v1 (single with --arch/--init), single elsewhere. A distribution over vector observations takes --inner-step head on 256 samples unless you name them."),
    ] = None,
    arch: Annotated[str | None, typer.Option(help="Learner spec, e.g. mlp:64-64:tanh or cnn:nature.")] = None,
    init: Annotated[
        str | None, typer.Option(help="Init scheme: orthogonal:GAIN (the output layer's gain), xavier, kaiming or torch-default.")
    ] = None,
    inner_step: Annotated[
        str | None, typer.Option(help="The one step: sgd (plain, the paper's), sgd-ls (scaled by the learner's line search), gn (one damped Gauss-Newton step), head (that step on the output layer alone: teaches any learner), fit (rounds of gn then head: several steps, slow) or auto (head, and fit for a learner whose output layer cannot fit the batch; a distribution's default).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed; CPU runs with the same seed are identical.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    max_steps: Annotated[
        int | None, typer.Option(help="Env-step budget (whole run, resumes included; checked between meta-iterations).")
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option(help="Wall-time budget in seconds (whole run); alone, it replaces the default step budget.")
    ] = None,
    target_return: Annotated[
        float | None, typer.Option(help="Stop once the worst held-out init reaches this (default: env threshold).")
    ] = None,
    early_stop: Annotated[bool, typer.Option(help="Stop when the target is reached.")] = True,
    population: Annotated[int | None, typer.Option(help="Fresh inits per meta-iteration.")] = None,
    num_envs: Annotated[int | None, typer.Option(help="Parallel envs (a multiple of population).")] = None,
    rollout_steps: Annotated[int | None, typer.Option(help="Env steps per env per meta-iteration.")] = None,
    vectorization: Annotated[
        str | None,
        typer.Option(help="sync or async gymnasium vector envs; envpool (default for MuJoCo/classic control when installed); ale: ale-py's native one (Atari)."),
    ] = None,
    env_threads: Annotated[int | None, typer.Option(help="envpool worker threads (default: one per core).")] = None,
    encoder_layers: Annotated[
        int | None, typer.Option(help="The learner's first K weight layers (conv, then dense; never the output layer) kept as a persistent learned encoder published with the batch.")
    ] = None,
    eval_inits: Annotated[int, typer.Option(help="Fresh inits in the final evaluation (0 skips it).")] = 10,
    eval_episodes: Annotated[int, typer.Option(help="Episodes per init in the final evaluation.")] = 2,
    checkpoint_every: Annotated[float | None, typer.Option(help="Seconds between checkpoints.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run checkpointed in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing batch in --out.")] = False,
    push_to: Annotated[str | None, typer.Option(help="Push the result to this Hub dataset repo.")] = None,
    private: Annotated[bool, typer.Option(help="With --push-to: create the repo private.")] = False,
    token: Annotated[
        str | None, typer.Option(help="Hub token for --push-to (default: HF_TOKEN or saved login).")
    ] = None,
    video: Annotated[
        bool, typer.Option(help="Record one greedy episode of the result as replay.mp4/.gif (needs a renderable env).")
    ] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any other config field as KEY=VALUE, repeatable: e.g. --set gamma=0.9 --set update_epochs=4 "
            "(fields: distillhub.distill.DistillConfig).",
        ),
    ] = None,
):
    """Distil an environment into a batch with meta-PPO and write it to a folder."""
    run_guarded(
        _distill, env, samples, out, env_kwargs, learners, arch, init, inner_step, seed, device, max_steps, time_limit, target_return,
        early_stop, population, num_envs, rollout_steps, vectorization, env_threads, encoder_layers, eval_inits, eval_episodes,
        checkpoint_every, resume, overwrite, push_to, private, token, quiet, video, settings,
    )  # fmt: skip


def _distill(
    env, samples, out, env_kwargs, learners, arch, init, inner_step, seed, device, max_steps, time_limit, target_return, early_stop,
    population, num_envs, rollout_steps, vectorization, env_threads, encoder_layers, eval_inits, eval_episodes,
    checkpoint_every, resume, overwrite, push_to, private, token, quiet, video=False, settings=None,
):  # fmt: skip
    from distillhub.batch import SAFETENSORS_FILE
    from distillhub.checkpoint import CHECKPOINT_DIR, RunLock, checkpoint_path, load_checkpoint
    from distillhub.distill import DistillConfig, check_fits, default_config, parse_settings, validate_config
    from distillhub.distributed import requested_rank
    from distillhub.envs import env_info, parse_env_kwargs
    from distillhub.errors import DistillhubError
    from distillhub.population import check_learners

    if samples is not None and samples < 1:
        raise DistillhubError(f"--samples must be at least 1, got {samples}")
    if resume and overwrite:
        raise DistillhubError("--resume and --overwrite exclude each other: keep the run or replace it")
    if push_to:
        # checked now, not after the whole distillation
        from distillhub.hub import check_repo_id, resolve_token

        check_repo_id(push_to)
        resolve_token(token)
    kwargs = parse_env_kwargs(env_kwargs)
    overrides = dict(
        samples=samples, learners=learners, arch=arch, inner_step=inner_step, init=init, seed=seed, device=device, max_steps=max_steps,
        time_limit=time_limit, target_return=target_return, early_stop=early_stop, population=population,
        num_envs=num_envs, rollout_steps=rollout_steps, vectorization=vectorization,
        env_threads=env_threads, encoder_layers=encoder_layers,
        checkpoint_every=checkpoint_every,
    )  # fmt: skip
    extra = parse_settings(settings or [])
    for key, value in extra.items():
        if overrides.get(key) is not None and key not in ("seed", "device", "early_stop"):
            raise DistillhubError(f"{key} is given both as an option and with --set; keep one")
        overrides[key] = value
    if resume and extra:
        raise DistillhubError("--set cannot change a resumed run's config; drop it (or start a new run)")
    if resume:
        if out is None:
            raise DistillhubError("--resume needs --out, the folder of the run to continue")
        ckpt = checkpoint_path(out)
        if not ckpt.is_file():
            raise DistillhubError(f"no checkpoint in {out}; run without --resume to start a new distillation")
        _, meta = load_checkpoint(ckpt)
        cfg = DistillConfig.from_json(meta["config"])
        if env != cfg.env_id and env != "CartPole-v1":
            raise DistillhubError(f"{out} holds a {cfg.env_id} run, not {env}; drop --env or pick another --out")
        # only the budget, stopping rule, checkpointing and device may change on resume
        for key in ("max_steps", "time_limit", "target_return", "checkpoint_every"):
            if overrides[key] is not None:
                setattr(cfg, key, overrides[key])
        cfg.device = device
        cfg.early_stop = early_stop
    else:
        cfg = default_config(env, kwargs, **overrides)
        out = out or Path("runs") / f"{_slug(env)}-{cfg.samples}"
        existing = (out / SAFETENSORS_FILE).exists() or checkpoint_path(out).exists()
        if existing and not overwrite:
            raise DistillhubError(
                f"{out} already holds a batch; pass --overwrite to replace it or --resume to continue it"
            )
        if out.exists() and not out.is_dir():
            raise DistillhubError(f"{out} is a file; pass a folder for --out")
    validate_config(cfg)
    # a bad env or learner fails before the folder is touched
    info = env_info(cfg.env_id, cfg.env_kwargs, allow_import=True)
    check_learners(check_fits(cfg, info), info.obs_shape, info.n_outputs)
    if requested_rank() != 0:
        # torchrun: rank 0 owns the folder (lock, checkpoints, the batch, the push); the others only train
        _distill_worker(cfg, info, out, resume)
        return
    # a second run on the same --out is refused while this one owns it
    with RunLock(out):
        if overwrite and not resume:
            for path in (out / CHECKPOINT_DIR).glob("checkpoint*"):
                path.unlink()
        _distill_locked(cfg, info, out, resume, quiet, eval_inits, eval_episodes, push_to, private, token, video)


def _distill_worker(cfg, info, out, resume) -> None:
    """A data-parallel rank other than 0: train in step with the others, write nothing."""
    from distillhub.distill import Distiller

    distiller = Distiller(cfg, out, resume=resume, info=info)
    try:
        distiller.run(None)
    finally:
        distiller.close()


def _distill_locked(cfg, info, out, resume, quiet, eval_inits, eval_episodes, push_to, private, token, video):
    from distillhub.config import target_return
    from distillhub.distill import Distiller

    if cfg.x_init == "teacher" and not resume:
        target = target_return(cfg, info)
        until = (
            "" if target is None or cfg.teacher_stop == "none"
            else f", or until its training episodes average {target:g}"
            + (" and its batch teaches held-out inits that much" if cfg.teacher_stop == "held-out" else "")
        )  # fmt: skip
        console.print(
            f"Training a PPO teacher on the first {cfg.teacher_fraction:.0%} of the budget{until}; the batch starts from it.",
            highlight=False,
        )
    try:
        distiller = Distiller(cfg, out, resume=resume, info=info)
    except KeyboardInterrupt:
        err_console.print("Interrupted before the first meta-iteration: nothing was written.", highlight=False)
        raise typer.Exit(130) from None
    if resume:
        console.print(f"Resuming {cfg.env_id} from step {distiller.global_step:,} (iteration {distiller.iteration}).")
    elif distiller.teacher_summary:
        t = distiller.teacher_summary
        ret = "n/a" if t["train_return"] is None else f"{t['train_return']:.1f}"
        console.print(
            f"Teacher: {t['env_steps']:,} env steps in {t['wall_time_s']:.0f} s, training return {ret} (last 100 episodes).",
            highlight=False,
        )
        best = distiller.selection.best
        if t.get("checks_from") and best is not None:
            console.print(
                f"Its hand-off was held out as it trained from step {t['checks_from']:,} on; the best is the batch "
                f"from step {best['step']:,} (worst held-out init {best['min']:.1f}, mean {best['mean']:.1f}).",
                highlight=False,
            )
    console.print(
        f"Distilling [bold]{cfg.env_id}[/] into {cfg.samples} samples on {distiller.device} "
        f"(learners {escape(_learners_text(distiller.learners))}, population {cfg.population}, {cfg.num_envs} envs) "
        f"-> {escape(str(out))}",
        highlight=False,
    )
    try:
        batch = _run_with_progress(distiller, quiet)
    except KeyboardInterrupt:
        _save_interrupted(distiller, out, push_to, "checkpoint and current best batch saved")
    batch.extra["training"] = distiller.training_summary()
    distiller.close()
    if eval_inits > 0:
        from distillhub.evaluate import evaluate

        try:
            result = evaluate(
                batch, inits=eval_inits, episodes=eval_episodes, seed=0, device=distiller.device, allow_import=True
            )
        except KeyboardInterrupt:
            _save_interrupted(distiller, out, push_to, "the final evaluation was skipped; the batch is saved", batch)
        batch.extra["eval"] = result.summary()
        _print_eval(result)
    if video:
        _record_replay(batch, out, allow_import=True)
    _write_batch(batch, out, push_to)
    t = batch.extra["training"]
    console.print(
        f"Wrote {escape(str(out))} ({batch.num_samples} samples, lr {batch.learning_rate:.4g}) after {t['env_steps']:,} env steps "
        f"in {t['wall_time_s']} s; stop: {t['stop_reason']}.",
        highlight=False,
    )
    if push_to:
        from distillhub.hub import push_folder

        info = push_folder(out, push_to, private=private, token=token, allow_import=True)
        console.print(f"Pushed to {info['url']}", highlight=False)
        console.print(f"commit {info['commit']}", highlight=False)


def _record_replay(batch, folder: Path, allow_import: bool) -> None:
    """replay.mp4/.gif in the folder; a failure is a warning, never a lost batch."""
    from distillhub.errors import DistillhubError
    from distillhub.replay import record_replay

    try:
        record_replay(batch, folder, allow_import=allow_import)
    except DistillhubError as e:
        err_console.print(f"Warning: no replay video: {escape(str(e))}", highlight=False)


def _learners_text(learners) -> str:
    return learners[0].label if len(learners) == 1 else f"{len(learners)}: " + ", ".join(lr.label for lr in learners)


def _write_batch(batch, out: Path, repo_id: str | None) -> None:
    """The batch files, the learning curve picture (best effort), then the card that embeds it."""
    from distillhub.batch import save_card, save_folder
    from distillhub.card import render_card
    from distillhub.plots import LEARNING_CURVE_FILE, SAMPLES_FILE, plot_learning_curve, plot_samples
    from distillhub.references import PPO_REFERENCE

    save_folder(batch, out)
    history = batch.extra.get("training", {}).get("eval_history")
    threshold = batch.extra.get("eval", {}).get("threshold")
    ref = PPO_REFERENCE.get(batch.env_id, (None,))[0]
    pictures = [(SAMPLES_FILE, lambda p: plot_samples(batch, p))]
    if history:
        title = f"{batch.env_id}: distillation"
        pictures.append((LEARNING_CURVE_FILE, lambda p: plot_learning_curve(history, p, threshold, ref, title)))
    for name, draw in pictures:
        try:
            draw(out / name)
        except Exception as e:  # a picture must never cost the batch
            err_console.print(f"Warning: no {name} ({type(e).__name__}: {e})", highlight=False)
    save_card(out, render_card(batch, repo_id, folder=out))


def _save_interrupted(distiller, out: Path, push_to: str | None, what: str, batch=None):
    """Ctrl-C: write the best batch so far (the checkpoint is already written) and exit 130."""
    from distillhub.errors import DistillhubError

    try:
        if batch is None:
            batch = distiller.best_batch()
            batch.extra["training"] = distiller.training_summary()
        _write_batch(batch, out, push_to)
        message = f"Interrupted: {what} in {escape(str(out))}; continue with --resume --out {escape(str(out))}"
    except DistillhubError as e:
        message = f"Interrupted: no batch written ({escape(str(e))}); the checkpoint in {escape(str(out))} resumes with --resume"
    distiller.close()
    err_console.print(message, highlight=False)
    raise typer.Exit(130) from None


def _run_with_progress(distiller, quiet: bool):
    if quiet or not sys.stdout.isatty():
        last = {"t": -1e9}

        def log(s):
            # a line every ~10 s keeps logs of long runs readable; every held-out evaluation is logged
            if s.elapsed - last["t"] >= 10 or s.eval_min is not None:
                last["t"] = s.elapsed
                ev = "" if s.eval_min is None else f" eval min/mean {s.eval_min:.1f}/{s.eval_mean:.1f}"
                print(
                    f"iter {s.iteration} steps {s.global_step:,} ({s.steps_per_second:,.0f}/s) lr {s.learning_rate:.4g}{ev}",
                    flush=True,
                )

        return distiller.run(None if quiet else log)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    cfg = distiller.cfg
    state = {"eval": "-"}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} steps"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(cfg.env_id, total=cfg.max_steps, completed=distiller.global_step, info="")

        def update(s):
            if s.eval_min is not None:
                state["eval"] = f"{s.eval_min:.0f}/{s.eval_mean:.0f}"
            info = (
                f"iter {s.iteration} · {s.steps_per_second:,.0f} steps/s · eval min/mean {state['eval']} · "
                f"lr {s.learning_rate:.3g}"
            )
            progress.update(task, completed=s.global_step, info=info)

        return distiller.run(update)


# --------------------------------------------------------------------------- eval / info / card


def _print_eval(result) -> None:
    table = Table(title=f"{result.env_id}: one step from {len(result.per_init)} fresh inits ({result.architecture})")
    for col in ("mean", "std", "min", "max"):
        table.add_column(col, justify="right")
    if result.threshold is not None:
        table.add_column(f"inits ≥ {result.threshold:g}", justify="right")
    score = result.normalized_score
    if score is not None:
        table.add_column("normalised score (random 0, PPO 1)", justify="right")
    elif result.reference is not None:
        table.add_column(f"% of PPO ({result.reference:g})", justify="right")
    row = [f"{v:.1f}" for v in (result.mean, result.std, result.min, result.max)]
    if result.threshold is not None:
        row.append(f"{result.solved_fraction * 100:.0f} %")
    if score is not None:
        row.append(f"{score:.2f}")
    elif result.reference is not None:
        pct = result.percent_of_reference
        row.append("-" if pct is None else f"{pct:.1f} %")
    table.add_row(*row)
    console.print(table)


@app.command(
    name="eval",
    epilog=(
        "Examples:\n\n"
        "  distillhub eval runs/CartPole-v1-256 --inits 20\n\n"
        "  distillhub eval runs/CartPole-v1-256 --arch mlp:256-256:relu --init kaiming   # teach another learner\n\n"
        "  distillhub eval runs/CartPole-v1-256 --learners held-out --plot learners.png  # a table per learner family\n\n"
        "  distillhub eval runs/CartPole-v1-256 --arch mlp:64-64-64-64-64:relu --init kaiming --inner-step auto  # an older head batch\n\n"
        "  distillhub eval user/cartpole-256 --revision main --json"
    ),
)
def eval_cmd(
    source: Annotated[str, typer.Argument(help="Batch folder or Hub dataset repo id.")],
    inits: Annotated[int, typer.Option(help="Fresh learner inits (per learner with --learners).")] = 20,
    episodes: Annotated[
        int,
        typer.Option(
            help="Episodes per init; an init solves when its mean reaches the env's threshold (gymnasium's thresholds "
            "are 100-episode means: use 100 to judge as it does)."
        ),
    ] = 5,
    arch: Annotated[str | None, typer.Option(help="Teach another architecture than the recorded one.")] = None,
    init: Annotated[str | None, typer.Option(help="Another init scheme than the recorded one.")] = None,
    learners: Annotated[
        str | None,
        typer.Option(help="Evaluate every learner of a distribution: zoo, held-out, distilled (the batch's own), or arch@init,..."),
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="With --learners: draw the per-learner table to this PNG.")] = None,
    inner_step: Annotated[
        str | None,
        typer.Option(help="Step the learners with this rule instead of the batch's own (e.g. auto on a head batch: fit for the learners its head step cannot fit)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Selects the inits and env seeds (never those of training).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
    revision: Annotated[str | None, typer.Option(help="Hub revision (branch, tag, commit).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    update_card: Annotated[bool, typer.Option(help="Store the result in a local folder's batch and card.")] = False,
    allow_import: Annotated[
        bool, typer.Option(help="Let a batch whose env id is module:EnvId import that module (runs its code).")
    ] = False,
    video: Annotated[
        bool, typer.Option(help="Record one greedy episode as replay.mp4/.gif in the (local) folder and its card.")
    ] = False,
):
    """Evaluate a batch: K fresh inits, one step each, E greedy episodes in the real env."""

    def _eval():
        from distillhub.batch import check_step_rule, with_inner_step
        from distillhub.distill import resolve_device
        from distillhub.errors import DistillhubError
        from distillhub.evaluate import evaluate, evaluate_learners
        from distillhub.loader import is_local, load_batch

        # every check that needs no work first
        if (update_card or video) and not is_local(source):
            flag = "--update-card" if update_card else "--video"
            raise DistillhubError(f"{flag} needs a local folder; 'distillhub pull' it first, then re-push after updating")
        if plot is not None and learners is None:
            raise DistillhubError("--plot draws the per-learner table; add --learners (e.g. --learners held-out)")
        if learners is not None and (arch or init):
            raise DistillhubError("--learners and --arch/--init exclude each other: name the learners in --learners")
        if inner_step is not None:
            if update_card or video:
                raise DistillhubError(
                    "--inner-step evaluates under another rule than the batch records; drop --update-card/--video "
                    "(the card describes the batch's own rule)"
                )
            check_step_rule(inner_step)
        dev = resolve_device(device)
        batch = load_batch(source, revision=revision)
        if inner_step is not None:
            batch = with_inner_step(batch, inner_step)
        if video:
            from distillhub.batch import save_card
            from distillhub.card import render_card
            from distillhub.replay import record_replay

            paths = record_replay(batch, Path(source), allow_import=allow_import)
            save_card(Path(source), render_card(batch, folder=Path(source)))
            if not as_json:
                console.print(f"Wrote {escape(str(paths[0]))} and {escape(str(paths[1]))}", highlight=False)
        if learners is None:
            result = evaluate(
                batch, inits=inits, episodes=episodes, arch=arch, init=init, seed=seed, device=dev,
                allow_import=allow_import,
            )  # fmt: skip
            if as_json:
                print(json.dumps({**result.summary(), "inner_step": batch.inner_step, "per_init": result.per_init}))
            else:
                _print_eval(result)
            if update_card:
                batch.extra["eval"] = result.summary()
                _update_card(batch, Path(source))
            return
        from distillhub.population import check_learners, parse_learners

        entries = parse_learners(
            ",".join(batch.learner_labels) if learners == "distilled" else learners, len(batch.obs_shape) > 1, batch.architecture, batch.init
        )
        check_learners(entries, batch.obs_shape, batch.n_outputs)  # every spec builds before any work
        if plot is not None:
            from distillhub.plots import check_plot_path

            check_plot_path(plot)
        progress = None if as_json else (lambda label: err_console.print(f"evaluating {escape(label)}…", highlight=False))
        results = evaluate_learners(
            batch, entries, inits=inits, episodes=episodes, seed=seed, device=dev, allow_import=allow_import,
            progress=progress,
        )  # fmt: skip
        distilled = set(batch.learner_labels)
        rows = {label: {**r.summary(), "in_distribution": label in distilled} for label, r in results.items()}
        if as_json:
            print(json.dumps({"learners": rows, "inner_step": batch.inner_step}))
        else:
            _print_learner_table(batch.env_id, rows)
        from distillhub.plots import LEARNERS_FILE, plot_learners

        title = f"{batch.env_id}: one step from fresh inits, per learner"
        if plot is not None:
            plot_learners(rows, plot, title=title)
            if not as_json:
                console.print(f"Wrote {escape(str(plot))}", highlight=False)
        if update_card:
            batch.extra["eval_learners"] = rows
            plot_learners(rows, Path(source) / LEARNERS_FILE, title=title)  # the card embeds it
            _update_card(batch, Path(source))

    run_guarded(_eval)


def _update_card(batch, folder: Path) -> None:
    """Store eval results in the header and the card; the parquet rows are left as they are."""
    from distillhub.batch import SAFETENSORS_FILE, save_card, save_safetensors
    from distillhub.card import render_card

    save_safetensors(batch, folder / SAFETENSORS_FILE)
    save_card(folder, render_card(batch, folder=folder))


def _print_learner_table(env_id: str, rows: dict) -> None:
    any_row = next(iter(rows.values()))
    table = Table(title=f"{env_id}: one step from {any_row['inits']} fresh inits per learner")
    table.add_column("learner (arch@init)")
    table.add_column("distilled for", justify="center")
    for col in ("mean", "worst init"):
        table.add_column(col, justify="right")
    if "threshold" in any_row:
        table.add_column(f"inits ≥ {any_row['threshold']:g}", justify="right")
    for label, r in rows.items():
        row = [escape(label), "yes" if r["in_distribution"] else "no", f"{r['mean']:.1f}", f"{r['min']:.1f}"]
        if "threshold" in r:
            row.append(f"{r['solved_fraction'] * 100:.0f} %")
        table.add_row(*row)
    console.print(table)


@app.command(
    epilog="Examples:\n\n  distillhub info runs/CartPole-v1-256\n\n  distillhub info user/cartpole-256 --json"
)
def info(
    source: Annotated[str, typer.Argument(help="Batch folder or Hub dataset repo id.")],
    revision: Annotated[str | None, typer.Option(help="Hub revision (branch, tag, commit).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
):
    """Print a batch's card summary: env, shapes, learner, learning rate, results (reads only the header)."""

    def _info():
        from distillhub.loader import load_summary

        block = load_summary(source, revision=revision)
        if as_json:
            print(json.dumps(block))
            return
        table = Table(title=escape(f"{source}"), show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key, value in block.items():
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            table.add_row(escape(key), escape(text))
        console.print(table)

    run_guarded(_info)


@app.command(epilog="Example:\n\n  distillhub card runs/CartPole-v1-256 --repo-id user/cartpole-256")
def card(
    folder: Annotated[Path, typer.Argument(help="Batch folder.")],
    repo_id: Annotated[str | None, typer.Option(help="Hub id shown in the card's snippets.")] = None,
):
    """Re-render a folder's README.md dataset card from its batch (only the card is rewritten)."""

    def _card():
        from distillhub.batch import CARD_FILE, load_folder, save_card
        from distillhub.card import render_card

        batch = load_folder(folder)
        save_card(folder, render_card(batch, repo_id, folder=folder))
        console.print(f"Wrote {escape(str(folder / CARD_FILE))}", highlight=False)

    run_guarded(_card)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  distillhub push runs/CartPole-v1-256 alice/cartpole-256\n\n"
        "  distillhub push runs/CartPole-v1-256 alice/cartpole-256 --private --tag v1\n\n"
        "  HF_TOKEN=hf_... distillhub push runs/nd3 alice/cartpole-3d --revision experiments\n\n"
        "  distillhub push runs/CartPole-v1-256 alice/cartpole-256 --dry-run     # check, list files, upload nothing\n\n"
        "  distillhub push runs/CartPole-v1-256 bob/cartpole-256 --create-pr     # propose it to someone else's repo"
    )
)
def push(
    folder: Annotated[Path, typer.Argument(help="Batch folder written by 'distillhub distill'.")],
    repo_id: Annotated[str, typer.Argument(help="Hub dataset repo, user/name (created if missing).")],
    private: Annotated[bool, typer.Option(help="Create the repo private.")] = False,
    revision: Annotated[str | None, typer.Option(help="Branch to commit to (created if missing).")] = None,
    tag: Annotated[str | None, typer.Option(help="Tag the new commit.")] = None,
    commit_message: Annotated[str | None, typer.Option(help="Commit message.")] = None,
    token: Annotated[str | None, typer.Option(help="Hub token (default: HF_TOKEN or the saved login).")] = None,
    allow_import: Annotated[
        bool, typer.Option(help="The batch's env id is module:EnvId: let the check import that module.")
    ] = False,
    create_pr: Annotated[bool, typer.Option(help="Open a pull request instead of committing to the branch.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and list what would be uploaded; no token, no network.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
):
    """Validate a batch folder (files, env, learner) and publish it as a Hub dataset repo in one commit."""

    def _push():
        from distillhub.hub import push_folder

        info = push_folder(
            folder, repo_id, private=private, revision=revision, tag=tag, commit_message=commit_message, token=token,
            allow_import=allow_import, create_pr=create_pr, dry_run=dry_run,
        )  # fmt: skip
        if as_json:
            print(json.dumps(info))
        elif dry_run:
            console.print(f"Valid. Would upload to {escape(repo_id)}:", highlight=False)
            for name in info["files"]:
                console.print(f"  {escape(name)} ({info['sizes'][name]:,} bytes)", highlight=False)
        else:
            console.print(f"Pushed {escape(str(folder))} to {info['url']}", highlight=False)
            console.print(f"commit {info['commit']}", highlight=False)
            if info.get("pr_url"):
                console.print(f"pull request {info['pr_url']}", highlight=False)

    run_guarded(_push)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  distillhub pull alice/cartpole-256                      # into ./cartpole-256\n\n"
        "  distillhub pull alice/cartpole-256 runs/cp --revision v1"
    )
)
def pull(
    repo_id: Annotated[str, typer.Argument(help="Hub dataset repo, user/name.")],
    folder: Annotated[Path | None, typer.Argument(help="Where to put it (default: ./NAME, the repo's name).")] = None,
    revision: Annotated[str | None, typer.Option(help="Branch, tag or commit id.")] = None,
    token: Annotated[str | None, typer.Option(help="Hub token for private repos.")] = None,
):
    """Download a batch folder from the Hub (through the Hub cache) and check it."""

    def _pull():
        from distillhub.hub import pull_folder

        out = pull_folder(repo_id, folder or Path(repo_id.split("/")[-1]), revision=revision, token=token)
        console.print(f"Pulled {escape(repo_id)} into {escape(str(out))}", highlight=False)

    run_guarded(_pull)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
