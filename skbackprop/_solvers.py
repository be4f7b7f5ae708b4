"""Solvers: ``step(grads)`` updates the flat parameter buffer in place.

Each solver works on the whole network at once (``params`` and ``grads`` are
the flat buffers of :class:`skbackprop._network.Network`) and keeps its
state in arrays made once, so a step allocates nothing.

Learning-rate schedules (``sgd`` and ``momentum``), as scikit-learn's MLP
defines them:

- ``constant``: ``lr = learning_rate_init``;
- ``invscaling``: after each epoch ``lr = learning_rate_init / (t + 1)**power_t``
  with ``t`` the number of samples seen;
- ``adaptive``: when the stopping rule fires, ``lr /= 5`` and training goes
  on, until ``lr`` falls below 1e-6.
"""

import math

import numpy as np

MIN_ADAPTIVE_LEARNING_RATE = 1e-6


class Sgd:
    """Plain gradient descent: ``w -= lr * g``."""

    # Hyper-parameters are kept as Python floats: a numpy float64 scalar would
    # make every in-place float32 update run through a slow casting loop.

    def __init__(self, params, learning_rate_init, schedule="constant", power_t=0.5):
        self.params = params
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.schedule = schedule
        self.power_t = float(power_t)
        self._scratch = np.empty_like(params)

    def step(self, grads):
        np.multiply(grads, self.learning_rate, out=self._scratch)
        self.params -= self._scratch

    def end_epoch(self, samples_seen):
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (samples_seen + 1) ** self.power_t

    def stalled(self):
        """Called when the loss stalls; returns True if training should stop."""
        if self.schedule != "adaptive" or self.learning_rate <= MIN_ADAPTIVE_LEARNING_RATE:
            return True
        self.learning_rate /= 5.0
        return False

    def get_state(self):
        """The solver's state as plain values and arrays (for warm starts)."""
        return {"learning_rate": self.learning_rate}

    def set_state(self, state):
        """Continue from a ``get_state()`` of a solver of the same kind and size."""
        self.learning_rate = float(state["learning_rate"])


class Momentum(Sgd):
    """Heavy-ball momentum: ``v = momentum * v - lr * g; w += v``.

    With ``nesterov=True`` the step looks ahead along the new velocity:
    ``w += momentum * v - lr * g``.
    """

    def __init__(
        self,
        params,
        learning_rate_init,
        schedule="constant",
        power_t=0.5,
        momentum=0.9,
        nesterov=True,
    ):
        super().__init__(params, learning_rate_init, schedule, power_t)
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.velocity = np.zeros_like(params)

    def step(self, grads):
        lr_grads = np.multiply(grads, self.learning_rate, out=self._scratch)
        self.velocity *= self.momentum
        self.velocity -= lr_grads
        if self.nesterov:
            # w += momentum * v - lr * g, in two in-place passes.
            self.params -= lr_grads
            np.multiply(self.velocity, self.momentum, out=self._scratch)
            self.params += self._scratch
        else:
            self.params += self.velocity

    def get_state(self):
        return {**super().get_state(), "velocity": self.velocity.copy()}

    def set_state(self, state):
        super().set_state(state)
        self.velocity[...] = state["velocity"]


class Adam(Sgd):
    """Adam (Kingma & Ba, 2015), with bias correction folded into the step size.

    ``m = beta_1 m + (1 - beta_1) g``, ``v = beta_2 v + (1 - beta_2) g**2``,
    ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``.
    The learning rate has no schedule and the solver stops when the loss stalls.

    The moments are kept divided by ``1 - beta``: ``M = m / (1 - beta_1)``
    follows ``M = beta_1 M + g``, one pass over the parameters fewer than
    ``m``, and likewise ``V``; the constants move into the step.
    """

    def __init__(self, params, learning_rate_init, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(params, learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self._M = np.zeros_like(params)
        self._V = np.zeros_like(params)

    @property
    def first_moment(self):
        return (1 - self.beta_1) * self._M

    @property
    def second_moment(self):
        return (1 - self.beta_2) * self._V

    def step(self, grads):
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
            self.learning_rate
            * math.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
            * (1 - self.beta_1)
            / root
        )
        np.sqrt(V, out=scratch)
        scratch += self.epsilon / root
        np.divide(M, scratch, out=scratch)
        scratch *= step_size
        self.params -= scratch

    def get_state(self):
        return {
            **super().get_state(),
            "t": self.t,
            "M": self._M.copy(),
            "V": self._V.copy(),
        }

    def set_state(self, state):
        super().set_state(state)
        self.t = int(state["t"])
        self._M[...] = state["M"]
        self._V[...] = state["V"]
