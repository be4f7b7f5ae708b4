"""
Early stopping: watching the validation loss
============================================

With ``early_stopping=True`` the estimator holds out ``validation_fraction`` of
the training data, records the loss and the score on it after every epoch,
stops once the score has not improved for ``n_iter_no_change`` epochs, and
keeps the weights of the best epoch. ``scoring="loss"`` makes it watch the
validation loss itself. ``TrainingCurveDisplay`` draws the curves and marks
the epoch whose weights were kept.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, TrainingCurveDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    StandardScaler().fit_transform(X), y, stratify=y, random_state=0
)
model = BackpropClassifier(
    hidden_layer_sizes=(256,),
    learning_rate_init=0.01,
    early_stopping=True,
    scoring="loss",
    n_iter_no_change=15,
    max_iter=500,
    random_state=0,
).fit(X_train, y_train)

best = model.best_epoch_
print(f"stopped after {model.n_iter_} epochs, kept the weights of epoch {best}")
print(f"validation loss at that epoch: {model.validation_loss_curve_[best - 1]:.4f}")
print(f"test accuracy: {model.score(X_test, y_test):.4f}")
TrainingCurveDisplay.from_estimator(model)
plt.show()
