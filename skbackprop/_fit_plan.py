"""What a fit runs, decided from the estimator's parameters: the model layer's training half.

Beside :mod:`skbackprop._model` (the network and the fitted arrays), this
module turns the estimator's parameters into the training core's objects,
and keeps the solver-kind decisions in one place:

- :func:`solver_to_train`: the solver, resuming its saved state (None for
  lbfgs, which scipy runs);
- :func:`trainer_for`: the mini-batch :class:`~skbackprop._training.Trainer`
  or the :class:`~skbackprop._lbfgs.LbfgsTrainer`, with the penalties as
  the solver takes them;
- :func:`fit_threads`: the BLAS threads of the fit;
- :func:`history_to_continue` and :func:`fitted_state`: the history a
  continued fit starts from, and the fitted state a fit leaves.

``params`` is the estimator's parameters as a mapping (its ``vars``).
"""

import functools

from ._lbfgs import LbfgsTrainer
from ._model import fitted_attributes
from ._network import steps
from ._solvers import make_solver
from ._threads import FitThreads
from ._training import History, Trainer

LBFGS = "lbfgs"


def early_stopping(params):
    """Whether the fit holds out validation data: never with lbfgs, as in scikit-learn."""
    return params["early_stopping"] and params["solver"] != LBFGS


def solver_to_train(params, n_weights, saved=None):
    """The solver, continuing ``saved`` (the fitted ``_solver_state``) if it is the same kind.

    None for lbfgs, which scipy runs.
    """
    if params["solver"] == LBFGS:
        return None
    # AdamW decays the weights itself: it needs to know where they end.
    solver = make_solver(params["solver"], **{**params, "n_weights": n_weights})
    if saved is not None and saved["solver"] == params["solver"]:
        solver.set_state(saved["state"])
    return solver


def trainer_for(params, network, loss, solver, data, rng, hooks, batch_size, validation):
    """The trainer of ``network``; ``validation``: ``(data, score)`` for early stopping, or None."""
    validation_data, validation_score = validation or (None, None)
    lbfgs = params["solver"] == LBFGS
    trainer_class = functools.partial(LbfgsTrainer, max_fun=params["max_fun"]) if lbfgs else Trainer
    return trainer_class(
        network,
        loss,
        solver,
        batch_size=batch_size,
        l1=params["l1"],
        # For adamw, l2 is a decay rate the solver applies, not a penalty in the gradient.
        l2=0.0 if params["solver"] == "adamw" else params["l2"],
        # The penalty is divided by the size of the data given to fit, validation part included.
        penalty_n_samples=data.total_weight,
        shuffle=params["shuffle"],
        rng=rng,
        tol=params["tol"],
        n_iter_no_change=params["n_iter_no_change"],
        validation_data=validation_data,
        validation_score=validation_score,
        clip_gradient_norm=params["clip_gradient_norm"],
        hooks=hooks,
        verbose=params["verbose"],
    )


def fit_threads(params, trainer, data):
    """The BLAS threads of this fit (see ``_threads``): measured where the bits allow.

    lbfgs multiplies every row at once and has no batches to time: size rule only.
    """
    if params["solver"] == LBFGS:
        return FitThreads(trainer.network.largest_product(data.n_rows, steps(data.X)))
    key, work = trainer.thread_probe(data)
    product = trainer.network.largest_product(trainer.batch_size, steps(data.X))
    return FitThreads(product, probe=work, probe_key=key)


def history_to_continue(params, fitted=None):
    """The training history to continue (empty without ``fitted``), and the epochs it dropped.

    A fit that early stopping (or an interrupt) ended on an earlier epoch
    than its last kept that epoch's weights; continuing from them, the
    history forgets the epochs after it, so that the curves describe the
    path to the weights the model holds.
    """
    history, dropped = History(), 0
    if fitted is not None:
        # Stored as plain values (see fitted_state) so that skops loads them.
        history = History.from_plain(fitted["_training_history"])
        if history.kept_epoch is not None:
            dropped = len(history.loss_curve) - history.kept_epoch["loss_curve"]
            history.rollback(history.kept_epoch)
            history.kept_epoch = None
    if early_stopping(params) and history.validation_scores is None:
        history.validation_scores, history.validation_losses = [], []
    return history, dropped


def fitted_state(params, trainer, solver, history, n_iter):
    """Every fitted attribute a fit leaves: the network's arrays, the curves, what resumes it."""
    return {
        **fitted_attributes(trainer.network),
        **history.fitted_attributes(early_stopping(params)),
        "n_iter_": n_iter,
        "loss_": history.loss_curve[-1],
        "_training_history": history.as_plain(),
        "_rng_state": trainer.rng.bit_generator.state,
        "_solver_state": {
            "solver": params["solver"],
            "state": {} if solver is None else solver.get_state(),
        },
        "learning_rate_": None if solver is None else next_rate(solver, history),
    }


def next_rate(solver, history):
    """The step size of the epoch a continued fit would run next (``learning_rate_``).

    That epoch follows the kept one (early stopping's best) where there is one.
    A user's schedule is not called beyond the epochs it trained (it may end
    there): for it, the solver's rate of the kept epoch.
    """
    kept = history.kept_epoch
    next_epoch = len(history.loss_curve) if kept is None else kept["loss_curve"]
    if callable(solver.schedule):
        return solver.rate
    return solver.rate_at(next_epoch)
