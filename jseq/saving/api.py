"""`save` / `load_model` / `save_weights` / `load_weights`: Keras 3's files, written atomically, read safely.

    model.save("m.keras")                    # config.json + model.weights.h5 + metadata.json, zipped
    model = jseq.models.load_model("m.keras")
    model.save_weights("w.weights.h5")       # the weights (and optimizer state) alone
    model.load_weights("w.weights.h5")       # or from a .keras file

The files are the ones Keras 3 writes (see `config.py` and `weights.py` for the layouts), so a jseq file
loads in `keras.models.load_model` and a Keras file of layers jseq has loads here, optimizer state included.

In a multi-process JAX run (`jax.distributed.initialize`) every process calls `save` / `save_weights` alike
(the arguments are checked on all of them), but only process 0 writes the file; the others return at once.
Every process reads (`load_model`, `load_weights`), so put the files where all hosts can read them.
"""

import datetime
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from jseq.saving import config as config_lib
from jseq.saving import files
from jseq.saving import weights as weights_lib

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras release whose layout jseq writes


def _path(filepath):
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"Expected a file path (str or os.PathLike). Received: filepath={filepath!r}")
    return os.fspath(filepath)


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists. Pass `overwrite=True` to replace it.")


# --------------------------------------------------------------------------------------------------------
# Whole models


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Save `model` (architecture, weights, optimizer state, compile settings) as a Keras 3 `.keras` file.

    The file is written to a temporary file next to `filepath` and renamed over it, so a crash or a full
    disk never leaves a broken `filepath`. In a multi-process JAX run only process 0 writes it (the others
    check the arguments and return).

    Args:
        filepath: a path ending in `.keras`.
        overwrite: False raises `FileExistsError` if `filepath` exists (Keras asks on the terminal).
        zipped: Keras's option; jseq writes zipped `.keras` files only.
    """
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {list(kwargs)}")
    path = _path(filepath)
    if zipped is False:
        raise ValueError("jseq writes zipped `.keras` files only: leave `zipped` as None or True.")
    if not path.endswith(".keras"):
        legacy = path.endswith((".h5", ".hdf5"))
        raise ValueError(
            "Invalid filepath extension for saving. Please add a `.keras` extension for the native Keras "
            "format"
            + (" (jseq does not write the legacy `.h5` model format)" if legacy else "")
            + f". Received: filepath={path}."
        )
    if not files.writes_files():
        return  # process k > 0 of a multi-process run: process 0 writes the one file
    _check_overwrite(path, overwrite)
    config = json.dumps(config_lib.serialize_model(model))
    metadata = json.dumps(
        {
            "keras_version": KERAS_FORMAT_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "saved_by": "jseq",
        }
    )
    weights = files.write_h5(lambda f: weights_lib.write_model_weights(f, model))
    files.write_archive(
        path,
        {files.METADATA: metadata.encode(), files.CONFIG: config.encode(), files.WEIGHTS: weights},
    )


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with `save` (by jseq or by Keras 3, for the layers jseq has).

    Nothing in the file is run or imported: only jseq's own classes are built, every weight shape is
    checked against the file before anything is allocated, and a damaged file raises `FileFormatError`
    naming the file and the cause.

    Args:
        filepath: a `.keras` file.
        custom_objects: `{name: function}` for custom losses and metrics named in the compile settings.
        compile: compile the model with the saved settings and restore the optimizer state.
        safe_mode: accepted for Keras compatibility; jseq never runs code from a file, whatever it says.
    """
    del safe_mode
    path = _path(filepath)
    if not path.endswith(".keras"):
        raise ValueError(
            f"File format not supported: filepath={path}. jseq loads Keras 3 `.keras` files (use "
            "`load_weights` for `.weights.h5` files; the legacy `.h5` model format is not supported)."
        )
    members = files.read_archive(path)
    metadata = files.parse_json(members[files.METADATA], f"{path}: metadata.json")
    if not isinstance(metadata.get("keras_version"), str):
        raise files.FileFormatError(f"{path}: metadata.json has no 'keras_version'; it is not a Keras file.")
    entry = files.parse_json(members[files.CONFIG], f"{path}: config.json")
    model, _ = config_lib.model_from_entry(entry, f"{path}: config.json", build=False, abstract=True)
    where = f"{path}: model.weights.h5"
    with files.open_h5(members[files.WEIGHTS], where) as store:
        groups = weights_lib.fill_from_file(model, store, where=where)
        if compile and config_lib.compile_from_config(
            model, entry.get("compile_config"), custom_objects, f"{path}: config.json compile_config"
        ):
            weights_lib.load_optimizer(model, store, groups, where=where)
    return model


def model_from_config(config, custom_objects=None):
    """A new model (fresh weights) from a whole config object (`json.loads(model.to_json())`)."""
    model, _ = config_lib.model_from_entry(config, "the model config", build=True)
    if isinstance(config, dict):
        config_lib.compile_from_config(model, config.get("compile_config"), custom_objects)
    return model


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from `model.to_json()`: Keras's `keras.models.model_from_json`."""
    if isinstance(json_string, str):
        json_string = json_string.encode("utf-8")
    if not isinstance(json_string, bytes):
        raise TypeError(f"Expected a JSON string. Received: {type(json_string).__name__}")
    return model_from_config(files.parse_json(json_string, "the model JSON"), custom_objects)


# --------------------------------------------------------------------------------------------------------
# Weights


def save_weights(model, filepath, overwrite=True, max_shard_size=None):
    """Save the weights (and, for a compiled model, the optimizer state) as Keras 3's `.weights.h5`.

    Written atomically like `save_model`; in a multi-process JAX run only process 0 writes the file.
    """
    path = _path(filepath)
    if max_shard_size is not None:
        raise NotImplementedError("jseq does not write sharded weights: leave `max_shard_size` as None.")
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={path}")
    if not model.built:
        raise ValueError(
            "You are saving a model that has not yet been built. Try building the model first by calling it "
            "on some data or by using `build()`."
        )
    if not files.writes_files():
        return
    _check_overwrite(path, overwrite)
    data = files.write_h5(lambda f: weights_lib.write_model_weights(f, model))
    files.atomic_write(path, lambda f: f.write(data))


def read_weights_file(path):
    """`(HDF5 bytes, description)` of a `.weights.h5` file or of the weights inside a `.keras` file."""
    if path.endswith(".keras"):
        return files.read_archive(path)[files.WEIGHTS], f"{path}: model.weights.h5"
    if path.endswith(".weights.h5"):
        return files.read_file(path, "weights file", files.MAX_WEIGHTS_BYTES), path
    raise ValueError(
        f"File format not supported: filepath={path}. jseq reads `.weights.h5` and `.keras` files."
    )


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """Load weights (and optimizer state) saved by jseq or Keras into built `model`, all or nothing.

    Every shape is checked before any weight changes: a mismatch raises a `ValueError` listing every
    mismatched layer and leaves the model as it was. With `skip_mismatch=True` those layers are skipped
    (with a warning) and the others loaded.
    """
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {kwargs}")
    path = _path(filepath)
    if not model.built:
        raise ValueError(
            "You are loading weights into a model that has not yet been built. Try building the model first "
            "by calling it on some data or by using `build()`."
        )
    data, where = read_weights_file(path)
    with files.open_h5(data, where) as store:
        groups = weights_lib.load_into_model(model, store, skip_mismatch=skip_mismatch, where=where)
        weights_lib.load_optimizer(model, store, groups, where=where)


# --------------------------------------------------------------------------------------------------------
# The model methods


class Saving:
    """Keras's saving methods for jseq models: `save`, `save_weights`, `load_weights`, `get_config`,
    `from_config`, `to_json`, `get_compile_config`, `compile_from_config`."""

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save the whole model as a Keras 3 `.keras` file (see `jseq.saving.save_model`); in a multi-process
        JAX run only process 0 writes it."""
        save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Save the weights as a Keras 3 `.weights.h5` file (see `jseq.saving.save_weights`); in a
        multi-process JAX run only process 0 writes it."""
        save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Load weights from a `.weights.h5` or `.keras` file, all or nothing (see `jseq.saving`)."""
        load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def get_config(self):
        """Keras 3's model config (for a Sequential: name, trainable, dtype, layers, build_input_shape)."""
        return config_lib.sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model (fresh weights) from `get_config()`'s output."""
        del custom_objects
        class_name = "Functional" if cls.__name__ in ("Functional", "Model") else "Sequential"
        entry = {"module": "keras", "class_name": class_name, "config": config, "registered_name": None}
        model, _ = config_lib.model_from_entry(entry, f"{cls.__name__}.from_config", build=True)
        return model

    def to_json(self, **kwargs):
        """The model's config as a JSON string (`json.dumps` keyword arguments are passed on)."""
        return json.dumps(config_lib.serialize_model(self), **kwargs)

    def get_compile_config(self):
        """The arguments `compile` was called with, in Keras's layout (None if not compiled)."""
        return config_lib.get_compile_config(self) if getattr(self, "compiled", False) else None

    def compile_from_config(self, config, custom_objects=None):
        """`compile` with the settings `get_compile_config()` returned."""
        config_lib.compile_from_config(self, config, custom_objects)


# --------------------------------------------------------------------------------------------------------
# Training checkpoints (BackupAndRestore): weights, optimizer state and the position in `fit`, one file


def _state_beyond_weights(model, groups):
    """`[(tree path, array)]` of the state entries that are not weights (carried RNN states), in order."""
    weights = {path for collection, path in weights_lib.variables(groups) if collection == "state"}
    out = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + (k,))
        elif path not in weights:
            out.append((path, node))

    walk(model.state, ())
    return out


def write_training_checkpoint(model, path, *, epoch, key, seed):
    """Write, in one atomic step, `model`'s weights and optimizer state (Keras's `.weights.h5` layout,
    which Keras's `load_weights` reads) plus where `fit` stands: the next epoch, the PRNG key, the shuffle
    seed and any state that is not a weight, in the `jseq_resume` group. In a multi-process JAX run only
    process 0 writes it."""
    if not files.writes_files():
        return
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    key_data = np.asarray(jax.random.key_data(key) if typed else key)

    def build(f):
        weights_lib.write_model_weights(f, model)
        groups = weights_lib.layout(model, model.params, model.state)
        g = f.create_group(weights_lib.RESUME_GROUP)
        g.attrs["epoch"], g.attrs["seed"] = int(epoch), int(seed)
        g.attrs["key_impl"] = str(jax.random.key_impl(key)) if typed else ""
        g.create_dataset("key", data=key_data)
        for i, (_, value) in enumerate(_state_beyond_weights(model, groups)):
            g.create_dataset(f"state/{i}", data=np.asarray(value))

    data = files.write_h5(build)
    files.atomic_write(path, lambda f: f.write(data))


def read_training_checkpoint(model, path):
    """Load a checkpoint of `write_training_checkpoint` into `model`, all or nothing, and return
    `{"epoch", "key", "seed"}` for `fit` to go on from (`model._resume`)."""
    data = files.read_file(path, "checkpoint", files.MAX_WEIGHTS_BYTES)
    group = weights_lib.RESUME_GROUP
    with files.open_h5(data, path) as store:
        attrs = store.attrs(group)
        epoch, seed, impl = attrs.get("epoch"), attrs.get("seed"), attrs.get("key_impl")
        if not (
            isinstance(epoch, (int, np.integer))
            and isinstance(seed, (int, np.integer))
            and isinstance(impl, str)
            and f"{group}/key" in store.datasets
        ):
            raise files.FileFormatError(
                f"{path}: not a BackupAndRestore checkpoint (no valid '{group}' group)."
            )
        before = (model.params, model.state, model._opt_state, model._opt_mask)
        try:
            groups = weights_lib.load_into_model(model, store, skip_mismatch=False, where=path)
            if getattr(model, "compiled", False):
                weights_lib.load_optimizer(model, store, groups, where=path, strict=True)
            extra = _state_beyond_weights(model, groups)
            stored = sorted(k for k in store.datasets if k.startswith(f"{group}/state/"))
            if len(stored) != len(extra):
                raise files.FileFormatError(
                    f"{path}: the checkpoint's carried state does not match the model."
                )
            values = {}
            for i, (tree_path, value) in enumerate(extra):
                array = store.read(f"{group}/state/{i}")
                if array.shape != tuple(value.shape):
                    raise files.FileFormatError(f"{path}: carried state {tree_path} has another shape.")
                values[("state", tree_path)] = jnp.asarray(array, value.dtype)
            model.state = weights_lib.replaced(model.state, "state", values)
        except ValueError as error:
            model.params, model.state, model._opt_state, model._opt_mask = before
            if isinstance(error, files.FileFormatError):
                raise
            raise ValueError(f"The checkpoint {path} is for a different model. {error}") from None
        key = store.read(f"{group}/key")
    key = jax.random.wrap_key_data(jnp.asarray(key), impl=impl) if impl else jnp.asarray(key)
    return {"epoch": int(epoch), "key": key, "seed": int(seed)}
