"""The epoch loop: batches, penalties, stopping rules and the training history.

One epoch, as :meth:`Trainer.run` performs it::

    start_epoch:  shuffle the row order
    each batch:   forward (dropout masks drawn) -> loss and delta(L) -> backward
                  -> penalty gradients -> solver.step
    end_epoch:    record the loss (and validation score), apply the stopping rule

The objective is ``data_loss + penalty / n`` where ``data_loss`` is the
(sample-weighted) mean loss, ``n`` the number of samples (or the sum of the
sample weights) passed to fit, and ``penalty = 0.5 * l2 * sum(W**2) + l1 *
sum(|W|)`` over weights, never biases. Every batch's gradient is the
gradient of its mean loss plus the full penalty gradient divided by ``n``,
so the penalty means the same whatever the batch size.
"""

import math
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

NON_FINITE_MESSAGE = (
    "The training loss became non-finite (inf or NaN) at epoch {epoch}: training "
    "diverged. Try a smaller learning_rate_init, or scale the inputs (for example "
    "with sklearn.preprocessing.StandardScaler)."
)


@dataclass
class History:
    """What training remembers across calls, as plain values."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    validation_losses: list | None = None
    # One array per epoch: the RMS of each layer's weight gradient, averaged over batches.
    gradient_norms: list = field(default_factory=list)
    best_loss: float = math.inf
    best_validation_score: float = -math.inf
    no_improvement_count: int = 0
    samples_seen: int = 0


class Trainer:
    """Runs epochs of mini-batch gradient descent on a network.

    Parameters
    ----------
    network : Network
    loss : loss object from ``skbackprop._losses``, paired with the network's output
    solver : solver object from ``skbackprop._solvers`` over ``network.params``
    batch_size : int
    l1, l2 : float
        Penalty strengths.
    penalty_scale : float
        The ``n`` that divides the penalty.
    shuffle : bool
    rng : numpy.random.Generator
        Shuffling and dropout masks.
    tol, n_iter_no_change : stopping rule (see ``_end_epoch``).
    validation_data : tuple ``(X, Y, sample_weight)`` or None
        Held-out rows; their loss (with the penalty, like the training loss)
        is recorded after every epoch.
    validation_score : callable or None
        ``validation_score(validation_loss)`` scores the network on the
        held-out rows (higher is better). It drives the stopping rule and the
        best weights are restored at the end.
    clip_gradient_norm : float or None
        Rescale each step's whole gradient to at most this global L2 norm.
    hooks : object or None
        ``hooks.begin_epoch()`` before each epoch and ``hooks.end_epoch()``
        after it; the latter returning True stops training.
    verbose : int
    """

    def __init__(
        self,
        network,
        loss,
        solver,
        *,
        batch_size,
        l1,
        l2,
        penalty_scale,
        shuffle,
        rng,
        tol,
        n_iter_no_change,
        validation_data=None,
        validation_score=None,
        clip_gradient_norm=None,
        hooks=None,
        verbose=0,
    ):
        self.network = network
        self.loss = loss
        self.solver = solver
        self.batch_size = batch_size
        # Python floats: numpy float64 scalars would slow float32 updates (see _solvers).
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.penalty_scale = float(penalty_scale)
        self.shuffle = shuffle
        self.rng = rng
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.validation_data = validation_data
        self.validation_score = validation_score
        self.clip_gradient_norm = clip_gradient_norm
        self.hooks = hooks
        self.verbose = verbose
        self._penalty_scratch = np.empty_like(network.weights)
        # Flat views of each layer's weight gradient, and the per-layer sums of
        # their RMS over the epoch's batches (plain floats: this runs every batch).
        self._flat_weight_grads = [grad.reshape(-1) for grad in network.grad_coefs]
        self._gradient_rms_sums = [0.0] * len(network.coefs)

    def run(self, X, Y, sample_weight, max_epochs, history, rows=None):
        """Train for at most ``max_epochs`` epochs, updating ``history`` in place.

        ``rows`` (indices) restricts training to those rows of X. Returns
        ``(n_epochs, stopped)``: the epochs completed and whether the stopping
        rule ended training before ``max_epochs``.
        """
        batches = _Batches(
            X, Y, sample_weight, self.batch_size, self.shuffle, self.network.dtype, rows
        )
        params = self.network.params
        # The weights training ends with if interrupted or validated: those of the
        # best epoch on validation data, else of the last complete epoch.
        self._kept_params = params.copy()
        n_epochs, stopped, interrupted = 0, False, False
        # Overflow is detected and reported by the loss check, not by numpy warnings.
        with np.errstate(over="ignore", invalid="ignore"), _CtrlC() as ctrl_c:
            while n_epochs < max_epochs and not stopped:
                started = time.perf_counter()
                if self.hooks is not None:
                    self.hooks.begin_epoch()
                data_loss = self._run_epoch(batches, n_epochs + 1, ctrl_c)
                if data_loss is None:
                    interrupted = True
                    break
                n_epochs += 1
                stopped = self._end_epoch(data_loss, batches, history, started)
                if self.hooks is not None and self.hooks.end_epoch():
                    stopped = True
                if self.validation_score is None:
                    self._kept_params[...] = params
                if ctrl_c.pressed:
                    interrupted = True
                    break
        if interrupted:
            self._warn_interrupted(n_epochs)
            stopped = True
        if interrupted or self.validation_score is not None:
            params[...] = self._kept_params
        return n_epochs, stopped

    def _warn_interrupted(self, n_epochs):
        if n_epochs == 0:
            # Nothing was learned: abort, and the estimator keeps its previous state.
            raise KeyboardInterrupt
        kept = "the best epoch on validation data" if self.validation_score else "that epoch"
        warnings.warn(
            f"Training interrupted by the user after {n_epochs} complete epochs; keeping "
            f"the weights of {kept}.",
            UserWarning,
            stacklevel=4,
        )

    def _run_epoch(self, batches, epoch, ctrl_c):
        """One pass over the batches; returns the mean data loss, or None if interrupted."""
        if self.shuffle:
            self.rng.shuffle(batches.order)
        try:
            return self._run_batches(batches, epoch, ctrl_c)
        except KeyboardInterrupt:
            # Raised directly where no handler could be installed (not the main thread).
            return None

    def _run_batches(self, batches, epoch, ctrl_c):
        total_loss = 0.0
        self._gradient_rms_sums = [0.0] * len(self._flat_weight_grads)
        self._n_batches = 0
        for X_batch, Y_batch, scale, batch_weight in batches:
            ws = self.network.forward(X_batch, training=True, rng=self.rng)
            batch_loss = self.loss.value(
                ws.logits, ws.output, Y_batch, scale, ws.output_delta, ws.stats
            )
            if not math.isfinite(batch_loss):
                raise ValueError(NON_FINITE_MESSAGE.format(epoch=epoch))
            self.loss.output_delta(ws.output, Y_batch, scale, ws.output_delta)
            self.network.backward(X_batch, ws)
            self._add_penalty_gradient()
            self._record_gradient_norms()
            if self.clip_gradient_norm is not None:
                self._clip_gradient()
            self.solver.step(self.network.grads)
            total_loss += batch_loss * batch_weight
            if ctrl_c.pressed:
                return None
        if not np.isfinite(self.network.params).all():
            raise ValueError(NON_FINITE_MESSAGE.format(epoch=epoch))
        return total_loss / batches.total_weight

    def _add_penalty_gradient(self):
        weights, grads = self.network.weights, self.network.weight_grads
        scratch = self._penalty_scratch
        if self.l2:
            np.multiply(weights, self.l2 / self.penalty_scale, out=scratch)
            grads += scratch
        if self.l1:
            np.sign(weights, out=scratch)
            scratch *= self.l1 / self.penalty_scale
            grads += scratch

    def _record_gradient_norms(self):
        # Before clipping, so exploding gradients show even when clipped.
        sums = self._gradient_rms_sums
        for index, flat in enumerate(self._flat_weight_grads):
            sums[index] += math.sqrt(np.dot(flat, flat) / flat.size)
        self._n_batches += 1

    def _clip_gradient(self):
        grads = self.network.grads
        norm = math.sqrt(float(np.dot(grads, grads)))
        if norm > self.clip_gradient_norm:
            grads *= self.clip_gradient_norm / norm

    def validation_loss(self):
        """Mean loss (sample-weighted) on the validation rows, plus the penalty."""
        X, Y, sample_weight = self.validation_data
        total = 0.0
        weight_sum = len(X) if sample_weight is None else float(sample_weight.sum())
        chunk = max(self.batch_size, 1024)
        for start in range(0, X.shape[0], chunk):
            rows = slice(start, start + chunk)
            ws = self.network.forward(X[rows])
            if sample_weight is None:
                scale = 1.0 / weight_sum
            else:
                scale = (sample_weight[rows] / weight_sum)[:, None].astype(ws.logits.dtype)
            total += self.loss.value(
                ws.logits, ws.output, Y[rows], scale, ws.output_delta, ws.stats
            )
        return total + self.penalty()

    def penalty(self):
        """The penalty term of the objective at the current weights."""
        weights = self.network.weights
        value = 0.0
        if self.l2:
            value += 0.5 * self.l2 * float(np.dot(weights, weights))
        if self.l1:
            value += self.l1 * float(np.abs(weights).sum())
        return value / self.penalty_scale

    def _end_epoch(self, data_loss, batches, history, started):
        """Record the epoch and apply the stopping rule; True means stop.

        The rule counts epochs in a row in which the watched quantity (the
        validation score if any, else the training loss) failed to improve on
        its best value by ``tol``; after ``n_iter_no_change`` of them the
        solver either stops or (adaptive learning rate) lowers its rate.
        """
        loss = data_loss + self.penalty()
        history.loss_curve.append(loss)
        history.gradient_norms.append(np.array(self._gradient_rms_sums) / max(self._n_batches, 1))
        history.samples_seen += batches.n_rows
        validation_loss = None
        if self.validation_data is not None:
            validation_loss = self.validation_loss()
            history.validation_losses.append(validation_loss)
        if self.validation_score is not None:
            score = float(self.validation_score(validation_loss))
            history.validation_scores.append(score)
            improved = score > history.best_validation_score + self.tol
            if score > history.best_validation_score:
                history.best_validation_score = score
                self._kept_params[...] = self.network.params
        else:
            improved = loss < history.best_loss - self.tol
            history.best_loss = min(history.best_loss, loss)
        history.no_improvement_count = 0 if improved else history.no_improvement_count + 1
        if self.verbose:
            self._print_epoch(history, started)
        self.solver.end_epoch(history.samples_seen)
        if history.no_improvement_count >= self.n_iter_no_change:
            if self.solver.stalled():
                return True
            history.no_improvement_count = 0
        return False

    @staticmethod
    def _print_epoch(history, started):
        line = f"Epoch {len(history.loss_curve)}, loss = {history.loss_curve[-1]:.8f}"
        if history.validation_losses:
            line += f", validation loss = {history.validation_losses[-1]:.8f}"
        if history.validation_scores:
            line += f", validation score = {history.validation_scores[-1]:.6f}"
        print(f"{line}, {time.perf_counter() - started:.2f}s", flush=True)


class _CtrlC:
    """Turns Ctrl-C during training into a request to stop after the current batch.

    In the main thread a SIGINT handler records the request (a second Ctrl-C
    raises KeyboardInterrupt as usual); elsewhere no handler can be installed
    and the epoch loop catches the KeyboardInterrupt itself.
    """

    def __enter__(self):
        self.pressed = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class _Batches:
    """Mini-batches of ``(X, Y, scale, weight)`` over the rows ``order``.

    ``scale`` is what the loss multiplies each row by: ``1 / n_batch``, or the
    column ``w_i / sum(w)`` with sample weights; ``weight`` is the batch's
    share of the epoch's total (rows, or summed sample weights). ``rows``
    restricts training to a subset (the rest held out for validation)
    without copying X.
    """

    def __init__(self, X, Y, sample_weight, batch_size, shuffle, dtype, rows=None):
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.order = np.arange(X.shape[0]) if rows is None else np.array(rows)
        self.n_rows = len(self.order)
        self.batch_size = min(batch_size, self.n_rows)
        self.shuffle = shuffle
        # In order and over all rows, batches are views; otherwise dense rows are
        # gathered into buffers made once (sparse batches are new matrices anyway).
        self._gather = shuffle or rows is not None
        if sample_weight is None:
            self.total_weight = self.n_rows
        else:
            self.total_weight = float(sample_weight[self.order].sum())

        def buffer(width):
            return np.empty((self.batch_size, width), dtype) if self._gather else None

        self._X_buffer = None if sp.issparse(X) else buffer(X.shape[1])
        self._Y_buffer = buffer(Y.shape[1])
        self._weight_buffer = np.empty(self.batch_size, dtype)

    def _rows(self, array, index, buffer):
        if not self._gather:
            if buffer is None:
                return array[index]
            out = buffer[: index.stop - index.start]
            np.copyto(out, array[index])
            return out
        if buffer is None:
            return array[self.order[index]]
        # mode="clip" (the indices are valid anyway) stops take from buffering `out`.
        out = buffer[: index.stop - index.start]
        return array.take(self.order[index], axis=0, out=out, mode="clip")

    def __iter__(self):
        for start in range(0, self.n_rows, self.batch_size):
            index = slice(start, min(start + self.batch_size, self.n_rows))
            size = index.stop - index.start
            X_batch = self._rows(self.X, index, self._X_buffer)
            Y_batch = self._rows(self.Y, index, self._Y_buffer)
            if self.sample_weight is None:
                yield X_batch, Y_batch, 1.0 / size, size
                continue
            weights = self._rows(self.sample_weight, index, self._weight_buffer)
            batch_weight = float(weights.sum())
            # An all-zero-weight batch carries no data gradient, only the penalty's.
            weights *= 1.0 / batch_weight if batch_weight > 0 else 0.0
            yield X_batch, Y_batch, weights[:, None], batch_weight
