"""BLAS threads during fit and predict: one for small products, never more than the caller's."""

import numpy as np
import pytest
from helpers import quiet_fit
from sklearn.datasets import make_classification
from threadpoolctl import ThreadpoolController, threadpool_limits

from skbackprop import BackpropClassifier
from skbackprop._threads import MIN_PRODUCT_FOR_THREADS, largest_product
from skbackprop._training import Trainer

X, y = make_classification(n_samples=300, n_features=20, random_state=0)
BLAS = ThreadpoolController().select(user_api="blas")
pytestmark = pytest.mark.skipif(
    not BLAS.lib_controllers or max(lib.num_threads for lib in BLAS.lib_controllers) < 2,
    reason="needs a BLAS library running more than one thread",
)


def _blas_threads():
    return max(lib.num_threads for lib in BLAS.lib_controllers)


@pytest.fixture
def threads_in_training(monkeypatch):
    """Records the BLAS thread count while each Trainer.run runs."""
    seen, original = [], Trainer.run

    def run(self, *args, **kwargs):
        seen.append(_blas_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "run", run)
    return seen


def test_the_largest_product_is_rows_times_the_widest_layer_pair():
    assert largest_product(200, (64, 100, 10)) == 200 * 64 * 100
    assert largest_product(1, (3, 5, 7, 2)) == 35


def test_a_small_network_trains_on_one_thread_and_gives_the_threads_back(threads_in_training):
    before = _blas_threads()
    quiet_fit(BackpropClassifier(hidden_layer_sizes=(100,), max_iter=2), X, y)
    assert largest_product(200, (20, 100, 2)) < MIN_PRODUCT_FOR_THREADS
    assert threads_in_training == [1]
    assert _blas_threads() == before


def test_a_large_network_keeps_the_callers_threads(threads_in_training):
    before = _blas_threads()
    model = BackpropClassifier(hidden_layer_sizes=(1024, 1024), batch_size=256, max_iter=1)
    assert largest_product(256, (20, 1024, 1024, 2)) >= MIN_PRODUCT_FOR_THREADS
    quiet_fit(model, X, y)
    assert threads_in_training == [before]


def test_a_limit_the_caller_set_is_never_raised(threads_in_training):
    with threadpool_limits(limits=1, user_api="blas"):
        model = BackpropClassifier(hidden_layer_sizes=(1024, 1024), batch_size=256, max_iter=1)
        quiet_fit(model, X, y)
        assert _blas_threads() == 1
    assert threads_in_training == [1]


def test_threads_come_back_after_a_failed_fit_and_an_interrupt(monkeypatch):
    before = _blas_threads()
    with pytest.raises(ValueError, match="diverged"):
        BackpropClassifier(solver="sgd", learning_rate_init=1e10).fit(X * 1e150, y)
    assert _blas_threads() == before

    def interrupted(self, *args, **kwargs):
        assert _blas_threads() == 1
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        BackpropClassifier(max_iter=2).fit(X, y)
    assert _blas_threads() == before


def test_the_rule_can_be_switched_off(threads_in_training, monkeypatch):
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", "keep")
    before = _blas_threads()
    quiet_fit(BackpropClassifier(hidden_layer_sizes=(100,), max_iter=1), X, y)
    assert threads_in_training == [before]


def test_prediction_of_a_mid_sized_batch_runs_on_one_thread(monkeypatch):
    model = quiet_fit(BackpropClassifier(hidden_layer_sizes=(100,), max_iter=1), X, y)
    seen, original = [], type(model._network()).predict

    def predict(self, *args, **kwargs):
        seen.append(_blas_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model._network()), "predict", predict)
    model.predict(np.tile(X, (5, 1)))  # 1500 x 20 x 100: split by BLAS, too small to gain
    assert seen == [1]
