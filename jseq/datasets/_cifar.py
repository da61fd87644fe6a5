"""Reading one CIFAR batch: a pickled dict (written by Python 2) with a `data` array and a label list."""

import numpy as np

from jseq.datasets._safe_load import load_pickle


def load_batch(path, label_key="labels"):
    """Reads a CIFAR-10/100 batch file with the restricted unpickler.

    Args:
        path: the batch file (`data_batch_1`, `test_batch`, `train`, `test`).
        label_key: "labels" (CIFAR-10), "fine_labels" or "coarse_labels" (CIFAR-100).

    Returns:
        `(data, labels)`: uint8 images `(n, 3, 32, 32)` (channels first, as stored) and int64 labels `(n,)`.
    """
    batch = load_pickle(path, encoding="bytes")  # Python 2 pickles: str keys arrive as bytes
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR batch: expected a pickled dict, got {type(batch).__name__}.")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [key for key in ("data", label_key) if key not in batch]
    if missing:
        raise ValueError(f"{path} is not a CIFAR batch: it lacks {missing} (it has {sorted(batch)}).")
    data, labels = np.asarray(batch["data"]), np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(
            f"{path} is not a CIFAR batch: data {data.shape} and labels {labels.shape}; expected data "
            "(n, 3072) and labels (n,)."
        )
    return data.reshape(len(data), 3, 32, 32), labels
