"""scikit-learn's estimator checks, on both estimators with their default parameters."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skbackprop import BackpropClassifier, BackpropRegressor


@parametrize_with_checks([BackpropClassifier(random_state=0), BackpropRegressor(random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
