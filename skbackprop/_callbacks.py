"""scikit-learn's callback API (experimental, scikit-learn >= 1.9), and a stand-in without it.

A fit is one callback task with one subtask per epoch, so ``ProgressBar``
shows epochs, ``ScoringMonitor`` can score the model after each one, and a
callback whose ``on_fit_task_end`` returns True stops training after that
epoch. The training core knows nothing of this: it calls ``EpochHooks``.
"""

import contextlib
import os
import sys

from ._warnings import add_internal_folder

try:
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # scikit-learn without the callback API
    HAVE_CALLBACKS = False

    class CallbackSupportMixin:
        """Stand-in: no callbacks to support."""

    def with_callbacks(method):
        return method

else:
    HAVE_CALLBACKS = True
    # Warnings raised during fit skip the callback wrapper to name the user's line.
    add_internal_folder(os.path.dirname(sys.modules[with_callbacks.__module__].__file__))

# What the callback machinery keeps on the estimator during fit; it must
# survive when a failed fit restores the estimator's previous state.
CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


class EpochHooks:
    """The trainer's epoch moments, as subtasks of the fit's callback context.

    Parameters
    ----------
    estimator : the estimator being fitted
    context : CallbackContext of the fit
    X, y, metadata : what callbacks receive with every epoch
    fitted_attributes : callable
        Returns the attributes that make a copy of the estimator predict with
        the current weights (only called if a callback asks for them).
    """

    def __init__(self, estimator, context, X, y, metadata, fitted_attributes):
        self.estimator = estimator
        self.context = context
        self.data = dict(X=X, y=y, metadata=metadata)
        self.fitted_attributes = fitted_attributes
        self._epoch = None

    def begin_epoch(self):
        self._epoch = self.context.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(estimator=self.estimator, **self.data)

    def end_epoch(self):
        """Returns True if a callback asks training to stop."""
        stop = self._epoch.call_on_fit_task_end(
            estimator=self.estimator,
            reconstruction_attributes=self.fitted_attributes,
            **self.data,
        )
        return bool(stop)


@contextlib.contextmanager
def fit_task(estimator, task_name, X, y, sample_weight, max_epochs, fitted_attributes):
    """The fit as a callback task: yields the trainer's hooks, ends the task on success.

    Yields None where scikit-learn has no callback API. ``fitted_attributes``
    is as for :class:`EpochHooks`.
    """
    if not HAVE_CALLBACKS:
        yield None
        return
    context = estimator._init_callback_context(task_name=task_name, max_subtasks=max_epochs)
    metadata = {"sample_weight": sample_weight}
    context.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)
    yield EpochHooks(estimator, context, X, y, metadata, fitted_attributes)
    context.call_on_fit_task_end(
        estimator=estimator, X=X, y=y, metadata=metadata, reconstruction_attributes={}
    )
