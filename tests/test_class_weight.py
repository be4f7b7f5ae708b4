"""Class weights for the classifier, combined with sample weights as scikit-learn does."""

import inspect

import numpy as np
import pytest
from helpers import quiet_fit
from sklearn.datasets import make_classification
from sklearn.metrics import recall_score

from skbackprop import BackpropClassifier, BackpropRegressor

X, y = make_classification(
    n_samples=400, n_features=6, weights=[0.9, 0.1], flip_y=0.05, random_state=0
)
PARAMS = dict(hidden_layer_sizes=(8,), max_iter=60, shuffle=False, random_state=0)


def test_classifier_and_regressor_share_every_other_parameter_and_default():
    classifier = inspect.signature(BackpropClassifier.__init__).parameters
    regressor = inspect.signature(BackpropRegressor.__init__).parameters
    assert set(classifier) - set(regressor) == {"class_weight"}
    only_regression = {"loss", "huber_delta", "quantile"}
    assert set(regressor) - set(classifier) == only_regression
    for name, parameter in regressor.items():
        if name in only_regression:
            continue
        assert classifier[name].default == parameter.default, name
        assert classifier[name].kind == parameter.kind, name


def test_class_weight_dict_equals_the_same_sample_weights():
    weighted = quiet_fit(BackpropClassifier(class_weight={0: 1.0, 1: 3.0}, **PARAMS), X, y)
    by_sample = quiet_fit(
        BackpropClassifier(**PARAMS), X, y, sample_weight=np.where(y == 1, 3.0, 1.0)
    )
    for a, b in zip(weighted.coefs_, by_sample.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_class_weight_multiplies_sample_weight():
    sample_weight = np.linspace(0.5, 2.0, len(y))
    both = quiet_fit(
        BackpropClassifier(class_weight={0: 1.0, 1: 3.0}, **PARAMS),
        X,
        y,
        sample_weight=sample_weight,
    )
    product = quiet_fit(
        BackpropClassifier(**PARAMS), X, y, sample_weight=sample_weight * np.where(y == 1, 3.0, 1.0)
    )
    np.testing.assert_allclose(both.coefs_[0], product.coefs_[0], rtol=1e-12)


def test_balanced_class_weight_raises_minority_recall():
    plain = quiet_fit(BackpropClassifier(**PARAMS), X, y)
    balanced = quiet_fit(BackpropClassifier(class_weight="balanced", **PARAMS), X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X)) + 0.05


def test_partial_fit_takes_a_dict_but_not_balanced():
    model = BackpropClassifier(class_weight={0: 1.0, 1: 5.0}, random_state=0)
    model.partial_fit(X, y, classes=[0, 1])
    assert model.n_iter_ == 1
    with pytest.raises(ValueError, match="balanced.*partial_fit"):
        BackpropClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_invalid_class_weight_is_rejected():
    with pytest.raises(ValueError, match="class_weight"):
        BackpropClassifier(class_weight="inverse").fit(X, y)


@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({0: -1.0, 1: 1.0}, "class_weight values must be non-negative finite"),
        ({0: np.nan, 1: 1.0}, "class_weight values must be non-negative finite"),
        ({0: np.inf, 1: 1.0}, "class_weight values must be non-negative finite"),
        ({0: "heavy", 1: 1.0}, "class_weight values must be non-negative finite"),
        ({0: 0.0, 1: 0.0}, r"sample_weight times class_weight\) sum to zero"),
    ],
)
def test_bad_class_weight_values_raise_naming_the_parameter(class_weight, message):
    model = BackpropClassifier(class_weight=class_weight, max_iter=3)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    with pytest.raises(ValueError, match=message):
        model.partial_fit(X, y, classes=[0, 1])


def test_class_and_sample_weights_that_cancel_out_raise():
    # Each class is weighted zero exactly where its samples carry weight.
    sample_weight = (y == 0).astype(float)
    model = BackpropClassifier(class_weight={0: 0.0, 1: 1.0}, max_iter=3)
    with pytest.raises(ValueError, match="sum to zero"):
        model.fit(X, y, sample_weight=sample_weight)
