"""Every warning skbackprop emits names the caller's line, not a line of the library."""

import warnings

import numpy as np
import pytest
from helpers import ctrl_c_after
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropClassifier, BackpropRegressor
from skbackprop._callbacks import HAVE_CALLBACKS
from skbackprop._network import Network

X, y = make_classification(n_samples=100, n_features=5, random_state=0)


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [w for w in caught if w.category in (ConvergenceWarning, UserWarning)]


@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_the_convergence_warning_names_the_callers_line(Estimator):
    model = Estimator(max_iter=2, random_state=0)
    (warning,) = _caught(lambda: model.fit(X, y))
    assert warning.filename == __file__


@pytest.mark.skipif(not HAVE_CALLBACKS, reason="needs scikit-learn's callback API (>= 1.9)")
def test_it_names_the_callers_line_through_the_callback_wrapper():
    from sklearn.callback import ScoringMonitor

    model = BackpropClassifier(max_iter=2, random_state=0).set_callbacks(
        ScoringMonitor(scoring="accuracy")
    )
    (warning,) = _caught(lambda: model.fit(X, y))
    assert warning.filename == __file__


def test_the_interrupt_warning_names_the_callers_line(monkeypatch):
    # In the second epoch's only batch: that epoch completes.
    backward = ctrl_c_after(Network, "backward", lambda calls: calls == 2)
    monkeypatch.setattr(Network, "backward", backward)
    model = BackpropClassifier(max_iter=5, random_state=0)
    (warning,) = _caught(lambda: model.fit(X, y))
    assert "interrupted" in str(warning.message) and warning.filename == __file__
    assert model.n_iter_ == 2 and np.isfinite(model.loss_)
