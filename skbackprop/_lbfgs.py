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
        last = {}  # the latest evaluation: scipy's callback gets only the point
        accepted = {"x": self.network.params.astype(np.float64), "n": 0}
        hook_epoch = {"open": False}  # an epoch hook begun, not yet ended

        def fun(x):
            value, grad = self.objective(x, X, Y, scale)
            self._gradient_rms_sums = [0.0] * len(self._flat_weight_grads)
            self._n_batches = 0
            self._record_gradient_norms()
            last.update(x=x.copy(), value=value, norms=np.array(self._gradient_rms_sums))
            return value, grad

        def callback(x):
            if not np.array_equal(x, last.get("x")):
                fun(x)
            history.loss_curve.append(last["value"])
            history.gradient_norms.append(last["norms"])
            history.samples_seen += X.shape[0]
            history.best_loss = min(history.best_loss, last["value"])
            accepted.update(x=x.copy(), n=accepted["n"] + 1)
            if self.verbose:
                print(
                    f"Iteration {len(history.loss_curve)}, loss = {last['value']:.8f}", flush=True
                )
            if ctrl_c.pressed:
                raise _Interrupted
            if self.hooks is not None:
                hook_epoch["open"] = False
                if self.hooks.end_epoch():
                    raise _Stopped
                if accepted["n"] < max_epochs:  # another iteration may follow
                    self.hooks.begin_epoch()
                    hook_epoch["open"] = True

        self.stop_reason = None
        # Every evaluation sees the one full batch, so batch normalization's running
        # statistics are simply the latest evaluation's: those at the final weights.
        self.network.keep_latest_statistics()
        guard = _CtrlC() if ctrl_c is None else contextlib.nullcontext(ctrl_c)
        # Overflow is detected and reported by the finiteness checks, not by numpy warnings.
        with np.errstate(over="ignore", invalid="ignore", under="ignore"), guard as ctrl_c:
            if self.hooks is not None:
                self.hooks.begin_epoch()
                hook_epoch["open"] = True
            try:
                result = minimize(
                    fun,
                    accepted["x"].copy(),
                    method="L-BFGS-B",
                    jac=True,
                    callback=callback,
                    options={"maxiter": max_epochs, "maxfun": self.max_fun, "gtol": self.tol},
                )
            except (_Interrupted, _Stopped, KeyboardInterrupt) as stopped:
                if accepted["n"] == 0:
                    raise KeyboardInterrupt from None
                self.objective(accepted["x"], X, Y, scale)  # back to the last accepted point
                if isinstance(stopped, _Stopped):
                    self.stop_reason = "a callback asked to stop"
                else:
                    self.stop_reason = "interrupted"
                    self._warn_interrupted(accepted["n"])
                if self.verbose:
                    self._print_stop(accepted["n"], max_epochs, history)
                return accepted["n"], True
            if hook_epoch["open"]:  # scipy stopped before the iteration begun last
                self.hooks.end_epoch()
            value, _ = fun(result.x)  # leaves the network at the result
            if not math.isfinite(value):
                raise ValueError(
                    NON_FINITE_MESSAGE.format(epoch=accepted["n"], what="training loss")
                )
            self.check_outputs(accepted["n"])
        if not history.loss_curve:  # stopped before its first step: record where it stands
            history.loss_curve.append(value)
            history.gradient_norms.append(last["norms"])
        if result.status == 0:
            self.stop_reason = f"L-BFGS converged ({_text(result.message)})"
        else:
            self.limit_message = _text(result.message)
        if self.verbose:
            self._print_stop(accepted["n"], max_epochs, history)
        return accepted["n"], self.stop_reason is not None

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


def _text(message):
    return message.decode() if isinstance(message, bytes) else str(message)
