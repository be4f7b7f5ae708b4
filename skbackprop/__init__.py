"""scikit-learn compatible neural networks trained by backpropagation."""

from ._estimators import BackpropClassifier, BackpropRegressor
from ._plot import GradientFlowDisplay, TrainingCurveDisplay
from ._sequence_estimators import BackpropSequenceClassifier, BackpropSequenceRegressor

__version__ = "0.3.0.dev0"

__all__ = [
    "BackpropClassifier",
    "BackpropRegressor",
    "BackpropSequenceClassifier",
    "BackpropSequenceRegressor",
    "GradientFlowDisplay",
    "TrainingCurveDisplay",
    "__version__",
]
