"""Scale out and out of core: a real Dask cluster, dask-ml's Incremental, numpy.memmap.

These need the extra skbackprop[dask]; the test extra installs it.
"""

import warnings

import joblib
import numpy as np
import pytest

for _module in ("dask.array", "distributed", "dask_ml"):
    pytest.importorskip(_module, reason="needs the dask extra")

import dask.array as da
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster, get_task_stream
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier, BackpropRegressor


def _search():
    model = BackpropClassifier(max_iter=30, learning_rate_init=0.01, random_state=0)
    grid = {
        "backpropclassifier__hidden_layer_sizes": [(4,), (16,)],
        "backpropclassifier__l2": [1e-4, 10.0],
    }
    return GridSearchCV(make_pipeline(StandardScaler(), model), grid, cv=3)


def test_grid_search_on_a_local_dask_cluster():
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = _search().fit(X, y)
        # Two worker processes on loopback; a real cluster is Client("tcp://scheduler:8786").
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,
        ):
            with get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
                distributed = _search().fit(X, y)
            workers = {task["worker"] for task in tasks.data}
            cluster_workers = set(client.scheduler_info()["workers"])
    # The fits ran on both worker processes of the cluster, not here.
    assert workers == cluster_workers and len(workers) == 2
    assert distributed.best_params_ == local.best_params_
    np.testing.assert_allclose(
        distributed.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def test_incremental_streams_dask_chunks_through_partial_fit():
    X, y = make_classification(n_samples=20_000, n_features=20, random_state=0)
    X_chunks = da.from_array(X, chunks=(2_000, 20))
    y_chunks = da.from_array(y, chunks=2_000)
    params = dict(learning_rate_init=0.01, random_state=0)
    streamed = Incremental(BackpropClassifier(**params), scoring="accuracy")
    for _ in range(3):  # each call is one pass over the ten chunks
        streamed.partial_fit(X_chunks, y_chunks, classes=[0, 1])
    assert streamed.estimator_.n_iter_ == 30
    in_memory = BackpropClassifier(max_iter=3, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory.fit(X, y)
    assert streamed.score(X_chunks, y_chunks) >= in_memory.score(X, y) - 0.02

    Xr, yr = make_regression(n_samples=6_000, n_features=10, noise=1.0, random_state=0)
    yr = yr / yr.std()
    regressor = Incremental(BackpropRegressor(learning_rate_init=0.01, random_state=0))
    for _ in range(5):
        regressor.partial_fit(
            da.from_array(Xr, chunks=(1_000, 10)), da.from_array(yr, chunks=1_000)
        )
    assert regressor.estimator_.score(Xr, yr) > 0.9


def test_partial_fit_over_a_memmap_on_disk(tmp_path):
    X, y = make_classification(n_samples=20_000, n_features=20, random_state=1)
    on_disk = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=X.shape
    )
    on_disk[:] = X
    on_disk.flush()
    del on_disk

    X_disk = np.load(tmp_path / "X.npy", mmap_mode="r")
    model = BackpropClassifier(learning_rate_init=0.01, random_state=0)
    chunk = 2_500
    for _ in range(3):
        for start in range(0, len(X_disk), chunk):
            model.partial_fit(
                X_disk[start : start + chunk], y[start : start + chunk], classes=[0, 1]
            )
    in_memory = BackpropClassifier(learning_rate_init=0.01, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory.fit(X.astype(np.float32), y)
    assert model.coefs_[0].dtype == np.float32
    assert model.score(X_disk, y) >= in_memory.score(X, y) - 0.02


@pytest.fixture(autouse=True)
def _no_leftover_client():
    yield
    from distributed import default_client

    with pytest.raises(ValueError, match="No clients found"):
        default_client()
