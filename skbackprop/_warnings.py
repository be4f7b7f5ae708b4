"""Warnings that point at the user's line, however deep inside skbackprop they start."""

import os
import sys
import warnings

# Frames in these folders are skbackprop's own (or machinery calling it, such
# as scikit-learn's callback wrapper); a warning names the first frame outside them.
_INTERNAL_FOLDERS = [os.path.dirname(os.path.abspath(__file__)) + os.sep]


def add_internal_folder(folder):
    """Treat frames from files in ``folder`` as internal too."""
    _INTERNAL_FOLDERS.append(os.path.abspath(folder) + os.sep)


def warn(message, category=UserWarning):
    """``warnings.warn`` with the stack level of the first caller outside skbackprop."""
    internal = tuple(_INTERNAL_FOLDERS)
    frame, stacklevel = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(internal):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(message, category, stacklevel=stacklevel)
