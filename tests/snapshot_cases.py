"""What the layer refactor must not change: fits and predictions of many configurations.

``compute()`` fits every case and returns its arrays by name; ``machine()``
says what the bits depend on. ``python tests/snapshot_cases.py`` writes them to
``tests/data/snapshot_0_3.npz`` (with the 0.3 models pickled beside it);
``test_snapshot.py`` compares what the current code computes with them.
"""

import pickle
import platform
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
from sklearn.datasets import load_diabetes, load_digits
from threadpoolctl import threadpool_info, threadpool_limits

from skbackprop import BackpropClassifier, BackpropRegressor

DATA = Path(__file__).parent / "data"
SNAPSHOT = DATA / "snapshot_0_3.npz"
SAVED_MODELS = DATA / "models_0_3.pkl"
# Saved with skops too: a classifier with every option that adds fitted arrays, and a regressor.
SKOPS_MODELS = ("clf_residual_batchnorm_float64", "reg_quantiles_float32")


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X[:200], y[:200] / 100.0


def classifier_cases():
    """name -> (parameters, dtype, extras); every option of the dense network at least once."""
    base = {"hidden_layer_sizes": (24,), "max_iter": 6, "random_state": 0, "batch_size": 50}
    cases = {
        "adam": {},
        "sgd_nesterov": {"solver": "sgd", "learning_rate_init": 0.05},
        "momentum_adaptive": {"solver": "momentum", "learning_rate": "adaptive"},
        "rmsprop_l1": {"solver": "rmsprop", "l1": 1e-3, "hidden_layer_sizes": (16, 12)},
        "adagrad": {"solver": "adagrad", "learning_rate_init": 0.05},
        "adamw_cosine": {"solver": "adamw", "learning_rate": "cosine", "warmup_iter": 2},
        "lbfgs": {"solver": "lbfgs", "max_iter": 15},
        "batchnorm": {"batch_normalization": True, "hidden_layer_sizes": (20, 16)},
        "residual_dropout": {
            "residual": True,
            "dropout": (0.0, 0.2, 0.1),
            "hidden_layer_sizes": (16, 16, 16),
        },
        "residual_batchnorm": {
            "residual": True,
            "batch_normalization": True,
            "hidden_layer_sizes": (16, 16),
            "activation": ("tanh", "gelu"),
        },
        "activations": {
            "activation": ("silu", "elu", "leaky_relu", "softplus", "logistic"),
            "hidden_layer_sizes": (12, 10, 10, 8, 8),
        },
        "identity_tanh": {
            "activation": ("identity", "tanh"),
            "init": "he_normal",
            "hidden_layer_sizes": (20, 10),
        },
        "no_hidden": {"hidden_layer_sizes": ()},
        "early_stopping": {"early_stopping": True, "max_iter": 8, "n_iter_no_change": 3},
        "clip_class_weight": {"clip_gradient_norm": 0.5, "class_weight": "balanced"},
        "glorot_normal_gelu": {"activation": "gelu", "init": "glorot_normal"},
    }
    for name, options in cases.items():
        for dtype in ("float64", "float32"):
            yield f"clf_{name}_{dtype}", {**base, **options}, dtype


def regressor_cases():
    base = {"hidden_layer_sizes": (16,), "max_iter": 6, "random_state": 1, "batch_size": 40}
    cases = {
        "squared": {},
        "huber_bn": {"loss": "huber", "batch_normalization": True},
        "quantiles": {"loss": "quantile", "quantile": (0.1, 0.5, 0.9), "dropout": 0.1},
        "absolute_residual": {
            "loss": "absolute_error",
            "residual": True,
            "hidden_layer_sizes": (12, 12),
        },
        "poisson": {"loss": "poisson", "activation": "tanh"},
        "lbfgs_bn": {"solver": "lbfgs", "batch_normalization": True, "max_iter": 10},
    }
    for name, options in cases.items():
        for dtype in ("float64", "float32"):
            yield f"reg_{name}_{dtype}", {**base, **options}, dtype


def _fitted_arrays(model):
    arrays = {}
    for attribute in ("coefs_", "intercepts_", "gammas_", "betas_"):
        for index, array in enumerate(getattr(model, attribute, None) or ()):
            arrays[f"{attribute}{index}"] = array
    for attribute in ("running_means_", "running_variances_"):
        for index, array in enumerate(getattr(model, attribute, None) or ()):
            arrays[f"{attribute}{index}"] = array
    arrays["loss_curve_"] = np.asarray(model.loss_curve_)
    return arrays


def _predictions(model, X):
    if hasattr(model, "predict_proba"):
        return {"predict_proba": model.predict_proba(X)}
    return {"predict": model.predict(X)}


def _onnx(model, X):
    """What the ONNX export computes in onnxruntime (empty without the onnx extra)."""
    try:
        import onnxruntime
        from skl2onnx import to_onnx

        from skbackprop.onnx import register_converters
    except ImportError:
        return {}
    register_converters()
    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    onnx_model = to_onnx(model, X[:1], options=options)
    session = onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    outputs = session.run(None, {session.get_inputs()[0].name: X[:40]})
    return {f"onnx{index}": np.asarray(output) for index, output in enumerate(outputs)}


def _inspection(model, X):
    from skbackprop.inspection import input_gradients, integrated_gradients, predictive_draws

    arrays = {"input_gradients": input_gradients(model, X[:20], target=0)}
    arrays["integrated_gradients"] = integrated_gradients(model, X[:10], n_steps=8, target=0)
    if np.any(model.dropout):
        arrays["predictive_draws"] = predictive_draws(model, X[:20], n_draws=3, random_state=0)
    return arrays


def _continued(estimator, X, y, sample_weight):
    """Warm start (3 + 3 epochs), partial_fit (3 calls) and a sparse, weighted fit."""
    arrays = {}
    warm = estimator.set_params(warm_start=True, max_iter=3).fit(X, y).fit(X, y)
    arrays.update({f"warm/{k}": v for k, v in _fitted_arrays(warm).items()})
    stream = estimator.set_params(warm_start=False)
    stream = type(estimator)(**stream.get_params())
    if stream.get_params().get("class_weight") == "balanced":
        stream.set_params(class_weight={0: 2.0, 1: 0.5})
    for start in range(0, 150, 50):
        chunk = slice(start, start + 50)
        if hasattr(stream, "predict_proba"):
            stream.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
        else:
            stream.partial_fit(X[chunk], y[chunk])
    arrays.update({f"stream/{k}": v for k, v in _fitted_arrays(stream).items()})
    weighted = type(estimator)(**estimator.get_params()).set_params(max_iter=3, warm_start=False)
    weighted.fit(sp.csr_matrix(X), y, sample_weight=sample_weight)
    arrays.update({f"sparse/{k}": v for k, v in _fitted_arrays(weighted).items()})
    return arrays


def compute(continued=True):
    """name -> array for every case, on one BLAS thread; and the fitted models."""
    results, models = {}, {}
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, params, dtype, estimator, (X, y) in _all_cases():
            X = X.astype(dtype)
            model = estimator(**params).fit(X, y)
            models[name] = model
            arrays = {**_fitted_arrays(model), **_predictions(model, X), **_onnx(model, X)}
            if name.endswith("float64") and params.get("solver") != "lbfgs":
                arrays.update(_inspection(model, X))
                if continued and params.get("early_stopping") is not True:
                    weights = np.linspace(0.5, 1.5, len(X))
                    arrays.update(_continued(estimator(**params), X, y, weights))
            results.update({f"{name}/{key}": value for key, value in arrays.items()})
    return results, models


def resumed(models):
    """name -> arrays of each saved model trained on for two more epochs (warm start)."""
    results = {}
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, _, dtype, _, (X, y) in _all_cases():
            model = models[name]
            if model.solver == "lbfgs" or model.early_stopping:
                continue
            model.set_params(warm_start=True, max_iter=2).fit(X.astype(dtype), y)
            results.update({f"{name}/resumed/{k}": v for k, v in _fitted_arrays(model).items()})
    return results


def _all_cases():
    digits, diabetes = _digits(), _diabetes()
    for name, params, dtype in classifier_cases():
        yield name, params, dtype, BackpropClassifier, digits
    for name, params, dtype in regressor_cases():
        yield name, params, dtype, BackpropRegressor, diabetes


def machine():
    """What these bits depend on besides our code: CPU, BLAS, numpy and scipy."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line for line in info if line.startswith("model name")).split(":")[1]
    except (OSError, StopIteration):
        pass
    # numpy's and scipy's BLAS only: which other libraries are loaded varies with the imports.
    blas = sorted(
        f"{pool.get('internal_api')} {pool.get('version')} {pool.get('architecture')}"
        for pool in threadpool_info()
        if pool.get("user_api") == "blas"
    )
    return " | ".join([cpu.strip(), *blas, np.__version__, scipy.__version__])


def write():
    import skops.io

    results, models = compute()
    DATA.mkdir(exist_ok=True)
    with open(SAVED_MODELS, "wb") as file:
        pickle.dump(models, file)
    for name in SKOPS_MODELS:
        skops.io.dump(models[name], DATA / f"{name}_0_3.skops")
    results.update(resumed(models))
    np.savez_compressed(SNAPSHOT, __machine__=np.array(machine()), **results)


if __name__ == "__main__":
    write()
