"""
Training on data larger than memory
===================================

``partial_fit`` runs one epoch over the rows it is given, keeping the solver's
state between calls, so data can stream through the network chunk by chunk.
Two ways: a loop over a ``numpy.memmap`` on disk (no extra dependency), and
dask-ml's ``Incremental`` wrapper over a chunked Dask array (``pip install
"skbackprop[dask]"``), which calls ``partial_fit`` on each chunk for you.
"""

import tempfile
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
from dask_ml.wrappers import Incremental
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from skbackprop import BackpropClassifier

X, y = make_classification(n_samples=50_000, n_features=40, n_informative=20, random_state=0)
X = X.astype(np.float32)
classes = np.unique(y)

# 1. A memmap on disk, read chunk by chunk: only one chunk is in memory at a time.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "X.npy"
    np.save(path, X)
    X_disk = np.load(path, mmap_mode="r")
    streamed = BackpropClassifier(
        hidden_layer_sizes=(64,), learning_rate_init=0.005, random_state=0
    )
    chunk_rows = 5_000
    for epoch in range(3):
        for start in range(0, len(X_disk), chunk_rows):
            stop = start + chunk_rows
            streamed.partial_fit(X_disk[start:stop], y[start:stop], classes=classes)
        print(f"memmap, epoch {epoch + 1}: loss on the last chunk {streamed.loss_:.4f}")
    print(f"memmap streaming accuracy: {streamed.score(X_disk, y):.4f}")
    del X_disk

# 2. dask-ml's Incremental over a chunked Dask array.
X_dask = da.from_array(X, chunks=(5_000, X.shape[1]))
y_dask = da.from_array(y, chunks=5_000)
incremental = Incremental(
    BackpropClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.005, random_state=0),
    scoring="accuracy",
)
for _ in range(3):
    incremental.partial_fit(X_dask, y_dask, classes=classes)
print(f"dask-ml Incremental accuracy: {incremental.score(X_dask, y_dask):.4f}")

# For comparison, one fit with all the data in memory and the same number of epochs.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    in_memory = BackpropClassifier(
        hidden_layer_sizes=(64,), learning_rate_init=0.005, max_iter=3, random_state=0
    ).fit(X, y)
print(f"in-memory fit accuracy: {in_memory.score(X, y):.4f}")
