"""Where each weight of a jseq model sits in a Keras 3 weights file, and moving weights in and out.

Keras 3 saves the object tree of a model, not a flat list. Every object with weights (a layer, an RNN's
cell, the optimizer) gets an HDF5 group `<path>/vars` whose datasets `0, 1, ...` are its weights in creation
order, and whose `name` attribute is the object's name. Paths come from the tree, with the class name in
snake case made unique per container, never from the user's layer names::

    vars                                   {"name": "sequential"}      the model itself (no weights)
    layers/dense/vars/0, 1                 kernel (784, 32), bias (32,)
    layers/dense_1/vars/0, 1               the second Dense
    layers/batch_normalization/vars/0..3   gamma, beta, moving_mean, moving_variance
    layers/lstm/cell/vars/0..2             an RNN keeps its weights in its cell
    layers/bidirectional/forward_layer/cell/vars/0..2, layers/bidirectional/backward_layer/cell/...
    layers/time_distributed/layer/vars/0, 1
    layers/sequential/layers/dense/vars/0  a nested model
    optimizer/vars/0..N                    iterations, learning_rate, then the slots (see below)

`layout(model, params, state)` lists those groups for a jseq model, each weight given as its place in the
model's `params` / `state` pytrees; the walk visits layers in Keras's variable order, so concatenating the
groups' weights gives `model.weights` (and Keras's `model.weights`) order.

The optimizer's variables are `iterations`, `learning_rate` (absent with a schedule), then one block per
`add_optimizer_variables` call Keras makes, each block interleaving its slots per trainable weight (Adam:
m0, v0, m1, v1, ...), then any scalar slots (Nadam's `u_product`). `_SLOT_LAYOUT` maps those names to the
fields of jseq's `OptimizerState.slots`.

Loading is all-or-nothing: every group's count and shapes are checked against the model before one array
is read, and the model's weights are replaced in one assignment at the end.
"""

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jseq.core import in_order_of, shape_str, to_snake_case
from jseq.saving.files import FileFormatError

RESUME_GROUP = "jseq_resume"  # BackupAndRestore's training position, next to the weights


class Group(NamedTuple):
    """One Keras object: its HDF5 group (`<path>/vars`), its name, and its weights in order, each as
    `(collection, tree path)` with collection "params" or "state"."""

    path: str
    name: str
    weights: tuple


def _join(*parts):
    return "/".join(p for p in parts if p)


def vars_path(group_path):
    return _join(group_path, "vars")


def at(tree, path):
    for key in path:
        tree = tree[key]
    return tree


# --------------------------------------------------------------------------------------------------------
# The layout of a model


def layout(model, params, state):
    """The `Group`s Keras 3 writes for `model` (module docstring). `params` / `state` are the model's pytrees
    (arrays or shape structs): they give each layer's weight names in order."""
    groups = []
    _walk(model, "", (), params, state, set(), groups)
    return groups


def _walk(layer, path, tree_path, params, state, seen, groups):
    from jseq.functional import Functional
    from jseq.layers.recurrent import Bidirectional, TimeDistributed, _Recurrent
    from jseq.models import InputLayer, Sequential

    if id(layer) in seen:  # a shared layer is saved once, where Keras first meets it
        return
    seen.add(id(layer))
    if isinstance(layer, (Sequential, Functional)):
        groups.append(Group(path, layer.name, ()))
        counts = {}
        for sub in layer.layers:  # a Functional lists its InputLayers too, as Keras does
            sub_path = _join(path, "layers", _unique(to_snake_case(type(sub).__name__), counts))
            if isinstance(sub, InputLayer):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    groups.append(Group(sub_path, sub.name, ()))
                continue
            _walk(sub, sub_path, tree_path + (sub.name,), params, state, seen, groups)
    elif isinstance(layer, Bidirectional):
        groups.append(Group(path, layer.name, ()))
        for attr in ("forward_layer", "backward_layer"):
            half = getattr(layer, attr)
            _walk(half, _join(path, attr), tree_path + (half.name,), params, state, seen, groups)
    elif isinstance(layer, TimeDistributed):  # its params are the inner layer's, not nested
        groups.append(Group(path, layer.name, ()))
        _walk(layer.layer, _join(path, "layer"), tree_path, params, state, seen, groups)
    elif layer._sublayers():
        raise ValueError(
            f"Cannot save layer '{layer.name}' ({type(layer).__name__}): it holds other layers in a way the "
            "Keras file format has no layout for."
        )
    else:
        own = tuple(("params", tree_path + (k,)) for k in at(params, tree_path)) + tuple(
            ("state", tree_path + (k,)) for k in at(state, tree_path) if k not in layer._non_weight_state()
        )
        if isinstance(layer, _Recurrent):  # Keras's RNN layer holds a cell that holds the weights
            groups.append(Group(path, layer.name, ()))
            groups.append(Group(_join(path, "cell"), to_snake_case(type(layer).__name__) + "_cell", own))
        else:
            groups.append(Group(path, layer.name, own))


def _unique(name, counts):
    # Keras's `_get_unique_name`: dense, dense_1, dense_2, ... per container.
    if name in counts:
        counts[name] += 1
        return f"{name}_{counts[name]}"
    counts[name] = 0
    return name


def variables(groups):
    """Every weight `(collection, tree path)`, in Keras's `model.weights` order."""
    return [w for group in groups for w in group.weights]


def abstract_weights(model, input_shape):
    """`(output_shape, params, state)` that `model.init(key, input_shape)` gives, as shape structs in the
    layers' key order, computed abstractly: nothing is allocated or compiled."""
    box = {}

    def f(key):
        out, params, state = model.init(key, input_shape)
        box["out"], box["template"] = out, (params, state)
        return params, state

    params, state = jax.eval_shape(f, jax.random.PRNGKey(0))
    return box["out"], in_order_of(box["template"][0], params), in_order_of(box["template"][1], state)


# --------------------------------------------------------------------------------------------------------
# Writing


def write_model_weights(f, model, groups=None):
    """Write `model`'s weights (and, if it is compiled, its optimizer's variables) into HDF5 file `f`."""
    params, state = model.params, model.state
    groups = layout(model, params, state) if groups is None else groups
    trees = {"params": params, "state": state}
    for group in groups:
        g = f.create_group(vars_path(group.path))
        g.attrs["name"] = group.name
        for i, (collection, path) in enumerate(group.weights):
            g.create_dataset(str(i), data=np.asarray(at(trees[collection], path)))
    values = optimizer_values(model, groups)
    if values is not None:
        g = f.create_group("optimizer/vars")
        g.attrs["name"] = model.optimizer.name
        for i, value in enumerate(values):
            g.create_dataset(str(i), data=np.asarray(value))


# --------------------------------------------------------------------------------------------------------
# Reading: check everything, then read, then assign


def check_file(store, groups, params, state, *, skip_mismatch, where, model_name, error=ValueError):
    """`{(collection, tree path): dataset path}` for the weights to load, after checking every group's count
    and shapes against the model. Mismatches raise one `ValueError` listing them all (nothing is loaded);
    with `skip_mismatch`, they are skipped with a warning."""
    trees = {"params": params, "state": state}
    plan, problems, used = {}, [], set()
    for group in groups:
        prefix = vars_path(group.path) + "/"
        stored = {
            k[len(prefix) :] for k in store.datasets if k.startswith(prefix) and "/" not in k[len(prefix) :]
        }
        used.update(prefix + k for k in stored)
        names = [path[-1] for _, path in group.weights]
        problem = None
        if stored != {str(i) for i in range(len(group.weights))}:
            problem = (
                f"expects {len(group.weights)} weights {names}, the file has {len(stored)} at '{prefix[:-1]}'"
            )
        else:
            for i, (collection, path) in enumerate(group.weights):
                want = at(trees[collection], path)
                have = store.datasets[prefix + str(i)][0]
                if tuple(want.shape) != have:
                    problem = (
                        f"weight '{path[-1]}' has shape {shape_str(want.shape)} in the model but "
                        f"{shape_str(have)} in the file"
                    )
                    break
        if problem is None:
            plan.update({w: prefix + str(i) for i, w in enumerate(group.weights)})
        else:
            problems.append(f"layer '{group.name}' ({group.path or 'the model'}): {problem}")
    extra = sorted(
        k for k in store.datasets if k not in used and not k.startswith(("optimizer/", RESUME_GROUP + "/"))
    )
    if extra:
        problems.append(f"the file has weights the model has no place for: {extra[:5]}")
    if problems:
        listing = "\n  - ".join(problems[:12]) + ("\n  - ..." if len(problems) > 12 else "")
        count = len(problems)
        message = f"{where}: {count} object(s) of model '{model_name}' do not match the file:\n  - {listing}"
        if not skip_mismatch:
            raise error(
                message + "\nNothing was loaded. Pass `skip_mismatch=True` to load the layers that match."
            )
        warnings.warn(message + "\nThese were skipped; everything else was loaded.", stacklevel=3)
    return plan


def read_values(store, plan, params, state):
    """The arrays of `plan`, cast to the model's dtypes, as `{(collection, tree path): jax array}`."""
    trees = {"params": params, "state": state}
    out = {}
    for (collection, path), dataset in plan.items():
        value = store.read(dataset)
        out[(collection, path)] = jnp.asarray(value, dtype=at(trees[collection], path).dtype)
    return out


def replaced(tree, collection, values, fill=None):
    """A copy of nested dict `tree` with the leaves named in `values` replaced; other leaves become
    `fill(leaf)` if `fill` is given (a template's structs), else stay."""

    def walk(node, path):
        if isinstance(node, dict):
            return {k: walk(v, path + (k,)) for k, v in node.items()}
        if (collection, path) in values:
            return values[(collection, path)]
        return node if fill is None else fill(node)

    return walk(tree, ())


def load_into_model(model, store, *, skip_mismatch, where):
    """Load the file's weights into built `model`, all or nothing."""
    params, state = model.params, model.state
    groups = layout(model, params, state)
    plan = check_file(
        store, groups, params, state, skip_mismatch=skip_mismatch, where=where, model_name=model.name
    )
    values = read_values(store, plan, params, state)
    new_params, new_state = replaced(params, "params", values), replaced(state, "state", values)
    model.params, model.state = new_params, new_state  # one assignment, after every read succeeded
    return groups


def fill_from_file(model, store, *, where):
    """Replace the shape structs of an abstractly built `model` (see `config.deserialize_layer`) by the
    file's arrays. The shapes are checked against the file before one array is read, so a config asking for
    absurd sizes is refused without allocating them; no initializer runs."""
    params, state = model.params, model.state
    groups = layout(model, params, state)
    plan = check_file(
        store,
        groups,
        params,
        state,
        skip_mismatch=False,
        where=where,
        model_name=model.name,
        error=FileFormatError,
    )
    values = read_values(store, plan, params, state)
    zeros = lambda s: jnp.zeros(s.shape, s.dtype)  # noqa: E731  carried RNN states, as `init` makes them
    model.params = replaced(params, "params", values, zeros)
    model.state = replaced(state, "state", values, zeros)
    return groups


# --------------------------------------------------------------------------------------------------------
# The optimizer


def _slot_layout(optimizer):
    """`(blocks, scalars)`: Keras's optimizer variables after iterations and learning_rate, as paths into
    jseq's `OptimizerState.slots`. Each block interleaves its slots per trainable weight; blocks follow one
    another; scalars come last. None for an optimizer Keras has no layout for."""
    from jseq.optimizers import algorithms as a

    if isinstance(optimizer, a.SGD):
        return ([[("momentum",)]] if optimizer.momentum else []), []
    if isinstance(optimizer, a.RMSprop):
        direction = ("direction",) if optimizer.momentum > 0 else ()
        blocks = [[direction + ("nu",)]]  # Keras: velocities, then momentums, then average_gradients
        if optimizer.momentum > 0:
            blocks.append([("momentum",)])
        if optimizer.centered:
            blocks.append([direction + ("mu",)])
        return blocks, []
    if isinstance(optimizer, a.Adam):  # AdamW too
        blocks = [[("momentum",), ("velocity",)]]
        return blocks + ([[("velocity_hat",)]] if optimizer.amsgrad else []), []
    if isinstance(optimizer, a.Adagrad):
        return [[("sum_of_squares",)]], []  # Keras's accumulator
    if isinstance(optimizer, a.Adadelta):
        return [[("e_g",), ("e_x",)]], []  # accumulated_grad, accumulated_delta_var
    if isinstance(optimizer, a.Adamax):
        return [[("momentum",), ("norm",)]], []
    if isinstance(optimizer, a.Nadam):
        return [[("momentum",), ("velocity",)]], [("u_product",)]
    if isinstance(optimizer, a.Lion):
        return [[("mu",)]], []
    return None


def _get(obj, path):
    for key in path:
        obj = obj[key] if isinstance(obj, dict) else getattr(obj, key)
    return obj


def _set(obj, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _set(obj[head], rest, value)}
    return obj._replace(**{head: _set(getattr(obj, head), rest, value)})


def _trainable_paths(model, groups):
    mask = model.trainable_mask()
    return [path for collection, path in variables(groups) if collection == "params" and at(mask, path)]


def _current_opt_state(model):
    """`model._opt_state` for the current trainable mask; a fresh one (same step and rate) if it has none."""
    from jseq.optimizers import OptimizerState
    from jseq.training import split_by_mask

    mask = model.trainable_mask()
    state = model._opt_state
    if state is None or model._opt_mask != mask:
        fresh = model._tx.init(split_by_mask(model.params, mask)[0])
        if state is not None and isinstance(fresh, OptimizerState):
            fresh = OptimizerState(state.iterations, state.learning_rate, fresh.slots, fresh.lr_mode)
        state = fresh
    return state


def optimizer_values(model, groups):
    """Keras's `optimizer.variables` of compiled `model`, in Keras's order; None if it has no optimizer Keras
    can read (not compiled, or a raw Optax transformation)."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    slot_layout = _slot_layout(model.optimizer)
    if slot_layout is None:
        warnings.warn(
            f"The optimizer of model '{model.name}' ({type(model.optimizer).__name__}) has no Keras layout; "
            "its state is not saved.",
            stacklevel=4,
        )
        return None
    blocks, scalars = slot_layout
    state = _current_opt_state(model)
    values = [state.iterations] + ([state.learning_rate] if state.lr_mode == "float" else [])
    paths = _trainable_paths(model, groups)
    for block in blocks:
        values += [_get(state.slots, slot + path) for path in paths for slot in block]
    values += [_get(state.slots, slot) for slot in scalars]
    return values


def load_optimizer(model, store, groups, *, where, strict=False):
    """Set `model._opt_state` from the file's `optimizer/vars` so that `fit` continues where it stopped.

    As Keras: an optimizer whose variables do not match (another optimizer, another model) is skipped with a
    warning (`strict`: raises `FileFormatError`). A file with only `iterations` and `learning_rate`
    (Keras's optimizer before its first step) sets those two.
    """
    from jseq.optimizers import OptimizerState

    prefix = "optimizer/vars/"
    count = sum(1 for k in store.datasets if k.startswith(prefix) and "/" not in k[len(prefix) :])
    if count == 0 or not getattr(model, "compiled", False):
        return False
    slot_layout = _slot_layout(model.optimizer)
    template = _current_opt_state(model)
    expected = None if slot_layout is None else optimizer_values(model, groups)
    head = 1 + (template.lr_mode == "float")
    shapes = [store.datasets.get(prefix + str(i), ((None,), None))[0] for i in range(count)]
    if (
        expected is None
        or count not in (len(expected), head)
        or any(tuple(np.shape(e)) != s for e, s in zip(expected, shapes))
    ):
        message = (
            f"Skipping variable loading for optimizer '{model.optimizer.name}', because it has "
            f"{0 if expected is None else len(expected)} variables whereas the saved optimizer has {count} "
            f"variables ({where})."
        )
        if strict:
            raise FileFormatError(message.replace("Skipping variable loading", "Cannot restore the state"))
        warnings.warn(message, stacklevel=3)
        return False
    values = [store.read(prefix + str(i)) for i in range(count)]
    iterations = jnp.asarray(values[0], jnp.int32)
    slots = template.slots
    if count == len(expected):
        blocks, scalars = slot_layout
        paths, i = _trainable_paths(model, groups), head
        for block in blocks:
            for path in paths:
                for slot in block:
                    slots = _set(slots, slot + path, jnp.asarray(values[i], jnp.asarray(expected[i]).dtype))
                    i += 1
        for slot in scalars:
            slots = _set(slots, slot, jnp.asarray(values[i], jnp.float32))
            i += 1
        if "count" in getattr(slots, "_fields", ()):  # Optax's Lion keeps its own step count
            slots = slots._replace(count=iterations)
    if template.lr_mode == "float":
        learning_rate = jnp.asarray(values[1], jnp.float32)
        model.optimizer.learning_rate = float(learning_rate)
    else:
        learning_rate = jnp.asarray(model.optimizer.learning_rate(iterations), jnp.float32)
    model._opt_state = OptimizerState(iterations, learning_rate, slots, template.lr_mode)
    model._opt_mask = model.trainable_mask()
    model.optimizer.iterations = int(iterations)
    return True
