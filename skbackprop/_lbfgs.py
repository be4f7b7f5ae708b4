"""Full-batch L-BFGS over the flat parameter buffer (``solver="lbfgs"``).

scipy's L-BFGS-B minimises the same objective as the stochastic solvers,
``data_loss + penalty / n`` over every training row at once, from its value
and exact gradient (the network's backward pass plus the penalty's
gradient). It works in float64 whatever the network's dtype. One iteration
is one accepted L-BFGS step (it may evaluate the objective several times);
``history.loss_curve`` records the objective at each accepted point, which
scikit-learn's MLP does not.

``max_epochs`` bounds the iterations and ``max_fun`` the evaluations, as in
scikit-learn; ``tol`` is the projected-gradient tolerance (``gtol``). There
are no batches, shuffling or dropout, and no validation split. The epoch
hooks (scikit-learn's callbacks) run once per iteration, and one that asks
to stop ends the optimisation at that iteration's point.
"""

import contextlib
import math

import numpy as np
from scipy.optimize import minimize

from ._training import NON_FINITE_MESSAGE, Trainer, _CtrlC, output_limit


class _Interrupted(Exception):
    """Raised from scipy's callback to leave the optimiser on Ctrl-C."""


class _Stopped(Exception):
    """Raised from scipy's callback to leave the optimiser when an epoch hook asks to."""


class LbfgsTrainer(Trainer):
    """Runs scipy's L-BFGS-B on a network; the same interface as :class:`Trainer`.

    ``max_fun`` bounds the objective's evaluations. ``solver`` is None.
    """

    def __init__(self, *args, max_fun, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_fun = max_fun
        # Why the optimiser stopped, when it stopped on a limit (max_iter or max_fun).
        self.limit_message = None

    def objective(self, x, X, Y, scale):
        """The objective at parameters ``x`` and its gradient, both float64."""
        self.network.params[...] = x
        value = self._gradient(X, Y, scale, self.rng)
        return value, self.network.grads.astype(np.float64)

    def run(self, data, max_epochs, history, ctrl_c=None):
        """At most ``max_epochs`` L-BFGS iterations on all of ``data``; as Trainer.run."""
        X, Y, weights = data.X, data.Y, data.sample_weight
        self.output_limit = output_limit(Y)
        if weights is None:
            scale = 1.0 / X.shape[0]
        else:
            scale = (weights / weights.sum())[:, None].astype(self.network.dtype)
        self.stop_reason = None
        # Every evaluation sees the one full batch, so batch normalization's running
        # statistics are simply the latest evaluation's: those at the final weights.
        guard = _CtrlC() if ctrl_c is None else contextlib.nullcontext(ctrl_c)
        # Overflow is detected and reported by the finiteness checks, not by numpy warnings.
        with (
            self.network.latest_statistics(),
            np.errstate(over="ignore", invalid="ignore", under="ignore"),
            guard as ctrl_c,
        ):
            run = _Iterations(self, X, Y, scale, history, max_epochs, ctrl_c)
            run.begin_epoch()
            try:
                result = minimize(
                    run.evaluate,
                    run.accepted.copy(),
                    method="L-BFGS-B",
                    jac=True,
                    callback=run.accept,
                    options={"maxiter": max_epochs, "maxfun": self.max_fun, "gtol": self.tol},
                )
            except (_Interrupted, _Stopped, KeyboardInterrupt) as stopped:
                return self._stopped_early(run, stopped), True
            value = run.finish(result)
        if not history.loss_curve:  # stopped before its first step: record where it stands
            history.loss_curve.append(value)
            history.gradient_norms.append(run.last["norms"])
        if result.status == 0:
            self.stop_reason = f"L-BFGS converged ({_text(result.message)})"
        else:
            self.limit_message = _text(result.message)
        if self.verbose:
            self._print_stop(run.n_accepted, max_epochs, history)
        return run.n_accepted, self.stop_reason is not None

    def _stopped_early(self, run, stopped):
        """Back to the last accepted point after an interrupt or a callback's stop."""
        if run.n_accepted == 0:
            raise KeyboardInterrupt from None
        self.objective(run.accepted, run.X, run.Y, run.scale)
        if isinstance(stopped, _Stopped):
            self.stop_reason = "a callback asked to stop"
        else:
            self.stop_reason = "interrupted"
            self._warn_interrupted(run.n_accepted)
        if self.verbose:
            self._print_stop(run.n_accepted, run.max_epochs, run.history)
        return run.n_accepted

    def limit_reached(self, max_epochs):
        """The rule that stopped scipy short of convergence, in the estimator's words."""
        message = self.limit_message or ""
        # scipy's wording changed case between versions ("NO. of f AND g EVALUATIONS").
        words = message.upper()
        if "ITERATIONS" in words and "LIMIT" in words:
            return f"Reached the maximum number of iterations (max_iter={max_epochs})"
        if "EVALUATIONS" in words and "LIMIT" in words:
            return f"Reached the maximum number of loss evaluations (max_fun={self.max_fun})"
        if "ABNORMAL" in words:
            return f"The line search found no lower loss ({message})"
        return f"L-BFGS stopped ({message})"


class _Iterations:
    """One L-BFGS run's state between scipy's calls.

    scipy's callback gets only the point it accepted: the latest evaluation
    (``last``) is kept to record the loss and gradient norms of that point,
    ``accepted`` is the last accepted point, and an epoch hook opened for an
    iteration that scipy never runs is closed at the end.
    """

    def __init__(self, trainer, X, Y, scale, history, max_epochs, ctrl_c):
        self.trainer, self.X, self.Y, self.scale = trainer, X, Y, scale
        self.history, self.max_epochs, self.ctrl_c = history, max_epochs, ctrl_c
        self.last = {}
        self.accepted = trainer.network.params.astype(np.float64)
        self.n_accepted = 0
        self.epoch_open = False

    def begin_epoch(self):
        if self.trainer.hooks is not None:
            self.trainer.hooks.begin_epoch()
            self.epoch_open = True

    def evaluate(self, x):
        """scipy's objective: the loss and gradient at ``x``, kept with the gradient norms."""
        trainer = self.trainer
        value, grad = trainer.objective(x, self.X, self.Y, self.scale)
        trainer._gradient_rms_sums = [0.0] * len(trainer._flat_weight_grads)
        trainer._n_batches = 0
        trainer._record_gradient_norms()
        self.last.update(x=x.copy(), value=value, norms=np.array(trainer._gradient_rms_sums))
        return value, grad

    def accept(self, x):
        """scipy's callback after each iteration: record it as an epoch, and run the hooks."""
        if not np.array_equal(x, self.last.get("x")):
            self.evaluate(x)
        history, trainer = self.history, self.trainer
        history.loss_curve.append(self.last["value"])
        history.gradient_norms.append(self.last["norms"])
        history.samples_seen += self.X.shape[0]
        history.best_loss = min(history.best_loss, self.last["value"])
        self.accepted, self.n_accepted = x.copy(), self.n_accepted + 1
        if trainer.verbose:
            print(
                f"Iteration {len(history.loss_curve)}, loss = {self.last['value']:.8f}", flush=True
            )
        if self.ctrl_c.pressed:
            raise _Interrupted
        if trainer.hooks is not None:
            self.epoch_open = False
            if trainer.hooks.end_epoch():
                raise _Stopped
            if self.n_accepted < self.max_epochs:  # another iteration may follow
                self.begin_epoch()

    def finish(self, result):
        """Leave the network at scipy's result; its loss, checked."""
        if self.epoch_open:  # scipy stopped before the iteration begun last
            self.trainer.hooks.end_epoch()
        value, _ = self.evaluate(result.x)
        if not math.isfinite(value):
            raise ValueError(NON_FINITE_MESSAGE.format(epoch=self.n_accepted, what="training loss"))
        self.trainer.check_outputs(self.n_accepted)
        return value


def _text(message):
    return message.decode() if isinstance(message, bytes) else str(message)
