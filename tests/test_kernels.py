"""jseq.kernels.conv: the convolution whose gradients training loops on CPU compute their own way.

Its forward pass is XLA's; its VJP (input gradient as an explicit forward convolution, kernel gradient as a
matmul per tap) must equal XLA's own VJP for every configuration the conv layers can ask for.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jseq
from jseq import kernels, layers

# (input shape, kernel shape, strides, padding, dilation, dimension numbers, groups)
CONFIGS = [
    ((3, 9, 8, 4), (3, 3, 4, 6), (1, 1), "VALID", (1, 1), ("NHWC", "HWIO", "NHWC"), 1),
    ((3, 9, 8, 4), (3, 2, 2, 6), (2, 1), "SAME", (1, 1), ("NHWC", "HWIO", "NHWC"), 2),
    ((3, 4, 9, 8), (3, 3, 4, 6), (1, 1), "SAME", (2, 2), ("NCHW", "HWIO", "NCHW"), 1),
    ((2, 11, 5), (3, 5, 4), (1,), ((4, 0),), (2,), ("NHC", "HIO", "NHC"), 1),  # causal Conv1D
    ((2, 5, 11), (2, 5, 4), (3,), "VALID", (1,), ("NCH", "HIO", "NCH"), 1),
    ((2, 10, 10, 3), (3, 3, 1, 6), (2, 2), "SAME", (1, 1), ("NHWC", "HWIO", "NHWC"), 3),  # depthwise
    ((2, 9, 9, 3), (2, 2, 3, 4), (3, 3), "VALID", (1, 1), ("NHWC", "HWIO", "NHWC"), 1),  # rows left over
    ((2, 7, 7, 5), (1, 1, 5, 3), (1, 1), "VALID", (1, 1), ("NHWC", "HWIO", "NHWC"), 1),  # pointwise
]


@pytest.mark.parametrize("config", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_the_loop_gradient_equals_xlas(config):
    x_shape, k_shape, strides, padding, dilation, dims, groups = config
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=k_shape), jnp.float32)

    def xla_conv(x, kernel):
        return lax.conv_general_dilated(
            x, kernel, strides, padding, rhs_dilation=dilation, dimension_numbers=dims,
            feature_group_count=groups,
        )  # fmt: skip

    # a loss that weighs every output differently, so that a misplaced gradient entry shows
    weights = jnp.asarray(rng.normal(size=xla_conv(x, kernel).shape), jnp.float32)

    def xla(x, kernel):
        return jnp.sum(jnp.sin(xla_conv(x, kernel)) * weights)

    def ours(x, kernel):
        with kernels.device_loop():
            y = kernels.conv(x, kernel, strides, padding, dilation, dims, groups)
        return jnp.sum(jnp.sin(y) * weights)

    expected = jax.grad(xla, (0, 1))(x, kernel)
    got = jax.grad(ours, (0, 1))(x, kernel)
    np.testing.assert_allclose(ours(x, kernel), xla(x, kernel), rtol=1e-6)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(e))))


def test_the_loop_form_is_used_only_inside_device_loops_on_cpu():
    x, kernel = jnp.ones((1, 5, 5, 2)), jnp.ones((3, 3, 2, 4))
    dims = ("NHWC", "HWIO", "NHWC")

    def kernel_grad_jaxpr():
        grad = jax.grad(lambda k: kernels.conv(x, k, (1, 1), "VALID", (1, 1), dims).sum())
        return str(jax.make_jaxpr(grad)(kernel))

    top = kernel_grad_jaxpr()
    assert "dot_general" not in top and top.count("conv_general_dilated") == 2  # XLA's: forward, gradient
    assert not kernels.in_device_loop()
    with kernels.device_loop():
        assert kernels.in_device_loop()
        inside = kernel_grad_jaxpr()
    assert not kernels.in_device_loop()
    assert ("dot_general" in inside) is (jax.default_backend() == "cpu")  # a matmul per tap


def _conv_zoo():
    """Every convolution layer that routes through jseq.kernels.conv, in a model `fit` can loop over."""
    jseq.utils.set_random_seed(1)
    image = jseq.Sequential(
        [
            jseq.Input((9, 9, 2)),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            layers.DepthwiseConv2D(2, depth_multiplier=2),
            layers.SeparableConv2D(3, 2, padding="same"),
            layers.Conv2D(6, 2, groups=3, dilation_rate=2),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    sequence = jseq.Sequential(
        [
            jseq.Input((12, 3)),
            layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
            layers.Conv1D(5, 2, strides=2, data_format="channels_first"),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    return image, sequence


def test_looped_training_of_convolutions_gives_the_numbers_of_one_step_per_call():
    rng = np.random.default_rng(0)
    data = [
        (rng.normal(size=(37, 9, 9, 2)).astype("float32"), rng.integers(0, 3, 37)),
        (rng.normal(size=(37, 12, 3)).astype("float32"), rng.integers(0, 3, 37)),
    ]
    results = {}
    for spe in (1, "auto"):
        for i, (model, (x, y)) in enumerate(zip(_conv_zoo(), data)):
            model.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=spe)
            history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
            looped = [k[3] for k in model._compiled_fns if k[0] == "train"].count(True)
            assert looped == (0 if spe == 1 else 1)  # auto did loop
            results[spe, i] = history.history["loss"], model.get_weights()
    for i in range(2):
        (loss_1, weights_1), (loss_auto, weights_auto) = results[1, i], results["auto", i]
        np.testing.assert_allclose(loss_auto, loss_1, rtol=1e-5)
        for a, b in zip(weights_auto, weights_1):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
