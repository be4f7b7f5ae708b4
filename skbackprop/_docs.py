"""Docstring sections shared by BackpropClassifier and BackpropRegressor, written once."""

from ._training import History

PARAMETERS = """\
hidden_layer_sizes : tuple of int, default=(100,)
    Units in each hidden layer; ``()`` means no hidden layer (a linear or
    logistic model trained by gradient descent). An int is one hidden layer.

activation : str or sequence of str, default="relu"
    Activation of the hidden layers: ``"identity"``, ``"logistic"``,
    ``"tanh"``, ``"relu"``, ``"leaky_relu"`` (``max(z, 0.01 z)``), ``"elu"``
    (``z`` for ``z > 0``, else ``exp(z) - 1``), ``"gelu"`` (the exact
    ``z * Phi(z)``, ``Phi`` the standard normal CDF, as PyTorch's default),
    ``"silu"`` (``z * sigmoid(z)``, also known as swish) or ``"softplus"``
    (``log(1 + exp(z))``); or a sequence of these, one per hidden layer.

solver : {"sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "lbfgs"}, \
        default="adam"
    ``"sgd"``: ``w -= lr * g``. ``"momentum"``: ``v = momentum * v - lr * g;
    w += v`` (Nesterov's variant with ``nesterovs_momentum=True``).
    ``"adam"``: Adam with bias-corrected moments. ``"adamw"``: Adam with
    decoupled weight decay, ``W -= lr * l2 * W`` before each step, as
    ``torch.optim.AdamW(weight_decay=l2)`` with the biases undecayed: for
    it ``l2`` is that decay rate and leaves the gradient and the reported
    loss. ``"rmsprop"``: ``v = rho *
    v + (1 - rho) * g ** 2; w -= lr * g / (sqrt(v) + epsilon)``.
    ``"adagrad"``: ``G += g ** 2; w -= lr * g / (sqrt(G) + epsilon)``.
    ``"lbfgs"``: full-batch L-BFGS (scipy's L-BFGS-B), which converges faster
    and better on small data sets; it ignores ``batch_size``, ``shuffle``,
    ``learning_rate*``, ``early_stopping`` and ``n_iter_no_change`` (as in
    scikit-learn) and ``clip_gradient_norm`` (its line search needs the exact
    gradient and bounds the steps itself), refuses ``dropout``, has no
    ``partial_fit``, and records ``loss_curve_`` per iteration.

batch_size : int or "auto", default="auto"
    Rows per gradient step. ``"auto"`` is ``min(200, n_samples)``; a value
    ``>= n_samples`` is full-batch gradient descent and ``1`` is stochastic
    gradient descent.

learning_rate_init : float, default=0.001
    Initial step size.

learning_rate : {"constant", "invscaling", "adaptive", "cosine"} or callable, \
        default="constant"
    Step-size schedule, for every stochastic solver (scikit-learn's MLP
    applies it to ``"sgd"`` only). ``"invscaling"``: ``lr =
    learning_rate_init / (t + 1) ** power_t`` after each epoch, ``t`` being
    the samples seen so far. ``"adaptive"``: when the stopping rule would end
    training, divide the step size by 5 and go on, until it falls below
    1e-6. ``"cosine"``: epoch ``e`` (0-based) takes ``learning_rate_init * (1
    + cos(pi * e / max_iter)) / 2``, as PyTorch's ``CosineAnnealingLR(T_max=
    max_iter, eta_min=0)`` stepped per epoch (and 0 after ``max_iter``
    epochs). A callable ``learning_rate(e) -> rate`` gives epoch ``e``'s rate,
    a positive finite number, and is called once per epoch trained.
    Epochs count across warm starts and ``partial_fit`` calls.

power_t : float, default=0.5
    Exponent of the ``"invscaling"`` schedule.

warmup_iter : int, default=0
    Linear warm-up: the first ``warmup_iter`` epochs take ``(e + 1) /
    warmup_iter`` times the schedule's rate, whatever the schedule.

max_iter : int, default=200
    Maximum number of epochs (passes over the training data) per call to
    fit; for ``"lbfgs"``, of its iterations.

max_fun : int, default=15000
    ``"lbfgs"`` only: maximum number of evaluations of the objective.

l1 : float, default=0.0
    L1 penalty strength: the objective gains ``l1 * sum(|W|) / n_samples``.

l2 : float, default=0.0001
    L2 penalty strength: the objective gains ``0.5 * l2 * sum(W ** 2) /
    n_samples``. Both penalties act on weights, never on biases, and
    ``n_samples`` is the total weight of the samples given to fit: their
    number, or the sum of ``sample_weight`` times the classifier's
    ``class_weight`` (which counts even without ``sample_weight``), so that
    integer weights act like repeated rows. Their meaning does not depend
    on ``batch_size``.
    scikit-learn's ``MLPClassifier`` divides its ``alpha`` by the batch size
    instead, so ``alpha`` there matches ``l2`` here only for full batches.
    With ``solver="adamw"``, ``l2`` is the decoupled decay rate instead (see
    ``solver``).

dropout : float or tuple of float, default=0.0
    Inverted-dropout rate of the hidden activations during training, one
    rate for every hidden layer or one per hidden layer. Prediction uses
    the whole network and is deterministic.

momentum : float, default=0.9
    Momentum of the ``"momentum"`` solver, in [0, 1].

nesterovs_momentum : bool, default=True
    Use Nesterov's momentum with the ``"momentum"`` solver.

beta_1 : float, default=0.9
    Decay of Adam's first-moment estimate, in [0, 1).

beta_2 : float, default=0.999
    Decay of Adam's second-moment estimate, in [0, 1).

rho : float, default=0.9
    Decay of RMSProp's running mean of squared gradients, in [0, 1).

epsilon : float, default=1e-8
    Numerical-stability constant of ``"adam"``, ``"rmsprop"`` and ``"adagrad"``.

early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the training data ({split}), stop
    when the validation score has not improved by ``tol`` for
    ``n_iter_no_change`` epochs in a row, and keep the weights of the best
    epoch. Not available with ``partial_fit``.

validation_fraction : float, default=0.1
    Share of the training data held out by ``early_stopping``, in (0, 1).

n_iter_no_change : int, default=10
    Epochs without improvement by ``tol`` before training stops (scikit-learn's
    MLP stops one epoch later, after ``n_iter_no_change + 1``).

tol : float, default=1e-4
    Improvement that counts: without early stopping, of the training loss;
    with it, of the validation score. With ``learning_rate="adaptive"`` a
    stall lowers the step size instead of stopping. For ``"lbfgs"``, the
    projected-gradient tolerance at which it stops (scipy's ``gtol``).

scoring : str, callable or None, default=None
    What early stopping watches on the held-out data: None for the
    estimator's ``score`` ({score}), ``"loss"`` for the validation loss (the
    training objective on the held-out rows; recorded as its negative, so
    higher is better), or any scikit-learn scorer name or callable
    ``scorer(estimator, X, y)``.

clip_gradient_norm : float or None, default=None
    If set, rescale each step's whole gradient (all layers, weights and
    biases) so its L2 norm is at most this value: the usual remedy for
    exploding gradients. ``gradient_norms_`` records the gradients before
    clipping. Ignored by ``solver="lbfgs"``.

shuffle : bool, default=True
    Reshuffle the training rows before every epoch.

random_state : int, RandomState instance or None, default=None
    Seeds the initial weights, the shuffling, the dropout masks and the
    early-stopping split. An int makes fit reproducible bit for bit.

verbose : int, default=0
    If ``>= 1``, print one line per epoch: its number, the loss, the
    validation score (with early stopping) and the seconds it took; and
    at the end, which rule stopped training (``tol`` reached, no
    validation improvement, ``max_iter``, an interrupt) and which epoch's
    weights were kept.

warm_start : bool, default=False
    Start fit from the weights of the previous fit instead of new random
    ones. The stochastic solvers continue their state (moments, velocity,
    learning rate) and the random stream, so that fitting n epochs and then
    n more gives the weights of 2n epochs in one fit, bit for bit
    (scikit-learn's MLP restarts its solver instead); ``partial_fit``
    continues them too. ``solver="lbfgs"`` continues from the weights only:
    it restarts its curvature memory, so n iterations and then n more differ
    from 2n in one fit, as in scikit-learn. A
    ``learning_rate_init`` changed with ``set_params`` in between takes
    effect: the learning rate restarts from the new value.

init : str or callable, default="glorot_uniform"
    How the first weights are drawn, for every layer: ``"glorot_uniform"``,
    ``"glorot_normal"``, ``"he_uniform"``, ``"he_normal"`` or a callable.
    ``"glorot_uniform"``
    is scikit-learn's MLP's scheme exactly (weights and biases uniform in
    ``+-sqrt(6 / (fan_in + fan_out))``, 2 instead of 6 with a logistic
    activation), so a default network starts where ``MLPClassifier`` starts;
    it suits tanh, logistic and shallow relu networks. ``"he_*"`` draw weights
    of variance ``2 / fan_in`` and zero biases, which deep relu networks
    need. A callable ``init(fan_in, fan_out, rng) -> weights`` (``rng`` a
    numpy Generator) draws weights of shape ``(fan_in, fan_out)``; biases
    start at zero.

batch_normalization : bool, default=False
    Normalise each hidden layer's pre-activations over the batch, ``(z -
    mean) / sqrt(var + 1e-5)``, then scale and shift them by a learned
    ``gamma`` and ``beta`` per unit, before the activation (and before
    dropout). Batch statistics weigh rows by their sample weights. Helps
    deep networks train, at higher learning rates. Prediction uses running
    averages of the statistics, read from the fitted arrays (one pass more
    per hidden layer than a plain network). Needs batches of at least two rows: a
    ``batch_size`` of 1 is an error, and a last batch of one row (or with
    fewer than two rows of positive sample weight) is normalised with the
    running statistics, which it does not update. ``gamma`` and ``beta``
    are not penalised by ``l1`` and ``l2``.

batch_normalization_momentum : float, default=0.9
    Weight of the old value when a training batch updates the running
    statistics: ``running = momentum * running + (1 - momentum) * batch``.
    With ``solver="lbfgs"`` (one full batch) they are the full batch's
    statistics at the final weights.

residual : bool, default=False
    Residual (skip) connections: each hidden layer whose input and output
    widths are equal adds its input to its output, ``a(l) = f(z(l)) +
    a(l-1)`` (after batch normalization and dropout). The first hidden layer
    (whose input is X) never does. At least one layer must qualify, for
    example ``hidden_layer_sizes=(64,) * 10``. Without normalization the sum
    grows with depth; combine with ``batch_normalization`` for deep networks.

dtype : {"auto", "float32", "float64"}, default="auto"
    The precision the network trains and predicts in. ``"auto"``: float32
    input trains in float32 and anything else in float64, as scikit-learn's
    MLP follows its input. ``"float32"`` trains in float32 whatever the
    input: about half the time and memory of float64, with test scores
    that rarely differ (deep-learning libraries' default). ``coefs_`` and
    the predictions come in the training precision.
"""

ATTRIBUTES = """\
loss_ : float
    The objective (data loss plus penalties) over the last epoch, as
    scikit-learn's MLP reports it: each batch's value at the weights before
    its step, averaged over the epoch's batches (by rows or sample weights).
    With one full batch, the objective at the weights the epoch started from.

{recorded}
coefs_ : list of ndarray
    ``coefs_[i]`` is the weight matrix from layer ``i`` to layer ``i + 1``.

intercepts_ : list of ndarray
    ``intercepts_[i]`` is the bias vector of layer ``i + 1``.

gammas_, betas_ : list of ndarray or None
    Batch normalization's learned scale and shift, one array per hidden
    layer; None without ``batch_normalization``.

running_means_, running_variances_ : list of ndarray or None
    Batch normalization's running averages of each hidden layer's batch
    mean and variance, which prediction uses; None without
    ``batch_normalization``.

n_features_in_ : int
    Number of features seen during fit.

feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit; defined only when X has string
    feature names (a pandas DataFrame).

n_iter_ : int
    Epochs run by the last fit (``partial_fit`` adds one per call).

learning_rate_ : float or None
    Where the schedule stands: the step size the next epoch would take
    (warm-up included), the epoch after ``best_epoch_`` where early stopping
    went back to it, as a continued fit resumes there. A callable
    ``learning_rate`` is called only for the epochs trained, so with one this
    is the step size of the last epoch kept. None with ``solver="lbfgs"``.

n_layers_ : int
    Number of layers, input and output included.

n_outputs_ : int
    Number of output units.

out_activation_ : str
    Output activation: {out_activations}.
"""


def parameters(split, score):
    """The Parameters section; ``split`` says how early stopping holds data out."""
    return PARAMETERS.replace("{split}", split).replace("{score}", score)


def attributes(score, out_activations):
    """The shared part of the Attributes section; the recorded ones come from History."""
    text = ATTRIBUTES.replace("{recorded}", History.attribute_docs())
    return text.replace("{score}", score).replace("{out_activations}", out_activations)


def fill(template, **sections):
    """Replace each ``{name}`` in ``template`` by ``sections[name]``.

    The templates are module-level strings, so sections go in unindented.
    Plain replacement rather than str.format, since the docs hold literal braces.
    """
    for name, text in sections.items():
        template = template.replace("{" + name + "}", text.rstrip())
    return template


SEQUENCE_PARAMETERS = """\
conv_filters : tuple of int, default=(64, 64, 64)
    Filters of each 1-D convolution block, input first; ``()`` means none
    (pooling then reads the series themselves). Each block convolves with
    stride 1 and PyTorch's ``padding="same"`` (output as long as the input),
    then normalises (with ``batch_normalization``) and applies
    ``activation``.

kernel_sizes : tuple of int, default=(7, 5, 3)
    Taps of each block's filters, one entry per entry of ``conv_filters``.

recurrent_units : tuple of int, default=()
    Units of each recurrent layer after the blocks, of ``cell``; each
    outputs its state at every step, trained by backpropagation through
    time. The initial state is zero. Weights start as PyTorch's, uniform in
    ``+-1 / sqrt(units)``.

pooling : {"average", "max", "last"}, default="average"
    How the last layer's output (or the series, without blocks or recurrent
    layers) becomes one row per series: each channel's average, maximum or
    last value over the series' own steps. The dense layers of
    ``hidden_layer_sizes`` and the output layer follow.

hidden_layer_sizes : tuple of int, default=()
    Units in each dense hidden layer after the pooling; ``()`` means the
    output layer reads the pooled channels directly.

activation : str or sequence of str, default="relu"
    Activation of the convolution blocks and the hidden layers (the names
    are the MLP estimators'); or a sequence of names, one per block, then
    one per hidden layer.

cell : {"gru", "elman"}, default="gru"
    The recurrent layers' cell, in PyTorch's equations and layouts: ``GRU``
    (gates ``r``, ``z``, ``n``) or ``RNN`` (``h = tanh(W_ih x + b_ih + W_hh h
    + b_hh)``).

bptt_truncate : int or None, default=None
    Backpropagation through time truncated to this many steps: the output
    read at step ``t`` sends its gradient back through the cell steps ``t,
    ..., t - k + 1`` and no further, the state before them a constant (as
    PyTorch's ``h.detach()`` there). ``1`` is no backpropagation through
    time; None (or a ``k`` at least the series' length) is full BPTT. A
    shorter ``k`` costs less per step (``k`` carried gradients instead of
    the whole history's effect) and cannot learn what depends on steps
    further back than ``k``.
"""

# The shared entries whose defaults the sequence estimators change.
SEQUENCE_DEFAULTS = {
    "learning_rate_init": ("default=0.001", "default=0.01"),
    "batch_normalization": ("default=False", "default=True"),
}

# And those the sequence classifier alone changes: its cross-entropy still
# falls by a few 1e-5 per epoch while the margins it gains show in accuracy; a
# squared error falling that slowly is mostly fitting noise. Its batches and
# schedule are measured on classification sets; on aeon's two regression sets
# they helped one and hurt the other, so the regressor keeps the MLP's.
SEQUENCE_CLASSIFIER_DEFAULTS = {
    "max_iter": ("default=200", "default=300"),
    "tol": ("default=1e-4", "default=1e-5"),
    "batch_size": (
        '``"auto"`` is ``min(200, n_samples)``',
        '``"auto"`` is ``n_samples`` below 64\n'
        "    series and 32 from 64 on (chosen with the default adaptive schedule\n"
        "    on the UCR/UEA sets: see the user guide)",
    ),
    "learning_rate": ('default="constant"', 'default="adaptive"'),
}


def _entries(text):
    """The ``name : type`` entries of a Parameters section, by name, in order."""
    entries, name = {}, None
    for line in text.splitlines(keepends=True):
        if line[:1].isalpha() and " : " in line:
            name = line.split(" : ")[0]
            entries[name] = ""
        entries[name] += line
    return entries


def sequence_parameters(split, score, defaults=SEQUENCE_DEFAULTS):
    """The sequence estimators' Parameters section: their own entries, then the shared ones.

    ``defaults`` maps a shared entry to the ``(before, after)`` of its changed default.
    """
    shared = _entries(parameters(split, score))
    for name, (before, after) in defaults.items():
        # A reworded shared entry would otherwise keep the MLP's text unnoticed.
        if before not in shared[name]:
            raise ValueError(f"the {name} entry no longer says {before!r}")
        shared[name] = shared[name].replace(before, after, 1)
    own = _entries(SEQUENCE_PARAMETERS)
    rest = [entry for name, entry in shared.items() if name not in own]
    return "".join(entry.rstrip("\n") + "\n\n" for entry in [*own.values(), *rest])
