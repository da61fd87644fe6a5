"""jseq.optimizers: parity with Keras's optimizers and schedules, run-time learning rate, names, configs."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jseq.optimizers as jo
from jseq.optimizers import schedules

os.environ.setdefault("KERAS_BACKEND", "jax")

SHAPES = {"kernel": (3, 4), "bias": (4,)}


def _start_and_grads(seed=0, steps=20):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=s).astype("float32") for k, s in SHAPES.items()}
    # Mixed gradient scales: Keras's and Optax's epsilon placements differ most for small gradients.
    grads = [
        {k: (rng.normal(size=s) * rng.choice([1e-6, 1e-2, 1.0])).astype("float32") for k, s in SHAPES.items()}
        for _ in range(steps)
    ]
    return params, grads


def _run_jseq(optimizer, params, grads):
    tx = optimizer.build()
    state = tx.init(params)

    @jax.jit
    def step(params, state, g):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    for g in grads:
        params, state = step(params, state, g)
    return params, state


def _run_keras(optimizer, params, grads):
    keras = pytest.importorskip("keras")
    variables = {k: keras.Variable(v) for k, v in params.items()}
    for g in grads:
        optimizer.apply_gradients([(g[k], variables[k]) for k in SHAPES])
    return {k: np.asarray(v) for k, v in variables.items()}


CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.5}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("Adagrad", {}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adamax", {}),
    ("Nadam", {}),
    ("Lion", {}),
    ("Adam", {"clipnorm": 0.5}),
    ("Adam", {"clipvalue": 0.1}),
    ("SGD", {"global_clipnorm": 0.3, "momentum": 0.9}),
    ("SGD", {"weight_decay": 0.1, "momentum": 0.9}),
    ("RMSprop", {"weight_decay": 0.05}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(k) or 'default'}" for n, k in CASES])
def test_matches_keras(name, kwargs):
    keras = pytest.importorskip("keras")
    params, grads = _start_and_grads()
    expected = _run_keras(getattr(keras.optimizers, name)(**kwargs), params, grads)
    got, state = _run_jseq(getattr(jo, name)(**kwargs), params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(got[k]), expected[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert jo.get_iterations(state) == len(grads)


@pytest.mark.parametrize("name,kwargs", CASES[:14], ids=[n + str(i) for i, (n, _) in enumerate(CASES[:14])])
def test_num_variables_matches_keras(name, kwargs):
    keras = pytest.importorskip("keras")
    params = {k: np.zeros(s, "float32") for k, s in SHAPES.items()}
    k_opt = getattr(keras.optimizers, name)(**kwargs)
    k_opt.build([keras.Variable(v) for v in params.values()])
    expected = sum(int(np.prod(v.shape)) for v in k_opt.variables)
    assert getattr(jo, name)(**kwargs).num_variables(params) == expected


def test_summary_counts_from_the_reference():
    # keras-behaviour.md §1/§6: SGD 2, SGD+momentum and RMSprop N+2, Adam 2N+2 (Adam on 18 params: 38).
    params = {"kernel": np.zeros((4, 3)), "bias": np.zeros(6)}
    assert jo.SGD().num_variables(params) == 2
    assert jo.SGD(momentum=0.9).num_variables(params) == 20
    assert jo.RMSprop().num_variables(params) == 20
    assert jo.Adam().num_variables(params) == 38
    # A schedule is not a variable.
    assert jo.SGD(schedules.ExponentialDecay(0.1, 10, 0.9)).num_variables(params) == 1


def test_schedule_inside_the_update_matches_keras():
    keras = pytest.importorskip("keras")
    params, grads = _start_and_grads(1)
    k_sched = keras.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5)
    k_opt = keras.optimizers.SGD(k_sched, momentum=0.9)
    expected = _run_keras(k_opt, params, grads)
    got, state = _run_jseq(jo.SGD(schedules.ExponentialDecay(0.1, 5, 0.5), momentum=0.9), params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(got[k]), expected[k], rtol=1e-5, atol=1e-6)
    # The value "at the current step", as Keras's `optimizer.learning_rate`.
    assert jo.get_learning_rate(state) == pytest.approx(float(k_opt.learning_rate), rel=1e-6)


def test_keras2_lr_and_decay():
    keras = pytest.importorskip("keras")
    params, grads = _start_and_grads(2)
    # Keras 2's decay= is inverse-time decay per step; Keras 3 spells it as a schedule.
    k_opt = keras.optimizers.SGD(
        keras.optimizers.schedules.InverseTimeDecay(0.1, 1, 0.05), momentum=0.9, nesterov=True
    )
    expected = _run_keras(k_opt, params, grads)
    opt = jo.SGD(lr=0.1, decay=0.05, momentum=0.9, nesterov=True)
    assert opt.learning_rate == 0.1 and opt.lr == 0.1
    got, state = _run_jseq(opt, params, grads)
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(got[k]), expected[k], rtol=1e-5, atol=1e-6)
    assert jo.get_learning_rate(state) == pytest.approx(0.1)  # the base rate, as Keras 2's `optimizer.lr`
    with pytest.raises(TypeError, match="both"):
        jo.Adam(learning_rate=0.1, lr=0.2)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_set_learning_rate_takes_effect_without_retracing(name):
    keras = pytest.importorskip("keras")
    params, grads = _start_and_grads(3, steps=6)
    kwargs = {"momentum": 0.9} if name != "Adam" else {}
    traces = []
    tx = getattr(jo, name)(**kwargs).build()

    @jax.jit
    def step(params, state, g):
        traces.append(1)  # runs only while tracing
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    state = tx.init(params)
    k_opt = getattr(keras.optimizers, name)(**kwargs)
    k_vars = {k: keras.Variable(v) for k, v in params.items()}
    p = params
    for i, g in enumerate(grads):
        if i == 3:  # what ReduceLROnPlateau does between steps
            state = jo.set_learning_rate(state, 0.5 * jo.get_learning_rate(state))
            k_opt.learning_rate = 0.5 * float(k_opt.learning_rate)
        p, state = step(p, state, g)
        k_opt.apply_gradients([(g[k], k_vars[k]) for k in SHAPES])
    assert len(traces) == 1
    assert jo.get_learning_rate(state) == pytest.approx(float(k_opt.learning_rate))
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(p[k]), np.asarray(k_vars[k]), rtol=1e-5, atol=1e-6)


def test_set_learning_rate_refuses_schedules_and_raw_optax():
    params = {"w": jnp.zeros(3)}
    state = jo.SGD(schedules.CosineDecay(0.1, 100)).build().init(params)
    with pytest.raises(TypeError, match="not settable"):
        jo.set_learning_rate(state, 0.01)
    raw = jo.get(optax.adam(1e-3))
    raw_state = raw.build().init(params)
    with pytest.raises(TypeError, match="raw"):
        jo.get_learning_rate(raw_state)
    with pytest.raises(TypeError, match="jseq optimizer"):
        jo.get_learning_rate({"not": "a state"})
    # A wrapped Optax transformation still trains and counts iterations.
    tx = raw.build()
    updates, raw_state = tx.update({"w": jnp.ones(3)}, raw_state, params)
    assert jo.get_iterations(raw_state) == 1
    np.testing.assert_allclose(np.asarray(updates["w"]), -1e-3 * np.ones(3), rtol=1e-4)


SCHEDULES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5, staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[5, 12], values=[1.0, 0.5, 0.1])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, power=0.5)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, cycle=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=20, warmup_target=0.2, warmup_steps=5)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=2.0, m_mul=0.5)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=1.0)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[n + str(i) for i, (n, _) in enumerate(SCHEDULES)])
def test_schedules_match_keras(name, kwargs):
    keras = pytest.importorskip("keras")
    ours, theirs = getattr(schedules, name)(**kwargs), getattr(keras.optimizers.schedules, name)(**kwargs)
    steps = [
        0,
        1,
        2,
        3,
        4,
        5,
        7,
        9,
        10,
        11,
        12,
        13,
        17,
        20,
        25,
        31,
        39,
    ]  # boundaries and periods of all cases
    got = jax.jit(jax.vmap(ours))(jnp.asarray(steps, jnp.int32))
    expected = [float(theirs(np.int32(s))) for s in steps]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-7)
    assert ours.get_config() == theirs.get_config()
    assert schedules.deserialize(schedules.serialize(ours)).get_config() == ours.get_config()


def test_config_layout_matches_keras_and_round_trips():
    keras = pytest.importorskip("keras")
    cases = [("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True})]
    cases += [(n, {}) for n in ["RMSprop", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion"]]
    for name, kwargs in cases:
        ours = getattr(jo, name)(name="o", **kwargs).get_config()
        theirs = getattr(keras.optimizers, name)(name="o", **kwargs).get_config()
        assert ours == theirs, name
        again = getattr(jo, name).from_config(ours)
        assert again.get_config() == ours
    scheduled = jo.SGD(schedules.ExponentialDecay(0.1, 10, 0.9), name="s")
    config = scheduled.get_config()
    assert (
        config
        == keras.optimizers.SGD(
            keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), name="s"
        ).get_config()
    )
    assert isinstance(jo.SGD.from_config(config).learning_rate, schedules.ExponentialDecay)
    assert isinstance(jo.deserialize(jo.serialize(jo.Adam())), jo.Adam)


def test_get_resolves_names_classes_instances_and_optax():
    names = [
        "sgd",
        "SGD",
        "rmsprop",
        "RMSprop",
        "adam",
        "adamw",
        "adagrad",
        "adadelta",
        "adamax",
        "nadam",
        "lion",
    ]
    classes = [jo.SGD, jo.SGD, jo.RMSprop, jo.RMSprop, jo.Adam, jo.AdamW, jo.Adagrad, jo.Adadelta, jo.Adamax]
    classes += [jo.Nadam, jo.Lion]
    for name, cls in zip(names, classes, strict=True):
        assert type(jo.get(name)) is cls
    assert jo.get("sgd").learning_rate == 0.01
    assert jo.get("rmsprop").learning_rate == 0.001
    opt = jo.Adam()
    assert jo.get(opt) is opt
    assert isinstance(jo.get(jo.Nadam), jo.Nadam)
    assert isinstance(jo.get(optax.sgd(0.1)), jo.OptaxOptimizer)
    with pytest.raises(ValueError, match="adamw2.*'adam'"):
        jo.get("adamw2")
    with pytest.raises(ValueError, match="Could not interpret"):
        jo.get(None)


def test_constructor_errors():
    with pytest.raises(TypeError, match="momentun"):
        jo.SGD(momentun=0.9)
    with pytest.raises(NotImplementedError, match="use_ema"):
        jo.Adam(use_ema=True)
    with pytest.raises(NotImplementedError, match="gradient_accumulation_steps"):
        jo.Adam(gradient_accumulation_steps=4)
    with pytest.raises(ValueError, match="learning_rate"):
        jo.SGD(learning_rate=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        jo.SGD(learning_rate="fast")
    with pytest.raises(ValueError, match="Only one of"):
        jo.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="momentum"):
        jo.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        jo.AdamW(weight_decay=None)
    # Defaults that mean "off" are accepted, as Keras code passes them explicitly.
    jo.Adam(use_ema=False, ema_momentum=0.99, loss_scale_factor=None)


def test_names_are_keras_snake_case_and_unique():
    from jseq.core import clear_session

    clear_session()
    assert [jo.Adam().name, jo.Adam().name, jo.RMSprop().name, jo.AdamW().name] == [
        "adam",
        "adam_1",
        "rm_sprop",
        "adam_w",
    ]


def test_exclude_from_weight_decay_by_name():
    params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
    grads = jax.tree.map(jnp.zeros_like, params)
    opt = jo.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    tx = opt.build()
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["dense"]["kernel"]), -0.05)
    np.testing.assert_allclose(np.asarray(updates["dense"]["bias"]), 0.0)


def test_lr_attribute_is_plain_and_settable():
    opt = jo.RMSprop()
    opt.learning_rate = 0.25
    assert opt.lr == 0.25
    opt.lr = 0.5
    assert opt.learning_rate == 0.5
    # The state built afterwards starts from the new value.
    assert jo.get_learning_rate(opt.build().init({"w": jnp.zeros(2)})) == 0.5
