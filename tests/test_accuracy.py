"""Accuracy on data shipped with scikit-learn, for every solver and activation.

Each model is scaled in a Pipeline and compared with scikit-learn's MLP under
equivalent settings on the same split: same architecture, batch size, step
size and epochs; our ``momentum`` against its sgd with Nesterov momentum, our
``sgd`` against its sgd with momentum=0, and ``leaky_relu`` against its relu.
Different random initial weights move test accuracy by a few samples either
way, so "not below scikit-learn" allows ``SKLEARN_TOLERANCE``.
"""

import warnings

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor

SKLEARN_TOLERANCE = 0.02
ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu"]
LEARNING_RATES = {"sgd": 0.05, "momentum": 0.01, "adam": 0.005}
SKLEARN_SOLVER = {
    "sgd": dict(solver="sgd", momentum=0.0),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    "adam": dict(solver="adam"),
}
# Test accuracy a correct one-hidden-layer MLP reaches on these splits.
THRESHOLDS = {"iris": 0.9, "wine": 0.95, "breast_cancer": 0.94, "digits": 0.95}
LOADERS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}
_SPLITS = {}


def _split(name):
    if name not in _SPLITS:
        X, y = LOADERS[name](return_X_y=True)
        _SPLITS[name] = train_test_split(X, y, stratify=y, random_state=0)
    return _SPLITS[name]


def _test_score(model, X_train, X_test, y_train, y_test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(StandardScaler(), model).fit(X_train, y_train).score(X_test, y_test)


# Every solver with every activation on the small data sets; on digits, the slowest,
# every activation with adam and every solver with relu and tanh.
CLASSIFIER_CASES = [
    (dataset, solver, activation)
    for dataset in LOADERS
    for solver in LEARNING_RATES
    for activation in ACTIVATIONS
    if dataset != "digits" or solver == "adam" or activation in ("relu", "tanh")
]


@pytest.mark.parametrize("dataset, solver, activation", CLASSIFIER_CASES)
def test_classifier_accuracy(dataset, solver, activation):
    split = _split(dataset)
    common = dict(
        hidden_layer_sizes=(50,),
        activation=activation,
        batch_size=32,
        learning_rate_init=LEARNING_RATES[solver],
        max_iter=200,
        random_state=0,
    )
    ours = _test_score(BackpropClassifier(solver=solver, **common), *split)
    common["activation"] = "relu" if activation == "leaky_relu" else activation
    theirs = _test_score(MLPClassifier(**SKLEARN_SOLVER[solver], **common), *split)
    assert ours >= THRESHOLDS[dataset]
    assert ours >= theirs - SKLEARN_TOLERANCE


@pytest.mark.parametrize("solver", list(LEARNING_RATES))
@pytest.mark.parametrize("activation", ["identity", "tanh", "relu"])
def test_regressor_on_diabetes(solver, activation):
    X_train, X_test, y_train, y_test = train_test_split(
        *load_diabetes(return_X_y=True), random_state=0
    )
    # Full batches make l2 and scikit-learn's alpha the same penalty.
    common = dict(
        hidden_layer_sizes=(16,),
        activation=activation,
        batch_size=len(X_train),
        learning_rate_init=0.01 if solver != "sgd" else 0.1,
        max_iter=500,
    )

    def r2(model):
        target_scaled = TransformedTargetRegressor(model, transformer=StandardScaler())
        return _test_score(target_scaled, X_train, X_test, y_train, y_test)

    # R^2 on 111 test rows moves by +-0.02 with the initial weights: average 3 seeds.
    ours = np.mean(
        [r2(BackpropRegressor(solver=solver, l2=10.0, random_state=s, **common)) for s in range(3)]
    )
    theirs = np.mean(
        [
            r2(MLPRegressor(alpha=10.0, random_state=s, **SKLEARN_SOLVER[solver], **common))
            for s in range(3)
        ]
    )
    # A linear model reaches R^2 = 0.36 on this split.
    assert ours >= 0.34
    assert ours >= theirs - SKLEARN_TOLERANCE


@pytest.mark.parametrize(
    "X, Y, hidden",
    [
        # XOR: needs a hidden layer.
        ([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0], (4,)),
        # 4-bit parity, Rumelhart, Hinton & Williams' hardest small problem.
        (
            [[(i >> b) & 1 for b in range(4)] for i in range(16)],
            [bin(i).count("1") % 2 for i in range(16)],
            (8,),
        ),
    ],
    ids=["xor", "parity4"],
)
def test_classic_problems_of_rumelhart_hinton_williams(X, Y, hidden):
    model = BackpropClassifier(
        hidden_layer_sizes=hidden,
        activation="tanh",
        solver="momentum",
        learning_rate_init=0.1,
        l2=0.0,
        max_iter=2000,
        tol=0,
        n_iter_no_change=2000,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y)
    assert model.score(X, Y) == 1.0


def test_encoder_8_3_8():
    # Eight one-hot patterns squeezed through three hidden units and reproduced:
    # the network has to discover a binary code.
    X = np.eye(8)
    model = BackpropClassifier(
        hidden_layer_sizes=(3,),
        activation="logistic",
        solver="adam",
        learning_rate_init=0.05,
        l2=0.0,
        max_iter=3000,
        tol=0,
        n_iter_no_change=3000,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, np.arange(8))
    assert model.score(X, np.arange(8)) == 1.0
    hidden = 1 / (1 + np.exp(-(X @ model.coefs_[0] + model.intercepts_[0])))
    # The three hidden units give each pattern its own code, well apart from the others
    # (often, not always, a binary one: thresholded at 0.5, 6 of 8 seeds give 8 codes).
    gaps = np.linalg.norm(hidden[:, None] - hidden[None], axis=-1)[np.triu_indices(8, 1)]
    assert gaps.min() > 0.1


DEFAULTS_DATA = {**LOADERS, "diabetes": load_diabetes}


@pytest.mark.parametrize("dataset", list(DEFAULTS_DATA))
def test_defaults_match_or_beat_scikit_learn_over_seeds(dataset):
    # Both estimators exactly as constructed by a user who changes nothing, scaled in a
    # Pipeline (diabetes with a standardised target), over seeds that move the split and
    # the initial weights: mean test score and mean final training loss.
    X, y = DEFAULTS_DATA[dataset](return_X_y=True)
    regression = dataset == "diabetes"
    if regression:
        y = (y - y.mean()) / y.std()
    ours, theirs = (
        (BackpropRegressor, MLPRegressor) if regression else (BackpropClassifier, MLPClassifier)
    )
    scores, losses = {ours: [], theirs: []}, {ours: [], theirs: []}
    for seed in range(4):
        split = train_test_split(
            X, y, test_size=0.3, random_state=seed, stratify=None if regression else y
        )
        for Estimator in (ours, theirs):
            model = make_pipeline(StandardScaler(), Estimator(random_state=seed))
            scores[Estimator].append(_test_score(model, *split))
            losses[Estimator].append(model[-1].loss_)
    assert np.mean(scores[ours]) >= np.mean(scores[theirs]) - SKLEARN_TOLERANCE
    assert np.mean(losses[ours]) <= 1.15 * np.mean(losses[theirs])
