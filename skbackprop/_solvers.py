"""Solvers: ``step(params, grads)`` updates the flat parameter buffer in place.

Each solver works on the whole network at once (``params`` and ``grads`` are
the flat buffers of :class:`skbackprop._network.Network`). It makes its state
arrays (moments, velocity, a scratch buffer) on its first step, sized like
``params``, and reuses them: a step allocates nothing. Everything a solver
remembers between steps is in ``get_state()``, so training can roll back to
an earlier epoch or continue in a later ``partial_fit`` exactly.

Learning-rate schedules, for every solver here (scikit-learn's MLP applies
them to ``sgd`` only); the first three as scikit-learn defines them:

- ``constant``: ``lr = learning_rate_init``;
- ``invscaling``: after each epoch ``lr = learning_rate_init / (t + 1)**power_t``
  with ``t`` the number of samples seen;
- ``adaptive``: when the loss reaches a plateau, ``lr /= 5`` and training
  goes on, until ``lr`` falls below 1e-6;
- ``cosine``: epoch ``e`` (0-based) uses ``learning_rate_init * (1 + cos(pi e /
  max_iter)) / 2``, PyTorch's ``CosineAnnealingLR(T_max=max_iter, eta_min=0)``
  stepped per epoch, and 0 from epoch ``max_iter`` on;
- a callable: epoch ``e`` uses ``learning_rate(e)``.

``warmup_iter = w > 0`` multiplies any of them by ``(e + 1) / w`` for the
first ``w`` epochs: a linear warm-up to the schedule's rate. Epochs count
across warm starts and ``partial_fit`` calls. ``learning_rate`` is the
schedule's own state (what ``adaptive`` divides); ``rate`` is the step size
of the current epoch, which :meth:`Sgd.begin_epoch` sets.

To add a solver: a subclass of :class:`Sgd` (for the schedules) with its
``step`` and, in ``_state_arrays``, the arrays it keeps between steps; an
entry in ``SOLVERS``; and its hand-worked test in ``tests/test_solvers.py``.
``make_solver`` passes it the estimator's parameters its ``__init__`` names.
"""

import functools
import inspect
import math
from numbers import Real
from typing import Protocol

import numpy as np

MIN_ADAPTIVE_LEARNING_RATE = 1e-6


class Solver(Protocol):
    """What the training loop asks of a solver."""

    rate: float

    def step(self, params, grads):
        """Update ``params`` in place from ``grads``; reads ``grads`` only."""

    def begin_epoch(self, epoch):
        """Set ``rate`` for epoch ``epoch`` (0-based, counting earlier calls' epochs)."""

    def end_epoch(self, samples_seen):
        """Adjust the learning rate after an epoch (schedules)."""

    def lower_learning_rate_on_plateau(self):
        """Called when the loss stops improving: True if it lowered the rate, False to stop."""

    def get_state(self):
        """Everything the solver remembers, as plain values and array copies."""

    def set_state(self, state):
        """Continue from a ``get_state()`` of a solver of the same kind and size."""


class Sgd:
    """Plain gradient descent: ``w -= lr * g``."""

    # Hyper-parameters are kept as Python floats: a numpy float64 scalar would
    # make every in-place float32 update run through a slow casting loop.

    def __init__(
        self,
        learning_rate_init,
        learning_rate="constant",
        power_t=0.5,
        max_iter=200,
        warmup_iter=0,
    ):
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.rate = self.learning_rate
        self.schedule = learning_rate
        self.power_t = float(power_t)
        self.max_iter = int(max_iter)
        self.warmup_iter = int(warmup_iter)
        self._scratch = None

    def rate_at(self, epoch):
        """The step size of epoch ``epoch``: the schedule's rate, warmed up."""
        if callable(self.schedule):
            rate = _scheduled_rate(self.schedule, epoch)
        elif self.schedule == "cosine":
            progress = min(epoch, self.max_iter) / self.max_iter
            rate = self.learning_rate_init * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            rate = self.learning_rate
        if epoch < self.warmup_iter:
            rate *= (epoch + 1) / self.warmup_iter
        return rate

    def begin_epoch(self, epoch):
        if (
            epoch >= self.warmup_iter
            and isinstance(self.schedule, str)
            and self.schedule != "cosine"
        ):
            self.rate = self.learning_rate  # the common case, without rate_at's branches
        else:
            self.rate = self.rate_at(epoch)

    # The arrays a solver keeps between steps, as {state key: attribute}: made as
    # zeros like ``params`` before the first step, copied by get_state and
    # restored by set_state, so a subclass only names them.
    _state_arrays = {}

    def _kept_factor(self, key):
        """The array kept under ``key`` is the state of the math (``m``, ``v`` ...) times this.

        A solver may keep a scaled state to save a pass per step. The state
        saves the factor with the arrays, so a hyper-parameter changed before
        it is restored (``rho`` between ``partial_fit`` calls) rescales them.
        """
        return 1.0

    def _kept_factors(self):
        # Fixed for the solver's life (a changed hyper-parameter makes a new solver).
        if getattr(self, "_factors", None) is None:
            self._factors = {key: self._kept_factor(key) for key in self._state_arrays}
        return self._factors

    def _make_state(self, params):
        """State arrays shaped like ``params``, made once (before the first step).

        Restored arrays take ``params``' dtype (a warm start may switch it).
        """
        self._scratch = np.empty_like(params)
        for attribute in self._state_arrays.values():
            array = getattr(self, attribute)
            if array is None:
                setattr(self, attribute, np.zeros_like(params))
            elif array.dtype != params.dtype:
                setattr(self, attribute, array.astype(params.dtype))

    def step(self, params, grads):
        if self._scratch is None:
            self._make_state(params)
        np.multiply(grads, self.rate, out=self._scratch)
        params -= self._scratch

    def end_epoch(self, samples_seen):
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (samples_seen + 1) ** self.power_t

    def lower_learning_rate_on_plateau(self):
        if self.schedule != "adaptive" or self.learning_rate <= MIN_ADAPTIVE_LEARNING_RATE:
            return False
        self.learning_rate /= 5.0
        return True

    def get_state(self):
        state = {
            "learning_rate": self.learning_rate,
            "rate": self.rate,
            "learning_rate_init": self.learning_rate_init,
            "kept_factors": self._kept_factors(),
        }
        for key, attribute in self._state_arrays.items():
            array = getattr(self, attribute)
            if array is not None:
                state[key] = array.copy()
        return state

    def set_state(self, state):
        # A learning_rate_init changed since the state was saved (set_params between
        # warm-started fits) is the caller's new choice: the rate restarts from it.
        if state.get("learning_rate_init", self.learning_rate_init) == self.learning_rate_init:
            self.learning_rate = float(state["learning_rate"])
            # The step size of the state's last epoch, until begin_epoch sets the next one's.
            self.rate = float(state.get("rate", self.learning_rate))
        else:
            self.rate = self.learning_rate
        # States saved before the factors were (0.2) were kept at today's factors.
        saved_factors = state.get("kept_factors", {})
        for key, attribute in self._state_arrays.items():
            if key in state:
                array = np.array(state[key], copy=True)
                now, then = self._kept_factor(key), saved_factors.get(key, self._kept_factor(key))
                if now != then:
                    array *= now / then
                setattr(self, attribute, array)


def _scheduled_rate(schedule, epoch):
    """``schedule(epoch)``, checked: a user's schedule must give a positive finite step size."""
    rate = schedule(epoch)
    if isinstance(rate, np.ndarray) and rate.ndim == 0:
        rate = rate.item()  # a 0-d array is a number
    message = (
        "learning_rate, a callable, must return the step size of epoch e as a positive "
        f"finite number; for epoch {epoch} it returned {rate!r}."
    )
    if isinstance(rate, bool | str) or not isinstance(rate, Real):
        raise TypeError(message)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(message)
    return float(rate)


class Momentum(Sgd):
    """Heavy-ball momentum: ``v = momentum * v - lr * g; w += v``.

    With ``nesterovs_momentum=True`` the step looks ahead along the new
    velocity: ``w += momentum * v - lr * g``.
    """

    _state_arrays = {"velocity": "velocity"}

    def __init__(self, learning_rate_init, *, momentum=0.9, nesterovs_momentum=True, **schedule):
        super().__init__(learning_rate_init, **schedule)
        self.momentum = float(momentum)
        self.nesterov = nesterovs_momentum
        self.velocity = None

    def step(self, params, grads):
        if self._scratch is None:
            self._make_state(params)
        lr_grads = np.multiply(grads, self.rate, out=self._scratch)
        self.velocity *= self.momentum
        self.velocity -= lr_grads
        if self.nesterov:
            # w += momentum * v - lr * g, in two in-place passes.
            params -= lr_grads
            np.multiply(self.velocity, self.momentum, out=self._scratch)
            params += self._scratch
        else:
            params += self.velocity


class Adam(Sgd):
    """Adam (Kingma & Ba, 2015), with bias correction folded into the step size.

    ``m = beta_1 m + (1 - beta_1) g``, ``v = beta_2 v + (1 - beta_2) g**2``,
    ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``.

    The moments are kept divided by ``1 - beta``: ``M = m / (1 - beta_1)``
    follows ``M = beta_1 M + g``, one pass over the parameters fewer than
    ``m``, and likewise ``V``; the constants move into the step.
    """

    _state_arrays = {"M": "_M", "V": "_V"}

    def _kept_factor(self, key):
        return 1.0 / (1.0 - (self.beta_1 if key == "M" else self.beta_2))

    def __init__(self, learning_rate_init, *, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **schedule):
        super().__init__(learning_rate_init, **schedule)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self._M = self._V = None

    @property
    def first_moment(self):
        return (1 - self.beta_1) * self._M

    @property
    def second_moment(self):
        return (1 - self.beta_2) * self._V

    def step(self, params, grads):
        if self._scratch is None:
            self._make_state(params)
        self.t += 1
        scratch, M, V = self._scratch, self._M, self._V
        M *= self.beta_1
        M += grads
        V *= self.beta_2
        np.square(grads, out=scratch)
        V += scratch
        # m / (sqrt(v) + eps) = (1 - beta_1) / sqrt(1 - beta_2) * M / (sqrt(V) + eps')
        root = math.sqrt(1 - self.beta_2)
        step_size = (
            self.rate
            * math.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
            * (1 - self.beta_1)
            / root
        )
        np.sqrt(V, out=scratch)
        scratch += self.epsilon / root
        np.divide(M, scratch, out=scratch)
        scratch *= step_size
        params -= scratch

    def get_state(self):
        return {**super().get_state(), "t": self.t}

    def set_state(self, state):
        super().set_state(state)
        self.t = int(state["t"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Before each Adam step the weights (never the biases) shrink,
    ``W -= lr * l2 * W``: ``l2`` is the decay rate, applied to the weights
    directly rather than added to the gradient, so Adam's per-weight scaling
    does not weaken it. ``n_weights`` weights lead the flat buffer.
    """

    def __init__(self, learning_rate_init, *, l2=0.0, n_weights=0, **adam):
        super().__init__(learning_rate_init, **adam)
        self.weight_decay = float(l2)
        self.n_weights = int(n_weights)

    def step(self, params, grads):
        if self.weight_decay:
            params[: self.n_weights] *= 1.0 - self.rate * self.weight_decay
        super().step(params, grads)


class RMSProp(Sgd):
    """RMSProp (Tieleman & Hinton, 2012): a step scaled by a running RMS of the gradient.

    ``v = rho v + (1 - rho) g**2``, ``w -= lr * g / (sqrt(v) + epsilon)``.

    ``V = v / (1 - rho)`` follows ``V = rho V + g**2``, one pass fewer, and
    ``g / (sqrt(v) + eps) = g / sqrt(1 - rho) / (sqrt(V) + eps / sqrt(1 - rho))``.
    """

    _state_arrays = {"V": "_V"}

    def _kept_factor(self, key):
        return 1.0 / (1.0 - self.rho)

    def __init__(self, learning_rate_init, *, rho=0.9, epsilon=1e-8, **schedule):
        super().__init__(learning_rate_init, **schedule)
        self.rho = float(rho)
        self.epsilon = float(epsilon)
        self._V = None

    @property
    def mean_square(self):
        """The running mean of the squared gradient, ``v``."""
        return (1 - self.rho) * self._V

    def step(self, params, grads):
        if self._scratch is None:
            self._make_state(params)
        scratch, V = self._scratch, self._V
        V *= self.rho
        np.square(grads, out=scratch)
        V += scratch
        root = math.sqrt(1 - self.rho)
        np.sqrt(V, out=scratch)
        scratch += self.epsilon / root
        np.divide(grads, scratch, out=scratch)
        scratch *= self.rate / root
        params -= scratch


class AdaGrad(Sgd):
    """AdaGrad (Duchi, Hazan & Singer, 2011): steps shrink with the sum of squared gradients.

    ``G += g**2``, ``w -= lr * g / (sqrt(G) + epsilon)``.
    """

    _state_arrays = {"G": "sum_of_squares"}

    def __init__(self, learning_rate_init, *, epsilon=1e-8, **schedule):
        super().__init__(learning_rate_init, **schedule)
        self.epsilon = float(epsilon)
        self.sum_of_squares = None

    def step(self, params, grads):
        if self._scratch is None:
            self._make_state(params)
        scratch, G = self._scratch, self.sum_of_squares
        np.square(grads, out=scratch)
        G += scratch
        np.sqrt(G, out=scratch)
        scratch += self.epsilon
        np.divide(grads, scratch, out=scratch)
        scratch *= self.rate
        params -= scratch


SOLVERS = {
    "sgd": Sgd,
    "momentum": Momentum,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSProp,
    "adagrad": AdaGrad,
}


def make_solver(name, **settings):
    """The solver called ``name``, given those of ``settings`` its ``__init__`` takes.

    ``settings`` are the estimator's parameters (``learning_rate_init``,
    ``momentum``, ``beta_1`` ...); each solver picks what it uses by name,
    through the ``__init__`` of every class it derives from.
    """
    solver_class = SOLVERS[name]
    accepted = _init_parameters(solver_class)
    return solver_class(**{key: value for key, value in settings.items() if key in accepted})


@functools.cache
def _init_parameters(solver_class):
    # Once per class: inspect.signature costs more than a small fit's epoch.
    return frozenset(
        parameter
        for cls in solver_class.__mro__
        if cls is not object and "__init__" in vars(cls)
        for parameter in inspect.signature(cls.__init__).parameters
    )
