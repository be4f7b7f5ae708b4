"""scikit-learn compatible neural networks trained by backpropagation."""

from ._estimators import BackpropClassifier, BackpropRegressor

__version__ = "0.1.0"

__all__ = ["BackpropClassifier", "BackpropRegressor", "__version__"]
