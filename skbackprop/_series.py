"""A batch of series as the network takes it: values padded at the end, and each one's length.

The sequence layers (``_layers/sequence.py``) read ``(rows, steps, channels)``;
series of unequal lengths are padded with zeros to the longest and carry
their lengths, which the network turns into the mask the layers use. A
:class:`Series` selects rows as an array does (slices, index arrays,
``take`` into a buffer), so the trainer's batches, the validation split and
prediction's chunks need not know what they hold.
"""

import numpy as np


class Series:
    """``values``, ``(n_rows, n_steps, channels)``, and ``lengths`` (None: all steps in each).

    ``form`` is how the caller gave them, for results in the caller's layout:
    ``"rows"`` (2-D, one channel), ``"array"`` (3-D, channels before steps)
    or ``"list"`` (one array per series).
    """

    ndim = 3

    def __init__(self, values, lengths=None, form="array"):
        self.values = values
        self.lengths = lengths
        self.form = form

    @classmethod
    def padded(cls, arrays, dtype):
        """Series of ``arrays``, each ``(steps_i, channels)``, padded with zeros to the longest."""
        lengths = np.array([len(array) for array in arrays])
        values = np.zeros((len(arrays), lengths.max(), arrays[0].shape[1]), dtype=dtype)
        for row, array in enumerate(arrays):
            values[row, : len(array)] = array
        return cls(values, None if (lengths == values.shape[1]).all() else lengths, "list")

    def in_given_layout(self, values):
        """``values`` shaped as these series, ``(rows, steps, channels)``, in the caller's form."""
        if self.form == "rows":
            return values[:, :, 0]
        if self.form == "array":
            return values.transpose(0, 2, 1)
        lengths = [values.shape[1]] * len(values) if self.lengths is None else self.lengths
        return [row[:length].T for row, length in zip(values, lengths, strict=True)]

    @property
    def shape(self):
        return self.values.shape

    @property
    def dtype(self):
        return self.values.dtype

    def __len__(self):
        return len(self.values)

    def __getitem__(self, rows):
        lengths = None if self.lengths is None else self.lengths[rows]
        return Series(self.values[rows], lengths, self.form)

    def astype(self, dtype, copy=True):
        return Series(self.values.astype(dtype, copy=copy), self.lengths, self.form)

    def empty_rows(self, n_rows):
        """A buffer of ``n_rows`` rows for :meth:`take`."""
        lengths = None if self.lengths is None else np.empty(n_rows, dtype=self.lengths.dtype)
        return Series(np.empty((n_rows, *self.values.shape[1:]), self.dtype), lengths, self.form)

    def take(self, indices, axis=0, out=None, mode="raise"):
        """Rows ``indices``, into ``out`` (a buffer of :meth:`empty_rows`) when given."""
        if out is None:
            return self[indices]
        self.values.take(indices, axis=0, out=out.values, mode=mode)
        if self.lengths is not None:
            self.lengths.take(indices, out=out.lengths, mode=mode)
        return out
