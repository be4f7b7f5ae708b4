"""scikit-learn's estimator checks: the MLP estimators with their default parameters and
with options that change the numeric path (float32 training, another solver), and the
sequence estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skbackprop import (
    BackpropClassifier,
    BackpropRegressor,
    BackpropSequenceClassifier,
    BackpropSequenceRegressor,
)

FLOAT32_BY_DESIGN = {
    # Their tolerances (rtol=1e-7) are below float32's resolution.
    "check_sample_weight_equivalence_on_dense_data": "float32 rounding exceeds rtol=1e-7",
    "check_sample_weight_equivalence_on_sparse_data": "float32 rounding exceeds rtol=1e-7",
    # dtype="float32" predicts in float32, as documented; the check wants float64.
    "check_regressor_multioutput": "dtype='float32' predicts in float32 by design",
}


# lbfgs fits the checks' toy data to logits beyond float64's reach (|z| > 745), where a
# probability is exactly 0: the checks then want log(0) = -inf from predict_log_proba,
# which skbackprop computes finite from the logits by design, and a probability above 0.
SATURATED_BY_LBFGS = {
    "check_classifiers_train": "predict_log_proba stays finite where predict_proba is 0",
    "check_classifiers_multilabel_output_format_predict_proba": "probabilities of exactly 0",
}


# check_regressor_multioutput draws standardised (negative) targets, ignoring the
# positive_only tag, and loss='poisson' refuses them.
POISSON_TARGETS = {
    "check_regressor_multioutput": "negative targets, which loss='poisson' refuses",
}


class SmallNormalWeights:
    """A user's initialiser: module-level, so that the estimator pickles.

    A callable object rather than a function for its repr: the checks' test ids
    hold the estimator's repr, and a function's holds its address, which differs
    between the processes of a parallel run (pytest-xdist), which then refuses to run.
    """

    def __call__(self, fan_in, fan_out, rng):
        return rng.normal(0.0, 0.3, (fan_in, fan_out))

    def __repr__(self):
        return "SmallNormalWeights()"


def _expected_failures(estimator):
    if estimator.dtype == "float32":
        return FLOAT32_BY_DESIGN
    if getattr(estimator, "loss", None) == "poisson":
        return POISSON_TARGETS
    if estimator.solver == "lbfgs" and hasattr(estimator, "predict_proba"):
        return SATURATED_BY_LBFGS
    return {}


@parametrize_with_checks(
    [
        # The defaults as a user gets them. The other configurations stop at max_iter=100
        # epochs, as scikit-learn's own checks of MLPClassifier and MLPRegressor do: the
        # contract does not depend on the epoch count, and this saves a quarter of the
        # checks' time. Kept at their defaults: lbfgs (its expected failures come from
        # its fully converged fits), and the poisson loss and the recurrent regressor
        # (check_regressors_train wants a better fit than 100 epochs give them).
        BackpropClassifier(random_state=0),
        BackpropRegressor(random_state=0),
        BackpropClassifier(dtype="float32", solver="momentum", random_state=0, max_iter=100),
        BackpropRegressor(dtype="float32", random_state=0, max_iter=100),
        # Solvers and layer options are separate code paths: each configuration below
        # checks one of each.
        BackpropClassifier(
            solver="rmsprop",
            batch_normalization=True,
            init="he_uniform",
            random_state=0,
            max_iter=100,
        ),
        BackpropRegressor(
            solver="adagrad",
            learning_rate_init=0.01,
            residual=True,
            hidden_layer_sizes=(16, 16),
            init="he_normal",
            random_state=0,
            max_iter=100,
        ),
        # What issue 19 added: adamw, cosine with warm-up, one activation per layer.
        # (16, 16) units are too few for the class-weight check's noisy blobs, relu too.
        BackpropClassifier(
            solver="adamw",
            learning_rate="cosine",
            warmup_iter=2,
            activation=("silu", "elu"),
            hidden_layer_sizes=(32, 32),
            random_state=0,
            max_iter=100,
        ),
        BackpropClassifier(solver="lbfgs", random_state=0),
        BackpropRegressor(solver="lbfgs", random_state=0),
        BackpropRegressor(loss="poisson", random_state=0),
        # The identity-output losses of issue 19, with the new activations.
        BackpropRegressor(loss="absolute_error", activation="elu", random_state=0, max_iter=100),
        BackpropRegressor(
            loss="huber",
            huber_delta=0.5,
            activation="gelu",
            solver="adamw",
            random_state=0,
            max_iter=100,
        ),
        BackpropRegressor(
            loss="quantile", quantile=0.3, activation="softplus", random_state=0, max_iter=100
        ),
        # The deep-network options together, each estimator; the inits are spread among
        # the configurations (an init changes the first weights, not the code path).
        BackpropClassifier(
            batch_normalization=True,
            residual=True,
            hidden_layer_sizes=(16, 16, 16),
            init="glorot_normal",
            random_state=0,
            max_iter=100,
        ),
        BackpropRegressor(
            batch_normalization=True,
            residual=True,
            hidden_layer_sizes=(16, 16),
            init=SmallNormalWeights(),
            random_state=0,
            max_iter=100,
        ),
        # The sequence estimators, with smaller blocks than their defaults (which pass
        # too, in 80 s, too long for the suite); the checks' X is 2-D, one channel, where
        # scikit-learn's contract for n_features_in_ holds.
        BackpropSequenceClassifier((8, 8), (5, 3), random_state=0, max_iter=100),
        BackpropSequenceRegressor((8, 8), (5, 3), pooling="max", random_state=0, max_iter=100),
        # Recurrent layers alone: each cell, one truncated.
        BackpropSequenceClassifier(
            (),
            (),
            (8,),
            pooling="last",
            cell="elman",
            bptt_truncate=2,
            random_state=0,
            max_iter=100,
        ),
        BackpropSequenceRegressor((), (), (8,), random_state=0),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
