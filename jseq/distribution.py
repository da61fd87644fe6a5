"""Data parallelism over the local devices, on JAX's own sharding (in the spirit of Keras 3's
`keras.distribution.DataParallel`).

With several devices, `fit` / `evaluate` / `predict` split each batch across them: the params and the
optimizer state are replicated, the batch is sharded along its first axis with a `jax.sharding.Mesh` /
`NamedSharding`, and XLA inserts the gradient all-reduce. Results equal one device's up to the order of
floating-point sums.

    jseq.distribution.set_distribution("auto")          # default: all local devices when the batch divides
    jseq.distribution.set_distribution(DataParallel(jax.devices()[:2]))
    jseq.distribution.set_distribution(None)            # one device

Across hosts, start every process with `jax.distributed.initialize()` (it reads the coordinator address,
process count and process id from the cluster's environment, or from its arguments) before importing jseq:
`jax.devices()` then lists every host's devices and each process feeds its own shard of the data.
"""

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


class DataParallel:
    """Replicate the model on `devices` (all local devices by default) and split each batch across them."""

    def __init__(self, devices=None):
        devices = list(devices if devices is not None else jax.local_devices())
        if not devices:
            raise ValueError("DataParallel needs at least one device. Received: devices=[]")
        self.devices = devices
        self.mesh = Mesh(np.array(devices), ("batch",))

    @property
    def num_devices(self):
        return len(self.devices)

    def batch_sharding(self):
        return NamedSharding(self.mesh, PartitionSpec("batch"))

    def replicated(self):
        return NamedSharding(self.mesh, PartitionSpec())

    def __repr__(self):
        return f"DataParallel(num_devices={self.num_devices})"


_current = "auto"
_reported = set()


def set_distribution(value):
    """`"auto"` (default), a `DataParallel`, or `None` to run on one device."""
    global _current
    if value is not None and value != "auto" and not isinstance(value, DataParallel):
        raise ValueError(f"set_distribution expects 'auto', a DataParallel or None. Received: {value!r}")
    _current = value


def distribution():
    return _current


@functools.lru_cache(maxsize=1)
def _auto(devices):
    # One object while the devices stay the same: the compiled steps are cached per DataParallel.
    return DataParallel(list(devices))


def resolve(batch_size, verbose=0):
    """The DataParallel `fit` uses for `batch_size`, or None for one device (and say why, once)."""
    if _current is None:
        return None
    dist = _current if isinstance(_current, DataParallel) else _auto(tuple(jax.local_devices()))
    if dist.num_devices == 1:
        return None
    if batch_size % dist.num_devices:
        message = (
            f"jseq: batch_size={batch_size} does not divide over {dist.num_devices} devices; running on one "
            f"device. Use a batch size that is a multiple of {dist.num_devices} to train data-parallel."
        )
        if isinstance(_current, DataParallel):  # asked for explicitly: an error, not a quiet fallback
            raise ValueError(message)
        _say(message, verbose)
        return None
    _say(
        f"jseq: data parallel over {dist.num_devices} devices ({batch_size // dist.num_devices} samples "
        "of each batch per device).",
        verbose,
    )
    return dist


def _say(message, verbose):
    if verbose and message not in _reported:
        _reported.add(message)
        print(message)
