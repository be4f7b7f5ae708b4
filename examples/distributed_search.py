"""
Hyper-parameter search on a Dask cluster
=========================================

GridSearchCV fans its fits out through joblib; joblib's Dask backend sends them
to the workers of a ``dask.distributed`` cluster. Here the cluster is two
local worker processes; to use a real one, replace the LocalCluster by the
scheduler's address: ``Client("tcp://scheduler-host:8786")``. Every worker
needs skbackprop installed (``pip install "skbackprop[dask]"``).
"""

import time
import warnings

import joblib
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier

if __name__ == "__main__":  # worker processes re-import this file
    X, y = load_digits(return_X_y=True)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), BackpropClassifier(max_iter=50, random_state=0)),
        {
            "backpropclassifier__hidden_layer_sizes": [(32,), (128,)],
            "backpropclassifier__solver": ["momentum", "adam"],
            "backpropclassifier__learning_rate_init": [0.001, 0.01],
        },
        cv=3,
    )
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        n_workers = len(client.scheduler_info()["workers"])
        print(f"cluster: {n_workers} workers at {cluster.scheduler_address}")
        started = time.perf_counter()
        with warnings.catch_warnings(), joblib.parallel_config(backend="dask"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, y)
        print(
            f"{len(search.cv_results_['params'])} candidates x 3 folds in "
            f"{time.perf_counter() - started:.1f}s"
        )
    print("best parameters:", search.best_params_)
    print(f"best cross-validated accuracy: {search.best_score_:.4f}")
