"""BLAS threads: one coordinator for the process, a size rule, and a measured choice for fits.

OpenBLAS keeps one thread count for the whole process, so lowering it is
shared state. Every change goes through one :class:`_Coordinator`: calls run
in *sections* of one of two modes, ``ONE`` (BLAS on one thread) or
``CALLERS`` (the count the caller set). Sections of one mode overlap freely;
a section of the other mode waits until they have left, and long calls give
way between batches (or prediction chunks) when one waits. The first ``ONE``
section lowers the count, the last one to leave restores what it found.
So overlapping calls in any number of threads leave the count as the user
had it, and every call's products run on the count its own rule chose: its
results are the bits a call alone would give.

Which mode a call wants:

* A product of at most ``OPENBLAS_SINGLE_THREAD_PRODUCT`` multiply-adds runs on
  one thread whatever the count (OpenBLAS's own rule): no section at all.
* Prediction, inspection, and a fit that cannot measure: one thread below
  ``MIN_PRODUCT_FOR_THREADS`` multiply-adds in the largest product (a second
  thread gains little there on a quiet machine and loses 2-3x on a busy one),
  the caller's count above it.
* A fit above the cut whose products give the same bits on one thread and
  on the caller's count (checked once per network shape by
  :func:`bits_agree`) measures:
  it times a few batches on each, interleaved, keeps the faster and looks
  again ``RECHECK_SECONDS`` later, waiting twice as long after each look
  that confirms the choice (up to ``MAX_RECHECK_SECONDS``): a quiet
  machine soon stops paying for slow batches, a changed one is seen within
  the longest wait. The next fit of the same shape (in a search, say)
  starts from that choice and wait. Where the bits differ (most float32
  shapes, some float64 ones), following the load would make two fits with
  the same ``random_state`` differ, so such a fit keeps the size rule.

``SKBACKPROP_BLAS_THREADS`` switches the rule: ``keep`` leaves BLAS threads
alone entirely, ``size`` never measures (the 0.2 rule), ``load`` measures even
where the bits may change (fastest on a busy machine; float32 results then
depend on the load in their last bits).
"""

import math
import os
import statistics
import threading
import time

import numpy as np

# m * n * k of one product. OpenBLAS keeps products up to 65536 * 4 on one
# thread by itself (more, 65536 * 8, on two cores; this is the safe bound).
OPENBLAS_SINGLE_THREAD_PRODUCT = 65536 * 4
# Where a second thread gains 20% on a whole quiet fit (not on one product), measured
# for float32 and float64 fits of 60-256 rows per batch and layers of 64-1024 units on
# a 2-core machine: below 12 Mi multiply-adds it gains 0-20% (the 784-100-100-100-10
# network at batch 60: 9-11%), from 15 Mi on 26-60%, the same cut for both dtypes.
MIN_PRODUCT_FOR_THREADS = 3 * 2**22
ONE, CALLERS = "one", "callers"
# Batches timed per mode in one measurement, and how long a choice stands.
MEASURED_BATCHES = 6
RECHECK_SECONDS = 2.0
# A look that keeps the mode doubles the wait before the next, up to this. Measuring
# costs about 12 slow batches: every 2 s that was 10-15% of a float64 conv fit's time.
MAX_RECHECK_SECONDS = 32.0
# A mode this much faster after two pairs is chosen without measuring the rest.
CLEAR_WINNER = 0.7
RULES = ("auto", "size", "load", "keep")


def rule():
    """The thread rule set by ``SKBACKPROP_BLAS_THREADS`` (default ``auto``)."""
    value = os.environ.get("SKBACKPROP_BLAS_THREADS", "auto")
    if value not in RULES:
        raise ValueError(
            f"SKBACKPROP_BLAS_THREADS must be one of {', '.join(RULES)}; got {value!r}."
        )
    return value


# OpenBLAS computes a dot product of up to 10,000 elements on one thread.
DOT_BLOCK = 8192


def dot(a, b):
    """``a . b`` of two 1-D arrays as a float, the same bits whatever BLAS's thread count.

    Longer vectors are summed block by block: each block is below OpenBLAS's
    threading size, and the blocks add up in one fixed order. Losses, norms
    and penalties use it, so that where BLAS's products agree on one thread
    and on several, so does everything a fit decides from them.
    """
    if a.size <= DOT_BLOCK:
        return float(np.dot(a, b))
    return math.fsum(
        float(np.dot(a[start : start + DOT_BLOCK], b[start : start + DOT_BLOCK]))
        for start in range(0, a.size, DOT_BLOCK)
    )


def _other(mode):
    return CALLERS if mode == ONE else ONE


class _Coordinator:
    """The one owner of the process's BLAS thread count while skbackprop runs.

    A thread's nested calls (a fit scoring its validation rows through
    predict, a callback predicting) run inside its outermost section.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._mode = None
        self._active = 0
        self._waiting = {ONE: 0, CALLERS: 0}
        self._lowered = []  # (library, count found) of each library the ONE mode lowered
        self._libraries = None
        self._local = threading.local()

    def _blas(self):
        # threadpoolctl's scan of the loaded libraries takes milliseconds: once.
        if self._libraries is None:
            from threadpoolctl import ThreadpoolController

            controller = ThreadpoolController().select(user_api="blas")
            self._libraries = [_BlasLibrary(library) for library in controller.lib_controllers]
        return self._libraries

    def callers_threads(self):
        """The largest BLAS thread count the caller set (not the one ONE sections hold)."""
        with self._condition:
            if self._lowered:
                return max(count for _, count in self._lowered)
            return max((library.get_num_threads() for library in self._blas()), default=1)

    def nested(self):
        return getattr(self._local, "depth", 0) > 0

    def enter(self, mode):
        if self.nested():
            self._local.depth += 1
            return
        with self._condition:
            self._waiting[mode] += 1
            try:
                # Same mode: join unless the other waits (then it goes first, no starving).
                while self._active and (self._mode != mode or self._waiting[_other(mode)]):
                    self._condition.wait()
            finally:
                self._waiting[mode] -= 1
            if not self._active:
                self._mode = mode
                if mode == ONE:
                    self._lower()
            self._active += 1
            self._local.depth = 1

    def leave(self):
        self._local.depth -= 1
        if self._local.depth:
            return
        with self._condition:
            self._active -= 1
            if not self._active:
                self._restore()
                self._mode = None
                self._condition.notify_all()

    def others_wait(self, mode):
        """Whether a call of the other mode waits (read without the lock: a hint)."""
        return self._waiting[_other(mode)] > 0

    def outermost(self):
        return getattr(self._local, "depth", 0) == 1

    def _lower(self):
        for library in self._blas():
            count = library.get_num_threads()
            if count > 1:
                library.set_num_threads(1)
                self._lowered.append((library, count))

    def _restore(self):
        for library, count in self._lowered:
            # Someone who changed the count meanwhile (not to 1) keeps their change.
            if library.get_num_threads() == 1:
                library.set_num_threads(count)
        self._lowered = []


class _BlasLibrary:
    """Get and set one BLAS library's thread count.

    OpenBLAS with its own threads is called directly: threadpoolctl lets only
    the first thread that sets its count set it again (others silently do
    nothing), which would lose the coordinator's changes made from other threads.
    """

    def __init__(self, controller):
        self.get_num_threads = controller.get_num_threads
        self.set_num_threads = controller.set_num_threads
        if controller.internal_api == "openblas" and controller.threading_layer != "openmp":
            functions = _openblas_functions(controller.filepath)
            if functions is not None:
                self.get_num_threads, self.set_num_threads = functions


def _openblas_functions(path):
    """OpenBLAS's ``openblas_get_num_threads`` and ``openblas_set_num_threads`` in ``path``."""
    import ctypes

    library = ctypes.CDLL(path)
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64"):
            get = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.restype = ctypes.c_int, None
                set_.argtypes = [ctypes.c_int]
                return get, set_
    return None


COORDINATOR = _Coordinator()


class Section:
    """A context in which BLAS runs on one thread (``ONE``) or the caller's count (``CALLERS``).

    ``mode`` None runs without a section: BLAS is left as it is.
    """

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        if self.mode is not None:
            COORDINATOR.enter(self.mode)
        return self

    def __exit__(self, *exc_info):
        if self.mode is not None:
            COORDINATOR.leave()

    def give_way(self):
        """Between two units of work (batches, chunks): let a waiting call of the other mode in."""
        if self.mode is not None and COORDINATOR.others_wait(self.mode):
            if COORDINATOR.outermost():
                self._reenter(self.mode)

    def switch(self, mode):
        """Continue in ``mode`` (a fit's measured choice, in its outermost section)."""
        if mode != self.mode and self.mode is not None:
            self._reenter(mode)

    def _reenter(self, mode):
        COORDINATOR.leave()
        self.mode = None  # an interrupt while waiting to enter leaves nothing to leave
        COORDINATOR.enter(mode)
        self.mode = mode


def size_rule(product):
    """The mode a call whose largest product is ``product`` multiply-adds runs in, by size."""
    if rule() == "keep" or product <= OPENBLAS_SINGLE_THREAD_PRODUCT:
        return None
    if COORDINATOR.callers_threads() <= 1:
        return None
    return ONE if product < MIN_PRODUCT_FOR_THREADS else CALLERS


def threads_for(product):
    """The section a prediction whose largest product is ``product`` runs in."""
    return Section(size_rule(product))


def bits_agree(work):
    """Whether ``work()`` returns the same arrays, bit for bit, on one thread and on the caller's.

    ``work`` must not change anything it reads (it probes the products of a fit).
    """
    with Section(ONE):
        one = [np.array(array, copy=True) for array in work()]
    with Section(CALLERS):
        callers = [np.array(array, copy=True) for array in work()]
    return all(np.array_equal(a, b) for a, b in zip(one, callers, strict=True))


# Probe results by the shape of the work, so a fit of a known shape does not probe again.
_probed = {}
# The latest measured choice by the same key, (clock, mode, when, wait): a fit of a shape
# measured moments ago (a grid search's next fit, the next partial_fit call) starts from
# that choice and its wait, instead of timing slow batches again at once.
_measured = {}


class FitThreads:
    """The BLAS threads of one fit: a section whose mode follows measurement where allowed.

    Use as a context around training; the trainer calls :meth:`before_batch`
    and :meth:`after_batch` around every batch. ``probe`` (a callable for
    :func:`bits_agree`) and ``probe_key`` (what the probe's result depends on)
    say whether measuring may change the mode; without them the size rule
    holds for the whole fit.
    """

    def __init__(self, product, probe=None, probe_key=None, clock=time.perf_counter):
        self.product = product
        self.probe, self.probe_key = probe, probe_key
        self.clock = clock
        self.section = None
        self.measuring = False

    def _may_measure(self):
        chosen = rule()
        if chosen in ("keep", "size") or (chosen == "auto" and self.probe is None):
            return False
        # Below the cut one thread is within 20% of two on a quiet machine and far
        # ahead on a busy one: measuring there risks more than it can gain.
        if self.product < MIN_PRODUCT_FOR_THREADS or COORDINATOR.nested():
            return False
        if COORDINATOR.callers_threads() <= 1:
            return False
        if chosen == "load":
            return True
        if self.probe_key not in _probed:
            _probed[self.probe_key] = bits_agree(self.probe)
        return _probed[self.probe_key]

    def __enter__(self):
        """Enter the fit's section; returns None when there is nothing to do between batches."""
        self.measuring = self._may_measure()
        self.section = Section(size_rule(self.product)).__enter__()
        self._plan, self._times = [], {ONE: [], CALLERS: []}
        self._decided_at = -float("inf")
        self._chosen, self._recheck = None, RECHECK_SECONDS
        if self.measuring and self.section.mode is not None:
            self._continue_measured()
        return self if self.section.mode is not None else None

    def _continue_measured(self):
        """Start from the choice a fit of this shape measured, while its wait lasts."""
        remembered = _measured.get(self.probe_key)
        if remembered is None:
            return
        clock, chosen, decided_at, recheck = remembered
        if clock is self.clock and self.clock() - decided_at < recheck:
            self._chosen, self._decided_at, self._recheck = chosen, decided_at, recheck
            self.section.switch(chosen)

    def __exit__(self, *exc_info):
        self.section.__exit__(*exc_info)

    def before_batch(self):
        if self.measuring:
            if not self._plan and self.clock() - self._decided_at >= self._recheck:
                # Interleaved pairs, so a change of load mid-measurement biases neither.
                self._plan = [ONE, ONE, CALLERS, CALLERS] * MEASURED_BATCHES
            if self._plan:
                self.section.switch(self._plan[0])
            self._started = self.clock()
        self.section.give_way()

    def after_batch(self, n_rows):
        if not self._plan:
            return
        mode = self._plan.pop(0)
        # The first batch after a switch wakes or parks BLAS's threads: time the second.
        if self._plan and self._plan[0] == mode:
            return
        self._times[mode].append((self.clock() - self._started) / n_rows)
        if mode == CALLERS and (not self._plan or self._clear_winner()):
            self._decide()

    def _means(self):
        # The mean, not the median: a busy core stalls a two-thread batch now and
        # then for a whole scheduler time slice, and those stalls are the cost.
        return {mode: statistics.fmean(times) for mode, times in self._times.items()}

    def _clear_winner(self):
        """After two pairs, a mode under ``CLEAR_WINNER`` of the other's time ends measuring."""
        if len(self._times[CALLERS]) < 2:
            return False
        means = self._means()
        return min(means.values()) < CLEAR_WINNER * max(means.values())

    def _decide(self):
        means = self._means()
        chosen = min(means, key=means.get)
        confirmed = chosen == self._chosen
        self._recheck = (
            min(2 * self._recheck, MAX_RECHECK_SECONDS) if confirmed else RECHECK_SECONDS
        )
        self._chosen = chosen
        self._plan = []
        self.section.switch(chosen)
        self._times = {ONE: [], CALLERS: []}
        self._decided_at = self.clock()
        _measured[self.probe_key] = (self.clock, chosen, self._decided_at, self._recheck)

    @property
    def mode(self):
        return self.section.mode
