"""BLAS threads during fit and predict: one for small products, never more than the caller's."""

import numpy as np
import pytest
from helpers import dense_network, quiet_fit, set_blas_threads
from sklearn.datasets import make_classification
from threadpoolctl import ThreadpoolController, threadpool_limits

from skbackprop import BackpropClassifier
from skbackprop._threads import MIN_PRODUCT_FOR_THREADS
from skbackprop._training import Trainer

X, y = make_classification(n_samples=300, n_features=20, random_state=0)
BLAS = ThreadpoolController().select(user_api="blas")


def _blas_threads():
    return max(lib.num_threads for lib in BLAS.lib_controllers)


# Read at import (collection), before conftest limits each xdist worker's count: these
# tests of the thread rule need the count the process started with, restored below.
STARTED = _blas_threads() if BLAS.lib_controllers else 1
pytestmark = pytest.mark.skipif(
    STARTED < 2, reason="needs a BLAS library running more than one thread"
)


@pytest.fixture(scope="module", autouse=True)
def blas_threads_as_started(blas_threads_per_worker):
    if blas_threads_per_worker is None:
        yield
        return
    restore = set_blas_threads(STARTED)
    yield
    restore()


@pytest.fixture
def threads_in_training(monkeypatch):
    """Records the BLAS thread count while each Trainer.run runs."""
    seen, original = [], Trainer.run

    def run(self, *args, **kwargs):
        seen.append(_blas_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "run", run)
    return seen


def largest_product(n_rows, layer_sizes):
    return dense_network(layer_sizes, "relu", "softmax", np.float64).largest_product(n_rows)


def test_the_largest_product_is_rows_times_the_widest_layer_pair():
    assert largest_product(200, (64, 100, 10)) == 200 * 64 * 100
    assert largest_product(1, (3, 5, 7, 2)) == 35


def test_a_convolutions_product_spans_every_step_and_a_recurrent_loops_one():
    from skbackprop._layers import build, dense_specs, sequence_specs
    from skbackprop._network import Network

    def network(filters, kernel_sizes, recurrent_units):
        specs = sequence_specs(
            3, filters, kernel_sizes, "relu", "average", False, 0.9, recurrent_units
        )
        head = dense_specs((specs[-1][1]["fan_in"], 2), "relu", "softmax")
        head[0][1]["first"] = False
        return Network(build([*specs, *head]), np.float64)

    # 32 series of 150 steps: one product of 4,800 rows of 64 * 5 taps by 64 filters.
    assert network((64, 64), (3, 5), ()).largest_product(32, 150) == 32 * 150 * 64 * 5 * 64
    # A GRU's loop multiplies one step at a time: 3 gates * 64 units * (3 inputs + 64 units).
    assert network((), (), (64,)).largest_product(32, 150) == 32 * 3 * 64 * (3 + 64)
    assert network((8,), (3,), ()).largest_product(32) == 32 * 3 * 3 * 8  # rows: one step


def test_a_small_network_trains_on_one_thread_and_gives_the_threads_back(threads_in_training):
    before = _blas_threads()
    quiet_fit(BackpropClassifier(hidden_layer_sizes=(100,), max_iter=2), X, y)
    assert largest_product(200, (20, 100, 2)) < MIN_PRODUCT_FOR_THREADS
    assert threads_in_training == [1]
    assert _blas_threads() == before


def test_a_large_network_keeps_the_callers_threads(threads_in_training):
    before = _blas_threads()
    model = BackpropClassifier(hidden_layer_sizes=(1024, 1024), batch_size=256, max_iter=1)
    assert largest_product(256, (20, 1024, 1024, 2)) >= MIN_PRODUCT_FOR_THREADS
    quiet_fit(model, X, y)
    assert threads_in_training == [before]


def test_a_limit_the_caller_set_is_never_raised(threads_in_training):
    with threadpool_limits(limits=1, user_api="blas"):
        model = BackpropClassifier(hidden_layer_sizes=(1024, 1024), batch_size=256, max_iter=1)
        quiet_fit(model, X, y)
        assert _blas_threads() == 1
    assert threads_in_training == [1]


def test_threads_come_back_after_a_failed_fit_and_an_interrupt(monkeypatch):
    before = _blas_threads()
    with pytest.raises(ValueError, match="diverged"):
        BackpropClassifier(solver="sgd", learning_rate_init=1e10).fit(X * 1e150, y)
    assert _blas_threads() == before

    def interrupted(self, *args, **kwargs):
        assert _blas_threads() == 1
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        BackpropClassifier(max_iter=2).fit(X, y)
    assert _blas_threads() == before


def test_the_rule_can_be_switched_off(threads_in_training, monkeypatch):
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", "keep")
    before = _blas_threads()
    quiet_fit(BackpropClassifier(hidden_layer_sizes=(100,), max_iter=1), X, y)
    assert threads_in_training == [before]


def test_prediction_of_a_mid_sized_batch_runs_on_one_thread(monkeypatch):
    model = quiet_fit(BackpropClassifier(hidden_layer_sizes=(100,), max_iter=1), X, y)
    seen, original = [], type(model._network()).predict

    def predict(self, *args, **kwargs):
        seen.append(_blas_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model._network()), "predict", predict)
    model.predict(np.tile(X, (5, 1)))  # 1500 x 20 x 100: split by BLAS, too small to gain
    assert seen == [1]


# -- one coordinator for the process (issue 17) ----------------------------------

import threading  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from sklearn.datasets import make_regression  # noqa: E402

from skbackprop import BackpropRegressor, _threads  # noqa: E402
from skbackprop._threads import CALLERS, ONE, FitThreads, Section  # noqa: E402


def _counts():
    return [lib.num_threads for lib in BLAS.lib_controllers]


def test_overlapping_sections_of_both_modes_never_share_a_thread_count():
    before = _counts()
    seen, inside = [], {ONE: 0, CALLERS: 0}
    lock = threading.Lock()

    def work(index):
        mode = ONE if index % 3 else CALLERS
        with Section(mode):
            with lock:
                inside[mode] += 1
                seen.append((mode, _blas_threads(), inside[_threads._other(mode)]))
            with lock:
                inside[mode] -= 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(600)))
    assert {threads for mode, threads, _ in seen if mode == ONE} == {1}
    assert {threads for mode, threads, _ in seen if mode == CALLERS} == {max(before)}
    assert {others for _, _, others in seen} == {0}  # the other mode was never inside
    assert _counts() == before


def test_a_call_nested_in_a_section_runs_inside_it_while_another_mode_waits():
    entered = threading.Event()
    done = []

    def waiting_call():
        entered.wait()
        with Section(CALLERS):
            done.append("callers")

    waiter = threading.Thread(target=waiting_call)
    waiter.start()
    with Section(ONE):
        entered.set()
        while not _threads.COORDINATOR.others_wait(ONE):
            pass
        with Section(ONE):  # a fit's validation scoring, say: no deadlock
            done.append("nested")
    waiter.join(timeout=10)
    assert done == ["nested", "callers"]


def _concurrent_and_serial(function, inputs):
    expected = [function(item) for item in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(function, inputs)), expected


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predictions_in_eight_threads_are_the_serial_bits_and_leave_the_counts(method):
    model = quiet_fit(BackpropClassifier(hidden_layer_sizes=(256,), max_iter=2), X, y)
    rng = np.random.default_rng(0)
    # Sizes on both sides of the size rule's cut, so both modes overlap.
    sizes = [*rng.integers(1, 300, size=24), 1000, 1500]
    inputs = [rng.normal(size=(int(n), X.shape[1])) for n in sizes]
    before = _counts()
    for _ in range(5):
        got, want = _concurrent_and_serial(getattr(model, method), inputs)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        assert _counts() == before


@pytest.mark.parametrize("incremental", [False, True])
def test_fits_in_threads_give_the_serial_fits_and_leave_the_counts(incremental):
    Xr, yr = make_regression(n_samples=400, n_features=30, random_state=0)
    Xr /= 10
    yr /= 100

    def fit(seed):
        model = BackpropRegressor(hidden_layer_sizes=(64, 64), max_iter=3, random_state=seed)
        if incremental:
            for _ in range(3):
                model.partial_fit(Xr, yr)
            return model.coefs_
        return quiet_fit(model, Xr, yr).coefs_

    before = _counts()
    got, want = _concurrent_and_serial(fit, range(6))
    for a, b in zip(got, want, strict=True):
        for coef_a, coef_b in zip(a, b, strict=True):
            np.testing.assert_array_equal(coef_a, coef_b)
    assert _counts() == before


def test_a_users_limit_held_around_concurrent_calls_is_kept_and_restored():
    model = quiet_fit(BackpropClassifier(hidden_layer_sizes=(256,), max_iter=2), X, y)
    inputs = [X[: 50 + 10 * i] for i in range(16)]
    before = _counts()
    with threadpool_limits(limits=1, user_api="blas"):
        got, want = _concurrent_and_serial(model.predict_proba, inputs)
        assert max(_counts()) == 1  # never raised while the user's limit is active
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    assert _counts() == before


def test_a_users_limit_in_one_of_the_threads_is_not_undone():
    model = quiet_fit(BackpropClassifier(hidden_layer_sizes=(256,), max_iter=2), X, y)
    before = _counts()
    barrier, seen = threading.Barrier(4), []

    def user_thread():
        with threadpool_limits(limits=1, user_api="blas"):
            barrier.wait()  # the others start predicting under the user's limit
            for _ in range(50):
                model.predict_proba(X[:100])
                seen.append(max(_counts()))
            barrier.wait()

    def predicting_thread():
        barrier.wait()
        for _ in range(50):
            model.predict_proba(X[:100])
        barrier.wait()

    threads = [threading.Thread(target=user_thread)]
    threads += [threading.Thread(target=predicting_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen) == {1}
    assert _counts() == before


# -- the measured choice ---------------------------------------------------------


class _Clock:
    """A clock where a batch takes ``cost[mode]`` seconds per row."""

    def __init__(self, cost):
        self.now, self.cost, self.threads = 0.0, cost, None

    def __call__(self):
        return self.now

    def run_batch(self, rows):
        self.threads.before_batch()
        self.now += self.cost[self.threads.mode] * rows
        self.threads.after_batch(rows)


@pytest.mark.parametrize("faster", [ONE, CALLERS])
@pytest.mark.parametrize("slower_by, measured", [(3.0, 8), (1.2, 4 * _threads.MEASURED_BATCHES)])
def test_a_fit_keeps_the_faster_mode_and_measures_again_later(faster, slower_by, measured):
    """A clear winner ends measuring after two pairs; a close call measures every pair."""
    clock = _Clock({faster: 1e-4, _threads._other(faster): slower_by * 1e-4})
    modes = []
    with FitThreads(MIN_PRODUCT_FOR_THREADS * 2, probe=lambda: [], probe_key=faster) as threads:
        clock.threads, threads.clock = threads, clock
        for _ in range(400):
            clock.run_batch(100)
            modes.append(threads.mode)
    assert set(modes[: measured - 1]) == {ONE, CALLERS}
    assert modes[measured - 1 : measured + 20] == [faster] * 21
    # Batches of 10 ms: RECHECK_SECONDS later it measures again (both modes appear).
    assert set(modes[measured + 150 :]) == {ONE, CALLERS}
    assert modes[-1] == faster


def test_the_measured_choice_follows_a_change_of_load(monkeypatch):
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", "load")
    clock = _Clock({ONE: 3e-4, CALLERS: 1e-4})
    with FitThreads(MIN_PRODUCT_FOR_THREADS * 2, clock=clock) as clock.threads:
        for _ in range(20):
            clock.run_batch(100)
        assert clock.threads.mode == CALLERS
        clock.cost = {ONE: 1e-4, CALLERS: 5e-4}  # a neighbour arrives
        clock.now += _threads.RECHECK_SECONDS
        for _ in range(20):
            clock.run_batch(100)
        assert clock.threads.mode == ONE
    assert _blas_threads() > 1


def _measurement_starts(threads, clock, n_batches):
    """The times at which a fit of ``n_batches`` batches of 10 ms began measuring."""
    starts, measuring = [], False
    for _ in range(n_batches):
        clock.run_batch(100)
        if threads._plan and not measuring:
            starts.append(round(clock.now))
        measuring = bool(threads._plan)
    return starts


def test_a_confirmed_choice_waits_twice_as_long_before_measuring_again(monkeypatch):
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", "load")
    clock = _Clock({ONE: 3e-4, CALLERS: 1e-4})
    with FitThreads(MIN_PRODUCT_FOR_THREADS * 2, clock=clock) as clock.threads:
        # 10 ms per batch on two threads: 120 s of training.
        starts = _measurement_starts(clock.threads, clock, 12000)
        gaps = np.diff(starts)
        # 2, 4, 8, 16 s after each look (give or take the look itself), then 32 s at most.
        for gap, wait in zip(gaps, [2, 4, 8, 16, 32, 32], strict=False):
            assert wait <= gap <= wait + 1
        assert max(gaps) <= _threads.MAX_RECHECK_SECONDS + 1
        # A changed machine is seen at the next look, and the wait starts again from 2 s.
        clock.cost = {ONE: 1e-4, CALLERS: 5e-4}
        clock.now += _threads.MAX_RECHECK_SECONDS
        clock.run_batch(100)
        while clock.threads._plan:
            clock.run_batch(100)
        assert clock.threads.mode == ONE
        assert clock.threads._recheck == _threads.RECHECK_SECONDS


def test_the_next_fit_of_a_shape_starts_from_its_measured_choice():
    clock = _Clock({ONE: 3e-4, CALLERS: 1e-4})
    big = MIN_PRODUCT_FOR_THREADS * 2

    def fit(n_batches, key="next fit"):
        with FitThreads(big, probe=lambda: [], probe_key=key, clock=clock) as clock.threads:
            modes = []
            for _ in range(n_batches):
                clock.run_batch(100)
                modes.append(clock.threads.mode)
            return modes

    assert set(fit(20)) == {ONE, CALLERS}  # the first fit measures
    assert fit(20) == [CALLERS] * 20  # the next, within the wait, goes on with two threads
    assert set(fit(20, key="another shape")) == {ONE, CALLERS}
    clock.now += _threads.RECHECK_SECONDS  # the wait is over: it measures again
    assert set(fit(20)) == {ONE, CALLERS}


def test_measuring_needs_the_bits_to_agree(monkeypatch):
    probes = []

    def probe(answer):
        def work():
            probes.append(answer)
            return [np.array([1.0 if answer else float(len(probes))])]

        return work

    clock = _Clock({ONE: 1e-4, CALLERS: 3e-4})
    big = MIN_PRODUCT_FOR_THREADS * 2
    with FitThreads(big, probe=probe(True), probe_key="agree", clock=clock) as threads:
        assert threads.measuring
    with FitThreads(big, probe=probe(False), probe_key="differ", clock=clock) as threads:
        assert not threads.measuring and threads.mode == CALLERS  # the size rule
    with FitThreads(big, probe=probe(False), probe_key="differ", clock=clock):
        pass
    assert len(probes) == 4  # each key probed once, on each mode
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", "size")
    with FitThreads(big, probe=probe(True), probe_key="agree", clock=clock) as threads:
        assert not threads.measuring


def test_an_unknown_rule_names_the_variable(monkeypatch):
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", "fast")
    with pytest.raises(ValueError, match="SKBACKPROP_BLAS_THREADS must be one of"):
        BackpropClassifier(max_iter=1).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_fit_gives_the_same_weights_whichever_mode_the_load_picks(dtype, monkeypatch):
    """A quiet machine picks the caller's threads, a busy one a single thread: same bits.

    Whether this shape's products agree on one thread and two depends on the
    CPU's BLAS kernels (float32 256x256 products agree on SkylakeX, not on
    Zen), so the test asks the probe, not the CPU: the fit measures exactly
    when the probe says the bits agree, and its weights are the same either way.
    """
    Xw, yw = make_classification(n_samples=600, n_features=256, random_state=0)
    Xw = Xw.astype(dtype)
    monkeypatch.setattr(_threads, "_probed", {})
    runs = []
    for faster in (ONE, CALLERS):
        chosen, measured = [], []

        def after_batch(self, n_rows, faster=faster, chosen=chosen, measured=measured):
            measured.append(self.measuring)
            if self.measuring:  # as if the clock said `faster` was faster
                self._plan = []
                self.section.switch(faster)
            chosen.append(self.mode)

        monkeypatch.setattr(FitThreads, "after_batch", after_batch)
        model = BackpropClassifier((256, 256), batch_size=256, max_iter=2, random_state=0)
        runs.append((quiet_fit(model, Xw, yw), set(chosen), set(measured)))
    (first, first_modes, first_measured), (second, second_modes, second_measured) = runs
    assert len(_threads._probed) == 1  # probed once, by the first fit
    (bits_agree,) = _threads._probed.values()
    assert first_measured == second_measured == {bits_agree}
    if bits_agree:
        assert first_modes == {ONE} and second_modes == {CALLERS}
    else:  # the size rule: 256 x 256 x 256 is above the cut
        assert first_modes == second_modes == {CALLERS}
    for a, b in zip(
        first.coefs_ + first.loss_curve_, second.coefs_ + second.loss_curve_, strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_dot_gives_the_same_bits_on_any_thread_count():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100_000), rng.normal(size=100_000)
    with threadpool_limits(limits=1, user_api="blas"):
        one = _threads.dot(a, b)
    assert _threads.dot(a, b) == one
    assert one == pytest.approx(float(np.dot(a, b)), rel=1e-12)
    assert _threads.dot(a[:10], b[:10]) == float(np.dot(a[:10], b[:10]))


def test_dot_sums_every_block_exactly_in_one_rounding():
    """Blocks whose dot products are 1, 1e-17 and -1 sum to 1e-17: every block, the
    last included, goes through the one exactly rounded sum (a plain running sum gives 0)."""
    n = _threads.DOT_BLOCK
    a, b = np.zeros(3 * n), np.ones(3 * n)
    a[0], a[n], a[2 * n] = 1.0, 1e-17, -1.0
    assert _threads.dot(a, b) == 1e-17
    a[2 * n], a[3 * n - 1] = 0.0, -1.0  # the -1 at the very end of the last block
    assert _threads.dot(a, b) == 1e-17


def test_a_count_the_user_sets_inside_a_one_thread_section_survives_it():
    """The last one-thread section restores the caller's count only where it still finds 1."""
    libraries = _threads.COORDINATOR._blas()
    before = [library.get_num_threads() for library in libraries]
    user_count = max(before) + 1
    try:
        with Section(ONE):
            assert {library.get_num_threads() for library in libraries} == {1}
            libraries[0].set_num_threads(user_count)  # the user, in the middle of our call
        assert libraries[0].get_num_threads() == user_count
        assert [library.get_num_threads() for library in libraries[1:]] == before[1:]
    finally:
        for library, count in zip(libraries, before, strict=True):
            library.set_num_threads(count)


# -- where a second thread pays (issue 23) ----------------------------------------


def test_the_size_rule_puts_a_mid_sized_fit_on_one_thread(threads_in_training, monkeypatch):
    """784-100-100-100-10 at batch 60: a second thread gains 9-11% quiet and loses 2-3x busy."""
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", "size")  # no measuring: the rule alone
    rng = np.random.default_rng(0)
    Xm, ym = rng.random((120, 784)), rng.integers(0, 10, 120)
    assert largest_product(60, (784, 100, 100, 100, 10)) < MIN_PRODUCT_FOR_THREADS
    model = BackpropClassifier((100, 100, 100), activation="logistic", batch_size=60, max_iter=1)
    quiet_fit(model, Xm, ym)
    assert threads_in_training == [1]


def test_inspection_follows_the_size_rule_in_one_section_per_call(monkeypatch):
    from sklearn.datasets import load_digits

    from skbackprop._network import Network
    from skbackprop.inspection import input_gradients, integrated_gradients

    Xd, yd = load_digits(return_X_y=True)
    model = quiet_fit(BackpropClassifier((100,), max_iter=2, random_state=0), Xd / 16, yd)
    seen, entered = [], []
    original_gradient, original_enter = Network.input_gradient, _threads.COORDINATOR.enter

    def input_gradient(self, *args, **kwargs):
        seen.append(_blas_threads())
        return original_gradient(self, *args, **kwargs)

    def enter(mode):
        if not _threads.COORDINATOR.nested():
            entered.append(mode)
        return original_enter(mode)

    monkeypatch.setattr(Network, "input_gradient", input_gradient)
    monkeypatch.setattr(_threads.COORDINATOR, "enter", enter)
    before = _counts()
    integrated_gradients(model, Xd[:300] / 16, n_steps=50)  # 15 batches of 20 rows
    assert len(seen) == 15 and set(seen) == {1}
    assert entered == [ONE]  # one section for the call, not one per batch
    input_gradients(model, Xd[:300] / 16, target=0)
    assert set(seen) == {1} and entered == [ONE, ONE]
    assert _counts() == before


@pytest.mark.parametrize("rule", ["auto", "load"])
def test_a_fit_below_the_cut_never_measures(rule, monkeypatch):
    """Below the cut a second thread gains under 20% quiet and loses 2-4x busy: one thread."""
    monkeypatch.setenv("SKBACKPROP_BLAS_THREADS", rule)
    clock = _Clock({ONE: 3e-4, CALLERS: 1e-4})  # even where two threads would be faster
    small = MIN_PRODUCT_FOR_THREADS - 1
    with FitThreads(small, probe=lambda: [], probe_key="below", clock=clock) as threads:
        clock.threads = threads
        assert not threads.measuring
        for _ in range(40):
            clock.run_batch(100)
            assert threads.mode == ONE
