"""
Saving, loading and serving a fitted model
==========================================

joblib (pickle) is fine for models you made yourself; a pickle from someone
else can run any code when loaded. skops stores the model without pickle and
loads only the types you trust: here skbackprop's two estimators, by name
(scikit-learn's and numpy's own types are trusted by default). A file that
declares any other type is refused. For serving without Python or
scikit-learn, export to ONNX and run it with onnxruntime. Extras: ``pip
install "skbackprop[skops,onnx]"``.

The script prints whether each copy predicts exactly what the fitted model
predicts ("agrees: True"), and by how much at most the ONNX probabilities
differ from ``predict_proba`` (float32 rounding, about 1e-7).
"""

import tempfile
from pathlib import Path

import joblib
import numpy as np
import onnxruntime
import skops.io as sio
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbackprop import BackpropClassifier
from skbackprop.onnx import register_converters

# What a skops file from elsewhere may contain besides scikit-learn's and numpy's types.
OURS = [
    "skbackprop._estimators.BackpropClassifier",
    "skbackprop._estimators.BackpropRegressor",
    "skbackprop._sequence_estimators.BackpropSequenceClassifier",
    "skbackprop._sequence_estimators.BackpropSequenceRegressor",
]

X, y = load_breast_cancer(return_X_y=True)
X = X.astype(np.float32)
model = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=500, random_state=0)).fit(X, y)

with tempfile.TemporaryDirectory() as folder:
    folder = Path(folder)

    joblib.dump(model, folder / "model.joblib")
    from_joblib = joblib.load(folder / "model.joblib")

    sio.dump(model, folder / "model.skops")
    print("the file declares:", sio.get_untrusted_types(file=folder / "model.skops"))
    from_skops = sio.load(folder / "model.skops", trusted=OURS)

print("joblib copy agrees:", np.array_equal(from_joblib.predict(X), model.predict(X)))
print("skops copy agrees: ", np.array_equal(from_skops.predict(X), model.predict(X)))

register_converters()
onx = to_onnx(model, X[:1], options={"zipmap": False})
session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
labels, probabilities = session.run(None, {session.get_inputs()[0].name: X})
print("ONNX labels agree:  ", np.array_equal(labels, model.predict(X)))
largest_difference = np.abs(probabilities - model.predict_proba(X)).max()
print(f"ONNX probabilities differ by at most {largest_difference:.1e}")
