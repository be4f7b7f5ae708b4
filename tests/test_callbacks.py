"""scikit-learn's callback API: one fit task with one subtask per epoch."""

import numpy as np
import pytest

pytest.importorskip("sklearn.callback", reason="needs scikit-learn >= 1.9 (its callback API)")

from helpers import quiet_fit
from sklearn.callback import ScoringMonitor
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor

X, y = make_classification(n_samples=200, n_features=6, random_state=0)


class Recorder:
    """Records the tasks it sees; can ask training to stop after some epoch."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name, context.max_subtasks))

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if context.task_name == "epoch":
            self.scores = getattr(self, "scores", []) + [fitted_estimator.score(X, y)]
            return self.stop_after is not None and context.task_id + 1 >= self.stop_after
        return False

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name, None))


def test_one_subtask_per_epoch_with_a_fitted_copy_at_each_end():
    recorder = Recorder()
    model = BackpropClassifier(max_iter=4, random_state=0).set_callbacks(recorder)
    quiet_fit(model, X, y)
    assert recorder.events[0] == ("setup", "fit", 4)
    assert recorder.events[1] == ("begin", "fit", 0)
    epochs = [event for event in recorder.events if event[1] == "epoch"]
    assert epochs == [(kind, "epoch", i) for i in range(4) for kind in ("begin", "end")]
    assert recorder.events[-2:] == [("end", "fit", 0), ("teardown", "fit", None)]
    # The copy handed to the callback predicts with that epoch's weights.
    assert len(recorder.scores) == 4 and recorder.scores[-1] == model.score(X, y)


def test_a_callback_can_stop_training():
    recorder = Recorder(stop_after=2)
    model = quiet_fit(
        BackpropRegressor(max_iter=50, random_state=0).set_callbacks(recorder), X, y.astype(float)
    )
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 2


def test_partial_fit_is_a_task_of_one_epoch():
    recorder = Recorder()
    BackpropClassifier(random_state=0).set_callbacks(recorder).partial_fit(X, y, classes=[0, 1])
    assert recorder.events[0] == ("setup", "partial_fit", 1)
    assert sum(1 for event in recorder.events if event[:2] == ("end", "epoch")) == 1


def test_callbacks_are_torn_down_when_fit_fails_and_nothing_is_lost():
    recorder = Recorder()
    model = quiet_fit(BackpropClassifier(max_iter=3, random_state=0), X, y)
    before = model.predict_proba(X)
    model.set_callbacks(recorder)
    with pytest.raises(ValueError, match="only one class"):
        model.fit(X[:, :3], np.zeros(len(X)))
    np.testing.assert_array_equal(model.predict_proba(X), before)
    model.set_params(learning_rate_init=1e10, solver="sgd")
    # Diverging: the output limit, the loss check or the callback's scoring says so.
    with pytest.raises(ValueError, match="diverged|finite"):
        model.fit(X * 1e150, y)
    assert recorder.events[-1][0] == "teardown"
    assert not hasattr(model, "_callback_fit_ctx")
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_scoring_monitor_scores_every_epoch_inside_a_pipeline():
    monitor = ScoringMonitor(scoring="accuracy")
    model = BackpropClassifier(max_iter=5, random_state=0).set_callbacks(monitor)
    quiet_fit(make_pipeline(StandardScaler(), model), X, y)
    scores = monitor.get_logs().data
    # One score per epoch of the network, besides the pipeline's own tasks.
    epochs = [entry for entry in scores if entry.get("task_name") == "epoch"]
    assert len(epochs) == 5, scores[:3]
    assert all(0 <= entry["accuracy"] <= 1 for entry in epochs)


def test_progress_bar_counts_epochs(capsys):
    from sklearn.callback import ProgressBar

    model = BackpropClassifier(max_iter=6, random_state=0).set_callbacks(ProgressBar())
    quiet_fit(model, X, y)
    output = capsys.readouterr().out
    assert "BackpropClassifier - fit" in output and "100%" in output
    assert model.n_iter_ == 6


def test_lbfgs_runs_the_hooks_once_per_iteration_and_a_callback_can_stop_it():
    monitor = ScoringMonitor(scoring="r2")
    model = BackpropRegressor(solver="lbfgs", max_iter=5, random_state=0).set_callbacks(monitor)
    quiet_fit(model, X, y.astype(float))
    epochs = [entry for entry in monitor.get_logs().data if entry.get("task_name") == "epoch"]
    assert model.n_iter_ == 5 and len(epochs) == 5
    recorder = Recorder(stop_after=2)
    model = BackpropRegressor(solver="lbfgs", max_iter=50, random_state=0).set_callbacks(recorder)
    model = quiet_fit(model, X, y.astype(float))
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 2
    assert recorder.scores[-1] == model.score(X, y.astype(float))
