"""Data parallelism over several devices, on JAX's own sharding (in the spirit of Keras 3's
`keras.distribution.DataParallel`).

With several devices, `fit` / `evaluate` / `predict` split each batch across them: the params and the
optimizer state are replicated, the batch is sharded along its first axis with a `jax.sharding.Mesh` /
`NamedSharding`, and XLA inserts the gradient all-reduce. Results equal one device's up to the order of
floating-point sums.

    jseq.distribution.set_distribution("auto")          # default: every device, when the batch divides
    jseq.distribution.set_distribution(DataParallel(jax.devices()[:2]))
    jseq.distribution.set_distribution(None)            # one device

Several hosts (or several processes on one host): start one process per host and call
`jax.distributed.initialize()` in each before the first JAX computation (`import jseq` computes nothing, so
it may come first). On a Slurm, Open MPI (`mpirun`), Kubernetes or Cloud TPU cluster it finds the
coordinator, the process count and this process's id itself; elsewhere pass them (jax 0.10 reads only the
address from a variable, `JAX_COORDINATOR_ADDRESS`, and none for the count or the id):

    jax.distributed.initialize(coordinator_address="10.0.0.1:1234", num_processes=2, process_id=0)  # host 0
    jax.distributed.initialize(coordinator_address="10.0.0.1:1234", num_processes=2, process_id=1)  # host 1

`jax.devices()` then lists every process's devices and "auto" trains on all of them, each process with the
same code on its own data:

- every process passes `fit` / `evaluate` / `predict` its own shard, with the same number of samples on
  every process (otherwise a ValueError lists the sizes);
- `batch_size` is per process, as in Keras: a step trains on `batch_size` rows of every process,
  `batch_size * jax.process_count()` in all; it must divide over each process's devices;
- the initial weights are process 0's (sent to all), so the replicas agree even if seeded differently;
  `evaluate` and the logs give the metrics over every process's rows; `predict` returns this process's rows;
- only process 0 writes files (ModelCheckpoint, BackupAndRestore, CSVLogger, `save`, `save_weights`);
  every process reads, so a backup to resume from must sit on a file system that all hosts see.

The mesh is then (process, batch): process p's rows stay on process p's devices and only the gradient
all-reduce crosses hosts.
"""

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


class DataParallel:
    """Replicate the model on `devices` (every process's devices by default); split each batch across them."""

    def __init__(self, devices=None):
        devices = list(devices if devices is not None else jax.devices())
        if not devices:
            raise ValueError("DataParallel needs at least one device. Received: devices=[]")
        processes = sorted({d.process_index for d in devices})
        groups = [[d for d in devices if d.process_index == p] for p in processes]
        if len({len(g) for g in groups}) > 1:
            counts = {p: len(g) for p, g in zip(processes, groups)}
            raise ValueError(
                "DataParallel needs the same number of devices on every process. Received, by process: "
                f"{counts}. Pass as many devices of each process."
            )
        self.devices = [d for g in groups for d in g]  # grouped by process
        self.num_processes = len(processes)
        if self.num_processes == 1:
            self.mesh = Mesh(np.array(self.devices), ("batch",))
            self._batch_axes = "batch"
        else:  # (process, batch): row p of the mesh holds process p's devices
            self.mesh = Mesh(np.array(self.devices).reshape(self.num_processes, -1), ("process", "batch"))
            self._batch_axes = ("process", "batch")

    @property
    def num_devices(self):
        return len(self.devices)

    @property
    def devices_per_process(self):
        return len(self.devices) // self.num_processes

    def batch_sharding(self):
        """Rows split over every device (across processes, process p's devices hold process p's rows)."""
        return NamedSharding(self.mesh, PartitionSpec(self._batch_axes))

    def process_sharding(self):
        """Across processes, for arrays (processes, ...): slice p on process p's devices, replicated there."""
        return NamedSharding(self.mesh, PartitionSpec("process" if self.num_processes > 1 else None))

    def replicated(self):
        return NamedSharding(self.mesh, PartitionSpec())

    def __repr__(self):
        if self.num_processes > 1:
            return f"DataParallel(num_processes={self.num_processes}, num_devices={self.num_devices})"
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
    dist = _current if isinstance(_current, DataParallel) else _auto(tuple(jax.devices()))
    if dist.num_devices == 1:
        return None
    if dist.num_processes > 1:
        local = dist.devices_per_process
        if batch_size % local:  # never one device: each process would train a model of its own
            raise ValueError(
                f"jseq: batch_size={batch_size} (per process) does not divide over the {local} devices of "
                f"each process. Use a batch size that is a multiple of {local}."
            )
        _say(
            f"jseq: data parallel over {dist.num_processes} processes x {local} devices "
            f"({batch_size // local} samples of each process's batch per device).",
            verbose,
        )
        return dist
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
