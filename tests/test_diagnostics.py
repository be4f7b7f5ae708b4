"""Seeing inside training: validation loss, gradient norms, scoring, gradient clipping."""

import numpy as np
import pytest
from helpers import quiet_fit
from sklearn.datasets import make_classification
from sklearn.metrics import get_scorer
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor

X, y = make_classification(
    n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0
)
X = StandardScaler().fit_transform(X)


def _held_out(model):
    _, val = model._validation_rows(y, model._seed())
    return X[val], y[val]


def _objective(model, X_part, y_part):
    proba = model.predict_proba(X_part)
    weights = np.concatenate([c.ravel() for c in model.coefs_])
    penalty = 0.5 * model.l2 * (weights @ weights) / len(X)
    return -np.mean(np.log(proba[np.arange(len(y_part)), y_part])) + penalty


def test_validation_loss_curve_is_the_objective_on_held_out_rows():
    model = quiet_fit(
        BackpropClassifier(
            hidden_layer_sizes=(10,), early_stopping=True, max_iter=1, l2=0.5, random_state=0
        ),
        X,
        y,
    )
    assert len(model.validation_loss_curve_) == model.n_iter_ == 1
    X_val, y_val = _held_out(model)
    assert model.validation_loss_curve_[0] == pytest.approx(_objective(model, X_val, y_val))


def test_no_validation_loss_without_early_stopping():
    model = quiet_fit(BackpropClassifier(max_iter=3, random_state=0), X, y)
    assert model.validation_loss_curve_ is None
    assert model.gradient_norms_.shape == (3, 1 + 1)


def test_gradient_norms_are_the_rms_of_each_layers_weight_gradient():
    # No hidden layer, one full batch, a vanishing step: the recorded norm is
    # the RMS of X^T (p - Y) / n + l2 W / n at the (unchanged) weights.
    model = quiet_fit(
        BackpropClassifier(
            hidden_layer_sizes=(),
            batch_size=len(X),
            solver="sgd",
            learning_rate_init=1e-12,
            l2=3.0,
            max_iter=1,
            random_state=0,
        ),
        X,
        y,
    )
    residual = model.predict_proba(X) - np.eye(3)[y]
    gradient = X.T @ residual / len(X) + 3.0 * model.coefs_[0] / len(X)
    assert model.gradient_norms_.shape == (1, 1)
    assert model.gradient_norms_[0, 0] == pytest.approx(np.sqrt(np.mean(gradient**2)), rel=1e-6)


def test_gradient_norms_show_vanishing_gradients_in_deep_logistic_networks():
    deep = dict(hidden_layer_sizes=(16,) * 8, max_iter=3, random_state=0)
    logistic = quiet_fit(BackpropClassifier(activation="logistic", **deep), X, y).gradient_norms_
    relu = quiet_fit(BackpropClassifier(activation="relu", **deep), X, y).gradient_norms_
    assert logistic.shape == relu.shape == (3, 9)
    # Each logistic layer scales the delta by at most 1/4: the first layer starves.
    assert logistic[0, 0] < 1e-3 * logistic[0, -1]
    assert relu[0, 0] > 1e-2 * relu[0, -1]


def test_gradient_clipping_bounds_each_step():
    common = dict(
        hidden_layer_sizes=(6,),
        batch_size=len(X),
        solver="sgd",
        learning_rate_init=1.0,
        max_iter=1,
        shuffle=False,
        random_state=0,
    )
    free = quiet_fit(BackpropClassifier(**common), X, y)
    clipped = quiet_fit(BackpropClassifier(clip_gradient_norm=1e-3, **common), X, y)
    start = quiet_fit(BackpropClassifier(**{**common, "learning_rate_init": 1e-300}), X, y)

    def flat(model):
        return np.concatenate([p.ravel() for p in model.coefs_ + model.intercepts_])

    # One step of plain SGD with lr = 1 moves the weights by the (clipped) gradient.
    assert np.linalg.norm(flat(clipped) - flat(start)) == pytest.approx(1e-3, rel=1e-6)
    assert np.linalg.norm(flat(free) - flat(start)) > 1e-2
    # Gradient norms are recorded before clipping.
    np.testing.assert_allclose(clipped.gradient_norms_, free.gradient_norms_)


def test_scoring_loss_watches_the_validation_loss():
    model = quiet_fit(
        BackpropClassifier(early_stopping=True, scoring="loss", max_iter=15, random_state=0), X, y
    )
    np.testing.assert_allclose(model.validation_scores_, -np.array(model.validation_loss_curve_))
    assert model.best_validation_score_ == max(model.validation_scores_)


@pytest.mark.parametrize("scoring", ["neg_log_loss", "balanced_accuracy", get_scorer("f1_macro")])
def test_scoring_with_a_scikit_learn_scorer(scoring):
    model = quiet_fit(
        BackpropClassifier(
            early_stopping=True, scoring=scoring, n_iter_no_change=3, max_iter=40, random_state=0
        ),
        X,
        y,
    )
    X_val, y_val = _held_out(model)
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
    # The best weights are restored, so the scorer on them gives the best score.
    assert model.best_validation_score_ == pytest.approx(scorer(model, X_val, y_val))


def test_regressor_scoring_and_validation_loss():
    Y = np.column_stack([X[:, 0], X[:, 1] - X[:, 2]])
    model = quiet_fit(
        BackpropRegressor(
            early_stopping=True, scoring="neg_mean_absolute_error", max_iter=20, random_state=0
        ),
        X,
        Y,
    )
    assert all(score <= 0 for score in model.validation_scores_)
    assert len(model.validation_loss_curve_) == model.n_iter_
    assert model.gradient_norms_.shape == (model.n_iter_, 2)


def test_invalid_clip_and_scoring_are_rejected():
    with pytest.raises(ValueError, match="clip_gradient_norm"):
        BackpropClassifier(clip_gradient_norm=0.0).fit(X, y)
    with pytest.raises(ValueError, match="scoring"):
        BackpropClassifier(scoring=3).fit(X, y)


def test_warm_start_extends_every_curve():
    model = BackpropClassifier(
        early_stopping=True, warm_start=True, max_iter=4, n_iter_no_change=100, random_state=0
    )
    quiet_fit(model, X, y)
    quiet_fit(model, X, y)
    assert len(model.loss_curve_) == len(model.validation_loss_curve_) == 8
    assert model.gradient_norms_.shape == (8, 2)
