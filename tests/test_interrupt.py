"""Ctrl-C during fit: stop after the current batch, keep the best weights, warn."""

import _thread
import signal
import threading
import warnings

import numpy as np
import pytest
from helpers import assert_same_weights, ctrl_c_after
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop._callbacks import HAVE_CALLBACKS
from skbackprop._network import Network
from skbackprop._training import Trainer

X, y = make_classification(n_samples=200, n_features=6, random_state=0)
PARAMS = dict(
    hidden_layer_sizes=(8,), batch_size=20, max_iter=50, tol=0, n_iter_no_change=100, random_state=0
)


def _press_ctrl_c_when(monkeypatch, method, owner, condition):
    """Make ``owner.method`` send SIGINT to this process whenever ``condition(count)``."""
    monkeypatch.setattr(owner, method, ctrl_c_after(owner, method, condition))


def _fit_interrupted(model):
    with pytest.warns(UserWarning, match="interrupted by the user after 3 complete epochs"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            return model.fit(X, y)


def test_ctrl_c_between_epochs_keeps_the_last_epoch(monkeypatch):
    _press_ctrl_c_when(monkeypatch, "_end_epoch", Trainer, lambda count: count == 3)
    interrupted = _fit_interrupted(BackpropClassifier(**PARAMS))
    monkeypatch.undo()
    three_epochs = BackpropClassifier(**{**PARAMS, "max_iter": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        three_epochs.fit(X, y)
    assert interrupted.n_iter_ == 3 and len(interrupted.loss_curve_) == 3
    assert interrupted.loss_curve_ == three_epochs.loss_curve_
    assert interrupted.t_ == 3 * len(X)
    for a, b in zip(interrupted.coefs_, three_epochs.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(interrupted.predict(X), three_epochs.predict(X))


def test_ctrl_c_within_an_epoch_stops_after_the_batch_and_rolls_back(monkeypatch):
    # Ten batches an epoch: press during the 4th epoch's 5th batch.
    _press_ctrl_c_when(monkeypatch, "backward", Network, lambda count: count == 35)
    interrupted = _fit_interrupted(BackpropClassifier(**PARAMS))
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        three_epochs = BackpropClassifier(**{**PARAMS, "max_iter": 3}).fit(X, y)
    for a, b in zip(
        interrupted.coefs_ + interrupted.intercepts_,
        three_epochs.coefs_ + three_epochs.intercepts_,
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_keyboard_interrupt_raised_inside_a_batch_is_handled_the_same(monkeypatch):
    # Off the main thread no SIGINT handler can be installed, and Python raises
    # KeyboardInterrupt wherever the loop is.
    original = Network.backward
    calls = {"count": 0}

    def backward(self, *args):
        calls["count"] += 1
        if calls["count"] == 35:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Network, "backward", backward)
    interrupted = _fit_interrupted(BackpropRegressor(**PARAMS))
    assert interrupted.n_iter_ == 3 and np.isfinite(interrupted.predict(X)).all()


def test_ctrl_c_with_early_stopping_keeps_the_best_validation_weights(monkeypatch):
    _press_ctrl_c_when(monkeypatch, "_end_epoch", Trainer, lambda count: count == 3)
    model = _fit_interrupted(BackpropClassifier(**PARAMS, early_stopping=True))
    assert len(model.validation_scores_) == 3
    assert model.best_validation_score_ == max(model.validation_scores_)


def test_ctrl_c_in_the_first_epoch_aborts_and_keeps_the_previous_model(monkeypatch):
    model = BackpropClassifier(**PARAMS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = model.predict_proba(X)
    _press_ctrl_c_when(monkeypatch, "backward", Network, lambda count: count == 2)
    with pytest.raises(KeyboardInterrupt):
        model.set_params(hidden_layer_sizes=(3,)).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), before)
    assert model.coefs_[0].shape == (6, 8)


def test_ctrl_c_from_another_thread_stops_a_long_fit():
    model = BackpropClassifier(**{**PARAMS, "max_iter": 10**6})
    first_epoch_done = threading.Event()
    original = Trainer._end_epoch

    def end_epoch(self, *args):
        first_epoch_done.set()
        return original(self, *args)

    def press():
        first_epoch_done.wait(30)
        _thread.interrupt_main()

    Trainer._end_epoch = end_epoch
    try:
        threading.Thread(target=press, daemon=True).start()
        with pytest.warns(UserWarning, match="interrupted by the user"):
            model.fit(X, y)
    finally:
        Trainer._end_epoch = original
    assert 1 <= model.n_iter_ < 10**6
    assert len(model.loss_curve_) == model.n_iter_
    assert np.isfinite(model.predict_proba(X)).all()
    # The previous SIGINT handler is back.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- wherever the interrupt lands (issue 9) -------------------------------------


def _three_epochs(Estimator=BackpropClassifier, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Estimator(**{**PARAMS, **params, "max_iter": 3}).fit(X, y)


class _InterruptingCallback:
    """A scikit-learn callback whose epoch hook raises KeyboardInterrupt in epoch 4."""

    def __init__(self, moment):
        self.moment, self.epochs = moment, 0

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, **kwargs):
        if context.task_name == "epoch":
            self.epochs += 1
            if self.moment == "begin" and self.epochs == 4:
                raise KeyboardInterrupt

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.task_name == "epoch" and self.moment == "end" and self.epochs == 4:
            raise KeyboardInterrupt


@pytest.mark.skipif(not HAVE_CALLBACKS, reason="needs scikit-learn's callback API (>= 1.9)")
@pytest.mark.parametrize("moment", ["begin", "end"])
def test_an_interrupt_in_a_callback_keeps_the_completed_epochs(moment):
    model = BackpropClassifier(**PARAMS).set_callbacks(_InterruptingCallback(moment))
    interrupted = _fit_interrupted(model)
    assert interrupted.n_iter_ == 3
    assert_same_weights(interrupted, _three_epochs())


@pytest.mark.parametrize("early_stopping", [False, True])
def test_an_interrupt_in_end_of_epoch_work_keeps_the_completed_epochs(monkeypatch, early_stopping):
    # Raised (not signalled) in the fourth epoch's end-of-epoch work, as a
    # second Ctrl-C would be: during validation, or once the epoch is recorded.
    calls = {"count": 0}
    original = Trainer.validation_loss if early_stopping else Trainer._end_epoch

    def interrupted(self, *args):
        calls["count"] += 1
        result = None if early_stopping and calls["count"] == 4 else original(self, *args)
        if calls["count"] == 4:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(Trainer, original.__name__, interrupted)
    model = _fit_interrupted(BackpropClassifier(**PARAMS, early_stopping=early_stopping))
    monkeypatch.undo()
    n_train = 180 if early_stopping else 200
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3 and model.t_ == 3 * n_train
    assert len(model.gradient_norms_) == 3
    if early_stopping:
        assert len(model.validation_scores_) == len(model.validation_loss_curve_) == 3
    else:
        assert_same_weights(model, _three_epochs())


@pytest.mark.parametrize("solver", ["sgd", "momentum", "adam"])
def test_partial_fit_after_an_interrupt_continues_the_kept_model_exactly(monkeypatch, solver):
    params = dict(solver=solver, learning_rate="adaptive", learning_rate_init=0.01)
    _press_ctrl_c_when(monkeypatch, "backward", Network, lambda count: count == 35)
    interrupted = _fit_interrupted(BackpropClassifier(**PARAMS, **params))
    monkeypatch.undo()
    reference = _three_epochs(**params)
    interrupted.partial_fit(X, y)
    reference.partial_fit(X, y)
    assert_same_weights(interrupted, reference)
    assert interrupted.loss_curve_ == reference.loss_curve_


def test_ctrl_c_with_sigint_ignored_does_not_interrupt(monkeypatch):
    _press_ctrl_c_when(monkeypatch, "backward", Network, lambda count: count == 35)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = BackpropClassifier(**{**PARAMS, "max_iter": 5}).fit(X, y)
    except ConvergenceWarning:
        model = None
    finally:
        signal.signal(signal.SIGINT, previous)
    assert model is None  # ran all 5 epochs, to the ConvergenceWarning; no interrupt warning


def test_ctrl_c_with_a_custom_sigint_handler_calls_it(monkeypatch):
    _press_ctrl_c_when(monkeypatch, "backward", Network, lambda count: count == 35)
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = BackpropClassifier(**{**PARAMS, "max_iter": 5}).fit(X, y)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIGINT] and model.n_iter_ == 5


def test_the_ctrl_c_tests_pass_when_the_suite_starts_with_sigint_ignored():
    """``nohup pytest &`` starts Python with SIGINT ignored; the tests that press Ctrl-C
    put Python's handler back for themselves (conftest.py), and pass there too."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    tests = [
        "tests/test_interrupt.py::test_ctrl_c_between_epochs_keeps_the_last_epoch",
        "tests/test_lbfgs.py::test_ctrl_c_keeps_the_last_accepted_iterate",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout
