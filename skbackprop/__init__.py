"""scikit-learn compatible neural networks trained by backpropagation."""

from ._estimators import BackpropClassifier, BackpropRegressor
from ._plot import GradientFlowDisplay, TrainingCurveDisplay

__version__ = "0.3.0.dev0"

__all__ = [
    "BackpropClassifier",
    "BackpropRegressor",
    "GradientFlowDisplay",
    "TrainingCurveDisplay",
    "__version__",
]
