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

The loss recorded for an epoch is the objective as the batches met it: each
batch's data loss plus the penalty, both at the weights before that batch's
step, averaged over the epoch (weighted by rows or sample weights), as
scikit-learn's MLP reports it. With one full batch it is exactly the
objective at the weights the epoch started from.

A training run is kept in step with itself: a :class:`_Snapshot` holds the
weights *with* the solver state (Adam's moments, the momentum velocity, the
learning rate) and the history of one epoch, so whatever is rolled back
(an interrupt, early stopping's best epoch) continues exactly as that epoch
would have.
"""

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass, field, fields

import numpy as np
import scipy.sparse as sp

from . import _warnings
from ._threads import DOT_BLOCK, dot

# Outputs this many times the targets' scale (1 + max |Y|) are divergence, however finite:
# no fit that is converging comes near (logits of 1e10 saturate anything).
OUTPUT_LIMIT = 1e10
OUTPUT_LIMIT_MESSAGE = (
    "The network's outputs reached {value:.3g}, more than {limit:g} times the targets' "
    "scale, at epoch {epoch}: training diverged. Try a smaller learning_rate_init, or "
    "scale the inputs (for example with sklearn.preprocessing.StandardScaler)."
)
NON_FINITE_MESSAGE = (
    "The {what} became non-finite (inf or NaN) at epoch {epoch}: training "
    "diverged. Try a smaller learning_rate_init, or scale the inputs (for example "
    "with sklearn.preprocessing.StandardScaler)."
)


def recorded(attribute, type_doc, doc, *, when=None, as_array=False, **field_options):
    """A :class:`History` field that the estimators expose as ``attribute``.

    ``type_doc`` and ``doc`` document it (numpydoc, unindented). ``when`` is
    None to expose it always, True only with early stopping and False only
    without (None otherwise); ``as_array`` exposes a list as one ndarray.
    """
    metadata = {
        "attribute": attribute,
        "doc": doc,
        "when": when,
        "type_doc": type_doc,
        "as_array": as_array,
    }
    return field(metadata=metadata, **field_options)


@dataclass
class TrainingData:
    """The data of one fit: the rows training sees, and what the caller keeps with them.

    ``X`` (dense or CSR) and ``Y``, the targets as the loss reads them (one
    float column per output), share their dtype. ``rows`` restricts training
    to those row indices (the others held out for validation) without copying
    X. ``y`` is the targets as the caller gave them (class labels, say), kept
    for scoring; training never reads it.
    """

    X: object
    Y: np.ndarray
    sample_weight: np.ndarray | None = None
    rows: np.ndarray | None = None
    y: np.ndarray | None = None

    @property
    def n_rows(self):
        """The number of rows training sees."""
        return self.X.shape[0] if self.rows is None else len(self.rows)

    @property
    def total_weight(self):
        """Every row's weight summed (all rows, held-out ones included): the penalty's ``n``."""
        if self.sample_weight is None:
            return float(self.X.shape[0])
        return float(self.sample_weight.sum())


@dataclass
class History:
    """What training remembers across calls, as plain values.

    A field made by :func:`recorded` is also a fitted attribute of the
    estimators, documented by its ``doc``: to record a new curve, add the
    field here and append to it in :class:`Trainer`; the estimators expose
    and document it from this declaration.
    """

    loss_curve: list = recorded(
        "loss_curve_",
        "list of float",
        """``loss_`` after every epoch (accumulated over ``warm_start`` fits and
``partial_fit`` calls).""",
        default_factory=list,
    )
    best_loss: float = recorded(
        "best_loss_",
        "float or None",
        "Lowest ``loss_`` reached; None with ``early_stopping``.",
        when=False,
        default=math.inf,
    )
    validation_scores: list | None = recorded(
        "validation_scores_",
        "list of float or None",
        "Validation score ({score}) after every epoch; None without ``early_stopping``.",
        when=True,
        default=None,
    )
    best_validation_score: float = recorded(
        "best_validation_score_",
        "float or None",
        "Best validation score; None without ``early_stopping``.",
        when=True,
        default=-math.inf,
    )
    best_epoch: int | None = recorded(
        "best_epoch_",
        "int or None",
        """The epoch whose weights early stopping kept (1-based, counting the
epochs of earlier ``warm_start`` fits, as ``loss_curve_`` does); None
without ``early_stopping``.""",
        when=True,
        default=None,
    )
    validation_losses: list | None = recorded(
        "validation_loss_curve_",
        "list of float or None",
        """The objective (mean loss plus penalties) on the held-out data after
every epoch; None without ``early_stopping``.""",
        when=True,
        default=None,
    )
    gradient_norms: list = recorded(
        "gradient_norms_",
        "ndarray of shape (n_epochs, `n_layers_` - 1)",
        """For every epoch in ``loss_curve_`` and every layer, the root-mean-square of the layer's
weight gradient (penalty included, before clipping), averaged over the epoch's
batches. Vanishing gradients show as tiny values in the first layers,
exploding ones as huge values.""",
        as_array=True,
        default_factory=list,
    )
    samples_seen: int = recorded(
        "t_", "int", "Number of training samples seen by the solver.", default=0
    )
    no_improvement_count: int = 0
    # The bookmark of the epoch whose weights were kept when that is not the
    # last one (early stopping's best epoch): where a continued fit resumes.
    kept_epoch: dict | None = None

    def fitted_attributes(self, early_stopping):
        """The recorded fields as the estimators' fitted attributes, copied."""
        attributes = {}
        for item in fields(self):
            meta = item.metadata
            if "attribute" not in meta:
                continue
            value = getattr(self, item.name)
            if meta["when"] is not None and meta["when"] != early_stopping:
                value = None
            elif meta["as_array"]:
                value = np.array(value)
            elif isinstance(value, list):
                value = list(value)
            attributes[meta["attribute"]] = value
        return attributes

    @classmethod
    def attribute_docs(cls):
        """The numpydoc entries of the recorded fields, in declaration order."""
        entries = []
        for item in fields(cls):
            meta = item.metadata
            if "attribute" in meta:
                doc = "\n".join("    " + line for line in meta["doc"].splitlines())
                entries.append(f"{meta['attribute']} : {meta['type_doc']}\n{doc}\n")
        return "\n".join(entries)

    def as_plain(self):
        """The fields as plain values (lists and dicts copied, not their items).

        What the estimators store: skops loads plain values without trusting
        a class, and a continued fit appends to copies, so a failed one leaves
        the stored history as it was. Items are never changed once recorded.
        """
        return {item.name: _copied(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_plain(cls, values):
        """The history that :meth:`as_plain` returned ``values`` of."""
        return cls(**{name: _copied(value) for name, value in values.items()})

    def bookmark(self):
        """The history's state now, for :meth:`rollback`: list lengths and scalars."""
        return {
            name: len(value) if isinstance(value, list) else value
            for name, value in vars(self).items()
            if name != "kept_epoch"
        }

    def rollback(self, bookmark):
        """Forget everything recorded since ``bookmark()`` returned ``bookmark``."""
        for name, value in bookmark.items():
            current = getattr(self, name)
            if isinstance(current, list):
                del current[value:]
            else:
                setattr(self, name, value)


def _copied(value):
    """A list or dict copied (its items shared with the original), anything else as it is."""
    return type(value)(value) if isinstance(value, list | dict) else value


class _Snapshot:
    """The weights, solver state and random stream of one epoch, to go back to together."""

    def __init__(self, network, solver, rng):
        self.network, self.solver, self.rng = network, solver, rng
        self.params = network.snapshot()
        self.solver_state = solver.get_state()
        self.rng_state = rng.bit_generator.state
        self.epoch = 0

    def save(self, epoch):
        self.network.snapshot(out=self.params)
        self.solver_state = self.solver.get_state()
        self.rng_state = self.rng.bit_generator.state
        self.epoch = epoch

    def restore(self):
        self.network.restore(self.params)
        self.solver.set_state(self.solver_state)
        self.rng.bit_generator.state = self.rng_state


class Trainer:
    """Runs epochs of mini-batch gradient descent on a network.

    Parameters
    ----------
    network : Network
    loss : loss object from ``skbackprop._losses``, paired with the network's output
    solver : a :class:`skbackprop._solvers.Solver`, stepping ``network.params``
    batch_size : int
    l1, l2 : float
        Penalty strengths.
    penalty_n_samples : float
        The ``n`` that divides the penalty: the number of samples (or the sum
        of their weights) given to fit. Not to be confused with a batch's
        ``scale``, the ``1 / n_batch`` (or ``w_i / sum(w)``) that weighs each
        row in the batch's mean loss.
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
    threads : object or None
        If given, ``threads.before_batch()`` and ``threads.after_batch(n_rows)``
        around every batch: where :class:`skbackprop._threads.FitThreads`
        measures and chooses BLAS threads.
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
        penalty_n_samples,
        shuffle,
        rng,
        tol,
        n_iter_no_change,
        validation_data=None,
        validation_score=None,
        clip_gradient_norm=None,
        hooks=None,
        verbose=0,
        threads=None,
    ):
        self.network = network
        self.loss = loss
        self.solver = solver
        self.batch_size = batch_size
        # Python floats: numpy float64 scalars would slow float32 updates (see _solvers).
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.penalty_n_samples = float(penalty_n_samples)
        self.shuffle = shuffle
        self.rng = rng
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.validation_data = validation_data
        self.validation_score = validation_score
        self.clip_gradient_norm = clip_gradient_norm
        self.hooks = hooks
        self.verbose = verbose
        self.threads = None
        self._dot = np.dot
        self.use_threads(threads, blocked_reductions=True)
        self.output_limit = math.inf  # set from the targets by run()
        self._penalty_scratch = np.empty_like(network.weights)
        # Flat views of each layer's weight gradient, and the per-layer sums of
        # their RMS over the epoch's batches (plain floats: this runs every batch).
        self._flat_weight_grads = [grad.reshape(-1) for grad in network.weight_gradients]
        self._gradient_rms_sums = [0.0] * len(self._flat_weight_grads)

    def run(self, data, max_epochs, history, ctrl_c=None):
        """Train on ``data`` for at most ``max_epochs`` epochs, updating ``history`` in place.

        ``data`` is a :class:`TrainingData`; ``ctrl_c`` is the caller's open
        :class:`_CtrlC`, if any. Returns ``(n_epochs,
        stopped)``: the epochs completed and whether training ended before
        ``max_epochs``; ``self.stop_reason`` says why.

        Training ends with the weights, solver state and history of the last
        complete epoch, or of the best validated one with a validation score.
        A ``KeyboardInterrupt`` anywhere in the loop (Ctrl-C, a callback, end
        of epoch work) ends training there, with a warning; before the first
        complete epoch it propagates, as there is nothing to keep. A
        non-finite loss, penalty or weight raises ``ValueError``.
        """
        batches = _Batches(
            data.X,
            data.Y,
            data.sample_weight,
            self.batch_size,
            self.shuffle,
            self.network.dtype,
            data.rows,
        )
        self.output_limit = output_limit(data.Y)
        last = _Snapshot(self.network, self.solver, self.rng)
        kept = last
        if self.validation_score is not None:
            kept = _Snapshot(self.network, self.solver, self.rng)
            history.kept_epoch = history.bookmark()
        last_history = history.bookmark()
        n_epochs, self.stop_reason = 0, None
        guard = _CtrlC() if ctrl_c is None else contextlib.nullcontext(ctrl_c)
        # Overflow is detected and reported by the finiteness checks, not by numpy warnings.
        with np.errstate(over="ignore", invalid="ignore", under="ignore"), guard as ctrl_c:
            try:
                while n_epochs < max_epochs and self.stop_reason is None:
                    new_best = self._run_epoch(batches, history, n_epochs + 1, ctrl_c)
                    n_epochs += 1
                    # The epoch is complete: remember it (held from a second Ctrl-C,
                    # which would leave a half-copied snapshot).
                    with ctrl_c.holding():
                        last.save(n_epochs)
                        last_history = history.bookmark()
                        if new_best:
                            kept.save(n_epochs)
                            history.kept_epoch = last_history
                    if ctrl_c.pressed:
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                if n_epochs == 0:
                    raise
                with ctrl_c.holding():
                    history.rollback(last_history)
                    self.stop_reason = "interrupted"
                    kept.restore()
                self._warn_interrupted(n_epochs)
            else:
                kept.restore()
        if self.verbose:
            self._print_stop(n_epochs, max_epochs, history)
        return n_epochs, self.stop_reason is not None

    def _warn_interrupted(self, n_epochs):
        kept = "the best epoch on validation data" if self.validation_score else "that epoch"
        _warnings.warn(
            f"Training interrupted by the user after {n_epochs} complete "
            f"{'epoch' if n_epochs == 1 else 'epochs'}; keeping "
            f"the weights of {kept}.",
            UserWarning,
        )

    def _run_epoch(self, batches, history, epoch, ctrl_c):
        """One epoch: the batches, then its record; True if it is the best validated one."""
        started = time.perf_counter()
        # Epochs count across calls: the history holds the earlier ones.
        self.solver.begin_epoch(len(history.loss_curve))
        if self.hooks is not None:
            self.hooks.begin_epoch()
        if self.shuffle:
            batches.reshuffle(self.rng)
        loss = self._run_batches(batches, epoch, ctrl_c)
        new_best = self._end_epoch(loss, batches, history, epoch, started)
        if self.hooks is not None and self.hooks.end_epoch() and self.stop_reason is None:
            self.stop_reason = "a callback asked to stop"
        return new_best

    def _run_batches(self, batches, epoch, ctrl_c):
        """The epoch's mean objective: each batch's loss plus penalty at its pre-step weights."""
        total_loss = 0.0
        self._gradient_rms_sums = [0.0] * len(self._flat_weight_grads)
        self._n_batches = 0
        for X_batch, Y_batch, scale, batch_weight in batches:
            # Ctrl-C stops after the batch it came in: one that came in the last
            # batch lets the epoch complete.
            if ctrl_c.pressed:
                raise KeyboardInterrupt
            if self.threads is not None:
                self.threads.before_batch()
            batch_loss = self._gradient(X_batch, Y_batch, scale, self.rng)
            if not math.isfinite(batch_loss):
                raise ValueError(NON_FINITE_MESSAGE.format(epoch=epoch, what="training loss"))
            self._record_gradient_norms()
            if self.clip_gradient_norm is not None:
                self._clip_gradient()
            self.solver.step(self.network.params, self.network.grads)
            if self.threads is not None:
                self.threads.after_batch(X_batch.shape[0])
            total_loss += batch_loss * batch_weight
        self.check_outputs(epoch)
        params = self.network.params
        # Huge but finite weights (their squares overflow) have diverged too.
        if not math.isfinite(float(self._dot(params, params))):
            raise ValueError(
                NON_FINITE_MESSAGE.format(epoch=epoch, what="sum of the squared weights")
            )
        return total_loss / batches.total_weight

    def use_threads(self, threads, blocked_reductions=False):
        """Call ``threads`` around every batch (None: nothing to call).

        ``blocked_reductions`` sums long dot products in fixed blocks
        (:func:`skbackprop._threads.dot`), whose bits do not depend on BLAS's
        thread count: what a fit whose thread count may change needs. Short
        vectors are one BLAS call on one thread anyway, and the others keep
        ``np.dot``'s single pass.
        """
        self.threads = threads
        short = self.network.params.size <= DOT_BLOCK
        self._dot = dot if blocked_reductions and not short else np.dot

    def _gradient(self, X_batch, Y_batch, scale, rng):
        """Fill the network's gradient for one batch; return its loss plus penalty."""
        ws = self._last_workspace = self.network.forward(
            X_batch, training=True, rng=rng, row_weights=scale
        )
        batch_loss = self.loss.value(ws, Y_batch, scale)
        self.loss.output_delta(ws, Y_batch, scale)
        self.network.backward(X_batch, ws)
        return batch_loss + self._add_penalty_gradient()

    def thread_probe(self, data):
        """``(key, work)`` for :func:`skbackprop._threads.bits_agree`.

        ``work`` computes what this run's BLAS products decide (a batch's
        gradient, loss and squared norm at each batch size; the validation
        loss) on random rows, and puts the network back as it was. ``key``
        is what the outcome depends on: the shapes of those products.
        """
        network = self.network
        batch_sizes = {min(self.batch_size, data.n_rows), data.n_rows % self.batch_size} - {0}
        n_validation = 0 if self.validation_data is None else self.validation_data[0].shape[0]
        key = (
            network.layer_sizes,
            tuple(data.X.shape[1:]),  # a row's shape: columns, or steps and channels
            network.dtype,
            tuple(sorted(batch_sizes)),
            n_validation,
            tuple(type(layer).__name__ for layer in network.layers),
            any(getattr(layer, "normalized", False) for layer in network.layers),
            sp.issparse(data.X),
        )

        def work():
            saved = network.snapshot()
            rng = np.random.default_rng(0)
            results = []
            try:
                for rows in sorted(batch_sizes):
                    X = rng.standard_normal((rows, *data.X.shape[1:])).astype(network.dtype)
                    Y = rng.random((rows, network.layer_sizes[-1])).astype(network.dtype)
                    value = self._gradient(X, Y, 1.0 / rows, rng)
                    norms = [
                        float(self._dot(g, g)) for g in (network.grads, *self._flat_weight_grads)
                    ]
                    results += [network.grads.copy(), np.array([value, *norms])]
                if self.validation_data is not None:
                    results.append(np.array([self.validation_loss()]))
            finally:
                network.restore(saved)
            return results

        return key, work

    def check_outputs(self, epoch):
        """Raise if the last batch's outputs are beyond ``OUTPUT_LIMIT`` times the targets' scale.

        Divergence can stay finite (inputs of 1e150, say): the loss is then
        huge but stops changing, which would pass for convergence.
        """
        logits = self._last_workspace.logits
        # The sum of squares bounds the largest square: one BLAS call clears a sane
        # epoch (the common case, a fifth of two reductions' cost on a small batch).
        if float(np.vdot(logits, logits)) <= self.output_limit * self.output_limit:
            return
        largest = max(float(logits.max()), -float(logits.min()))
        if largest > self.output_limit:
            raise ValueError(
                OUTPUT_LIMIT_MESSAGE.format(value=largest, limit=OUTPUT_LIMIT, epoch=epoch)
            )

    def _add_penalty_gradient(self):
        """Add the penalty's gradient to the weight gradients; return the penalty's value."""
        weights, grads = self.network.weights, self.network.weight_grads
        scratch = self._penalty_scratch
        value = 0.0
        if self.l2:
            # 0.5 * l2 / n * sum(w**2) is half the dot product of w with its gradient.
            np.multiply(weights, self.l2 / self.penalty_n_samples, out=scratch)
            value += 0.5 * float(self._dot(weights, scratch))
            grads += scratch
        if self.l1:
            # sum(|w|) = w . sign(w)
            np.sign(weights, out=scratch)
            scratch *= self.l1 / self.penalty_n_samples
            value += float(self._dot(weights, scratch))
            grads += scratch
        return value

    def _record_gradient_norms(self):
        # Before clipping, so exploding gradients show even when clipped.
        sums = self._gradient_rms_sums
        for index, flat in enumerate(self._flat_weight_grads):
            sums[index] += math.sqrt(self._dot(flat, flat) / flat.size)
        self._n_batches += 1

    def _clip_gradient(self):
        grads = self.network.grads
        norm = math.sqrt(self._dot(grads, grads))
        if norm > self.clip_gradient_norm:
            grads *= self.clip_gradient_norm / norm

    def validation_loss(self):
        """Mean loss (sample-weighted) on the validation rows, plus the penalty."""
        X, Y, sample_weight = self.validation_data
        total = 0.0
        weight_sum = X.shape[0] if sample_weight is None else float(sample_weight.sum())
        chunk = max(self.batch_size, 1024)
        for start in range(0, X.shape[0], chunk):
            rows = slice(start, start + chunk)
            ws = self.network.forward(X[rows])
            if sample_weight is None:
                scale = 1.0 / weight_sum
            else:
                scale = (sample_weight[rows] / weight_sum)[:, None].astype(ws.logits.dtype)
            total += self.loss.value(ws, Y[rows], scale)
        return total + self.penalty()

    def penalty(self):
        """The penalty term of the objective at the current weights."""
        weights = self.network.weights
        value = 0.0
        if self.l2:
            value += 0.5 * self.l2 * float(self._dot(weights, weights))
        if self.l1:
            value += self.l1 * float(np.abs(weights).sum())
        return value / self.penalty_n_samples

    def _end_epoch(self, loss, batches, history, epoch, started):
        """Record the epoch and apply the stopping rule; True if it is the best validated one.

        The rule counts epochs in a row in which the watched quantity (the
        validation score if any, else the training loss) failed to improve on
        its best value by ``tol``; after ``n_iter_no_change`` of them the
        solver either stops (``self.stop_reason`` is set) or, with the
        adaptive schedule, lowers its learning rate and training goes on.
        """
        history.loss_curve.append(loss)
        history.gradient_norms.append(np.array(self._gradient_rms_sums) / max(self._n_batches, 1))
        history.samples_seen += batches.n_rows
        new_best, validation_loss = False, None
        if self.validation_data is not None:
            validation_loss = self.validation_loss()
            if not math.isfinite(validation_loss):
                raise ValueError(NON_FINITE_MESSAGE.format(epoch=epoch, what="validation loss"))
            history.validation_losses.append(validation_loss)
        if self.validation_score is not None:
            score = float(self.validation_score(validation_loss))
            history.validation_scores.append(score)
            improved = score > history.best_validation_score + self.tol
            if score > history.best_validation_score:
                history.best_validation_score = score
                history.best_epoch = len(history.loss_curve)
                new_best = True
            watched = "Validation score"
        else:
            improved = loss < history.best_loss - self.tol
            history.best_loss = min(history.best_loss, loss)
            watched = "Training loss"
        history.no_improvement_count = 0 if improved else history.no_improvement_count + 1
        if self.verbose:
            self._print_epoch(history, started)
        self.solver.end_epoch(history.samples_seen)
        if history.no_improvement_count >= self.n_iter_no_change:
            reason = (
                f"{watched} did not improve more than tol={self.tol} for "
                f"{self.n_iter_no_change} consecutive epochs"
            )
            if not self.solver.lower_learning_rate_on_plateau():
                self.stop_reason = reason
            else:
                history.no_improvement_count = 0
                if self.verbose:
                    print(f"{reason}. Setting learning rate to {self.solver.learning_rate:.6g}")
        return new_best

    @staticmethod
    def _print_epoch(history, started):
        line = f"Epoch {len(history.loss_curve)}, loss = {history.loss_curve[-1]:.8f}"
        if history.validation_losses:
            line += f", validation loss = {history.validation_losses[-1]:.8f}"
        if history.validation_scores:
            line += f", validation score = {history.validation_scores[-1]:.6f}"
        print(f"{line}, {time.perf_counter() - started:.2f}s", flush=True)

    def limit_reached(self, max_epochs):
        """Why training ended when no stopping rule did."""
        return f"Reached the maximum number of epochs ({max_epochs})"

    def _print_stop(self, n_epochs, max_epochs, history):
        reason = self.stop_reason or self.limit_reached(max_epochs)
        if reason == "interrupted":
            reason = "Interrupted by the user"
        if self.validation_score is not None and history.best_epoch is not None:
            kept = f"the weights of epoch {history.best_epoch}, the best validation score"
        else:
            kept = f"the weights of epoch {len(history.loss_curve)}, the last complete one"
        print(f"{reason[0].upper()}{reason[1:]}. Stopping; keeping {kept}.", flush=True)


def output_limit(Y):
    """The largest output a fit to targets ``Y`` may reach before it counts as diverged."""
    return OUTPUT_LIMIT * (1.0 + float(np.abs(Y).max(initial=0.0)))


class _CtrlC:
    """Turns Ctrl-C during training into a request to stop after the current batch.

    In the main thread, and only while SIGINT has Python's default handler,
    a handler records the request (a second Ctrl-C raises KeyboardInterrupt
    as usual); an ignored SIGINT or the caller's own handler is left alone.
    Elsewhere no handler can be installed and a KeyboardInterrupt arrives as
    an exception, which the training loop treats the same way.
    """

    def __enter__(self):
        self.pressed = False
        self._holding = False
        self._previous = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.pressed and not self._holding:
            raise KeyboardInterrupt
        self.pressed = True

    @contextlib.contextmanager
    def holding(self):
        """Within the block a second Ctrl-C only records the request, like the first."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

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
        self._rows_in_order = np.arange(X.shape[0]) if rows is None else np.array(rows)
        self.order = self._rows_in_order.copy()
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

        if sp.issparse(X) or not self._gather:
            self._X_buffer = None
        elif hasattr(X, "empty_rows"):  # a Series: its values and lengths
            self._X_buffer = X.empty_rows(self.batch_size)
        else:
            self._X_buffer = np.empty((self.batch_size, *X.shape[1:]), dtype)
        self._Y_buffer = buffer(Y.shape[1])
        self._weight_buffer = np.empty(self.batch_size, dtype)

    def reshuffle(self, rng):
        """A new random order of the rows, drawn from ``rng`` alone.

        Drawn from the rows in their given order rather than from the last
        epoch's order, so that the order depends only on the random stream:
        a fit continued from a saved stream shuffles as one long fit would.
        """
        np.copyto(self.order, self._rows_in_order)
        rng.shuffle(self.order)

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
