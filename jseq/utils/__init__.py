"""Utilities with Keras's names: seeding, data helpers, files, the progress bar, pictures."""

from jseq.core import set_random_seed
from jseq.utils.data import normalize, pad_sequences, to_categorical
from jseq.utils.file import DownloadError, HashMismatchError, UnsafeArchiveError, get_file
from jseq.utils.plotting import plot_history, plot_model
from jseq.utils.progbar import Progbar as Progbar  # re-exported (the `as` marks it public)

__all__ = ["set_random_seed"]
__all__ += ["get_file", "DownloadError", "HashMismatchError", "UnsafeArchiveError"]
__all__ += ["to_categorical", "normalize", "pad_sequences"]
__all__ += ["plot_model", "plot_history"]
