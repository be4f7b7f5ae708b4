"""Sphinx configuration: numpydoc API pages, the user guide, and a gallery built from examples/."""

import os
import re

import skbackprop

project = "skbackprop"
author = "skbackprop developers"
copyright = "2026, skbackprop developers"
release = version = skbackprop.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
autosummary_generate = True
templates_path = ["_templates"]
# Our own methods (fit, predict... live in a shared base class), not scikit-learn's
# generic ones, whose docstrings point into scikit-learn's documentation.
autodoc_default_options = {
    "members": True,
    "inherited-members": "BaseEstimator,ClassifierMixin,RegressorMixin",
    "exclude-members": (
        "get_metadata_routing,set_fit_request,set_partial_fit_request,set_predict_request,"
        "set_score_request"
    ),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"skbackprop {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []

os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Run the plot_* examples (each well under 30 s); show the others as code.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
}


# sphinx-gallery's execution-times pages load jQuery and DataTables from CDNs to make their
# table sortable; these docs are read offline too, where those pages would wait on the
# network. The table reads as well unsorted: drop the remote scripts, keep the table.
_REMOTE_SCRIPTS = re.compile(r"\n  \.\. raw:: html\n\n(?:    .*\n|\n)*?(?=  \.\. list-table::)")


def offline_execution_times(app, docname, source):
    if docname.endswith("sg_execution_times"):
        source[0] = _REMOTE_SCRIPTS.sub("\n", source[0])


def setup(app):
    app.connect("source-read", offline_execution_times)
