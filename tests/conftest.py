import os

# scikit-learn's check_array_api_input (run through parametrize_with_checks) needs
# scipy's array-API mode, which must be switched on before scipy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# Plots render off screen (the docstring examples draw figures too).
os.environ.setdefault("MPLBACKEND", "Agg")
