"""The hand-written JAX + Optax loop: the reference for "as fast as JAX can be".

The model is a plain function `apply(params, x)` over the flat weight list (Keras's `get_weights()` order);
the loss and accuracy are Keras's formulas on probabilities (clipped to [1e-7, 1 - 1e-7]); the optimizer is
`optax.rmsprop(1e-3, decay=0.9, eps=1e-7)`, which is Keras's RMSprop (epsilon inside the square root). Two
variants, chosen by TASK["framework"]:

    jax-step  one jitted train step per batch; the epoch's data on the device, each step slicing its rows
              with `dynamic_slice` at a step index that is also kept on the device; params, optimizer state
              and running loss donated, so nothing crosses to the host until the epoch's loss is read.
    jax-scan  the epoch's full batches in one jitted `lax.scan` (the partial last batch by the step function);
              evaluate and predict likewise. Nothing per step is stacked except predict's outputs.

The layers are written the way that is fastest in plain JAX on XLA:CPU (measured on 2 cores, batch 128):

- 2x2 max pooling as a reshape and a max over the window axes: its gradient is a compare-and-select, where
  `lax.reduce_window`'s is `select_and_scatter` (113 against 268 ms per CNN step). With tied maxima the
  gradient is split between them instead of going to one; the forward values are the same.
- In the scan form on CPU, the convolution's gradients written out (a custom VJP): the weight gradient as
  kh x kw shifted matmuls, the input gradient as a forward convolution of the output gradient with the
  flipped kernel made explicit. XLA rewrites its default gradients into fast kernels only at the top level
  of a program, not inside a loop (jax-ml/jax#12868), which made the CNN scan 10x slower (125 against
  1,210 ms per step); the written-out input gradient halved the scan's step again (31 -> 17 ms).
- The LSTM's input projection inside the scan, one (B, D) @ (D, 4U) per step as Keras does: projecting the
  whole sequence first and scanning over the (T, B, 4U) result was 3x slower to differentiate.

    python -m benchmarks.worker_jax TASK.json RESULT.json T0
"""

import functools

from benchmarks import cases, common

EPSILON = 1e-7  # keras.config.epsilon()
_CONV_DIMS = ("NHWC", "HWIO", "NHWC")  # Keras's channels-last layout and (kh, kw, c_in, c_out) kernel


def conv2d(x, kernel, padding="VALID"):
    """A stride-1 convolution ('valid' unless told): x (B, H, W, C_in), kernel (kh, kw, C_in, C_out)."""
    from jax import lax

    return lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_CONV_DIMS)


@functools.cache
def conv2d_shifted_weight_grad():
    """`conv2d` whose kernel gradient is kh x kw matmuls of shifted input windows with the output gradient.

    dK[i, j] = S(i, j)^T @ dY    S(i, j) = X[:, i:i + H_out, j:j + W_out, :] as (B * H_out * W_out, C_in)
                                 dY as (B * H_out * W_out, C_out)
    dX = conv2d(dY, K flipped in space with C_in and C_out swapped), padded by kh - 1, kw - 1 each side
    """
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def conv(x, kernel):
        return conv2d(x, kernel)

    def forward(x, kernel):
        return conv2d(x, kernel), (x, kernel)

    def backward(residuals, dy):
        x, kernel = residuals
        kh, kw = kernel.shape[:2]
        flipped = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)  # (kh, kw, C_out, C_in)
        dx = conv2d(dy, flipped, padding=((kh - 1, kh - 1), (kw - 1, kw - 1)))
        h_out, w_out = dy.shape[1:3]
        # (N, 1, C) with N = B * H_out * W_out: a dot with a batch axis of one, which XLA:CPU runs faster
        # than the plain (C_in, N) @ (N, C_out) inside the scan (0.55 against 0.65 s per CNN epoch)
        dy3 = dy.reshape(-1, 1, dy.shape[-1])
        taps = [
            jnp.einsum("ngc,ngf->cgf", x[:, i : i + h_out, j : j + w_out, :].reshape(-1, 1, x.shape[-1]), dy3)
            for i in range(kh)
            for j in range(kw)
        ]
        return dx, jnp.stack(taps).reshape(kernel.shape)  # (kh, kw, C_in, C_out)

    conv.defvjp(forward, backward)
    return conv


def max_pool(x, size):
    """'valid' max pooling with stride = size, as a reshape: (B, H, W, C) -> (B, H // size, W // size, C)."""
    b, h, w, c = x.shape
    h2, w2 = h // size, w // size
    windows = x[:, : h2 * size, : w2 * size].reshape(b, h2, size, w2, size, c)  # 'valid' drops the remainder
    return windows.max(axis=(2, 4))


def model_fn(specs, shifted_weight_grad=False):
    """apply(params, x) -> probabilities, for the layer specs of `benchmarks.cases`.

    Args:
        specs: the model's layer specs.
        shifted_weight_grad: differentiate convolutions with `conv2d_shifted_weight_grad`.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    activations = {"relu": jax.nn.relu, "softmax": jax.nn.softmax, "sigmoid": jax.nn.sigmoid}
    conv = conv2d_shifted_weight_grad() if shifted_weight_grad else conv2d

    def lstm(kernel, recurrent_kernel, bias, x):  # x (B, T, D) -> last h (B, U)
        def cell(carry, x_t):  # x_t (B, D)
            h, c = carry
            z = x_t @ kernel + h @ recurrent_kernel + bias  # (B, 4U)
            i, f, g, o = jnp.split(z, 4, axis=-1)  # Keras's gate order
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zeros = jnp.zeros((x.shape[0], recurrent_kernel.shape[0]), x.dtype)
        (h, _), _ = lax.scan(cell, (zeros, zeros), jnp.swapaxes(x, 0, 1))  # over time: (T, B, D)
        return h

    def apply(params, x):
        i = 0  # index of the next layer's first weight in the flat list
        for spec in specs:
            kind = spec[0]
            if kind == "dense":
                x = activations[spec[2]](x @ params[i] + params[i + 1])
                i += 2
            elif kind == "conv2d":
                x = activations[spec[3]](conv(x, params[i]) + params[i + 1])
                i += 2
            elif kind == "maxpool2d":
                x = max_pool(x, spec[1])
            elif kind == "flatten":
                x = x.reshape(x.shape[0], -1)
            elif kind == "embedding":
                x = jnp.take(params[i], x, axis=0)
                i += 1
            elif kind == "lstm":
                x = lstm(*params[i : i + 3], x)
                i += 3
        return x

    return apply


def loss_and_accuracy_fns(loss_name):
    """Per-sample (loss(y, p), correct(y, p)) with Keras's formulas for probability outputs."""
    import jax.numpy as jnp

    if loss_name == "sparse_categorical_crossentropy":

        def loss(y, p):  # y (B,) int, p (B, C)
            p = jnp.clip(p / jnp.sum(p, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
            return -jnp.take_along_axis(jnp.log(p), y[:, None], axis=-1)[:, 0]

        def correct(y, p):
            return (jnp.argmax(p, axis=-1) == y).astype(jnp.float32)

    elif loss_name == "binary_crossentropy":

        def loss(y, p):  # y, p (B, 1)
            p = jnp.clip(p, EPSILON, 1.0 - EPSILON)
            return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p), axis=-1)

        def correct(y, p):
            return jnp.mean(((p > 0.5).astype(y.dtype) == y).astype(jnp.float32), axis=-1)

    else:
        raise ValueError(f"Unknown loss {loss_name!r}.")
    return loss, correct


class Loop:
    """train epoch / evaluate / predict for one model, in the 'step' or 'scan' form."""

    def __init__(self, case, weights, variant):
        import jax
        import jax.numpy as jnp
        import optax

        self.jax, self.jnp, self.optax = jax, jnp, optax
        self.variant = variant
        # The shifted-matmul weight gradient only where XLA:CPU needs it: inside the scan.
        self.apply = model_fn(
            case["layers"], shifted_weight_grad=variant == "scan" and jax.default_backend() == "cpu"
        )
        self.sample_loss, self.sample_correct = loss_and_accuracy_fns(case["loss"])
        self.tx = optax.rmsprop(1e-3, decay=0.9, eps=EPSILON)
        self.params = [jnp.asarray(w) for w in weights]
        self.opt_state = self.tx.init(self.params)
        self._fns = {}

    # ---- the jitted pieces, each built on first use and cached by its static sizes ----------------------

    def _train_update(self, params, opt_state, x, y):
        def batch_loss(params):
            return self.jnp.mean(self.sample_loss(y, self.apply(params, x)))

        loss, grads = self.jax.value_and_grad(batch_loss)(params)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return self.optax.apply_updates(params, updates), opt_state, loss

    def _fn(self, kind, batch, stride=None):
        key = (kind, batch, stride)
        if key not in self._fns:
            self._fns[key] = getattr(self, "_make_" + kind)(batch, stride)
        return self._fns[key]

    def _make_train_step(self, batch, stride):
        lax = self.jax.lax

        def step(params, opt_state, carry, x_all, y_all):
            index, loss_sum = carry  # step index and running loss sum, on the device
            x = lax.dynamic_slice_in_dim(x_all, index * stride, batch)
            y = lax.dynamic_slice_in_dim(y_all, index * stride, batch)
            params, opt_state, loss = self._train_update(params, opt_state, x, y)
            return params, opt_state, (index + 1, loss_sum + loss * batch)

        return self.jax.jit(step, donate_argnums=(0, 1, 2))

    def _make_train_scan(self, batch, stride):
        del stride

        def epoch(params, opt_state, xs, ys):  # xs (steps, batch, ...)
            def body(carry, xy):
                params, opt_state, loss_sum = carry
                params, opt_state, loss = self._train_update(params, opt_state, *xy)
                return (params, opt_state, loss_sum + loss * batch), None

            init = (params, opt_state, self.jnp.float32(0.0))
            return self.jax.lax.scan(body, init, (xs, ys))[0]

        return self.jax.jit(epoch, donate_argnums=(0, 1))

    def _make_eval_step(self, batch, stride):
        lax = self.jax.lax

        def step(params, carry, x_all, y_all):
            index, loss_sum, correct = carry
            x = lax.dynamic_slice_in_dim(x_all, index * stride, batch)
            y = lax.dynamic_slice_in_dim(y_all, index * stride, batch)
            p = self.apply(params, x)
            return (
                index + 1,
                loss_sum + self.sample_loss(y, p).sum(),
                correct + self.sample_correct(y, p).sum(),
            )

        return self.jax.jit(step, donate_argnums=(1,))

    def _make_eval_scan(self, batch, stride):
        del batch, stride

        def run(params, xs, ys):
            def body(carry, xy):
                loss_sum, correct = carry
                p = self.apply(params, xy[0])
                return (
                    loss_sum + self.sample_loss(xy[1], p).sum(),
                    correct + self.sample_correct(xy[1], p).sum(),
                ), None

            return self.jax.lax.scan(body, (self.jnp.float32(0.0), self.jnp.float32(0.0)), (xs, ys))[0]

        return self.jax.jit(run)

    def _make_predict_step(self, batch, stride):
        def step(params, index, x_all):
            return self.apply(
                params, self.jax.lax.dynamic_slice_in_dim(x_all, index * stride, batch)
            ), index + 1

        return self.jax.jit(step, donate_argnums=(1,))

    def _make_predict_scan(self, batch, stride):
        del batch, stride

        def run(params, xs):
            return self.jax.lax.scan(lambda c, x: (c, self.apply(params, x)), None, xs)[1]

        return self.jax.jit(run)

    # ---- the three loops ----------------------------------------------------------------------------------

    def _blocks(self, x, batch):
        """The full batches of device array `x` stacked as (steps, batch, ...), for the scan form."""
        full = len(x) // batch
        return x[: full * batch].reshape((full, batch) + x.shape[1:])

    def training_data(self, x, y, batch):
        """NumPy x, y moved to the device once for all epochs (and stacked by batch for the scan form)."""
        data = {"x": self.jnp.asarray(x), "y": self.jnp.asarray(y)}
        if self.variant == "scan":
            data.update(xs=self._blocks(data["x"], batch), ys=self._blocks(data["y"], batch))
        return data

    def epoch(self, data, batch):
        """One training epoch over `training_data(...)` in order; returns the mean training loss."""
        jnp, x, y = self.jnp, data["x"], data["y"]
        full, rest = divmod(len(x), batch)
        if self.variant == "scan":
            train = self._fn("train_scan", batch)
            self.params, self.opt_state, loss_sum = train(self.params, self.opt_state, data["xs"], data["ys"])
            carry = (jnp.int32(full), loss_sum)
        else:
            carry = (jnp.int32(0), jnp.float32(0.0))
            step = self._fn("train_step", batch, batch)
            for _ in range(full):
                self.params, self.opt_state, carry = step(self.params, self.opt_state, carry, x, y)
        if rest:
            last = self._fn("train_step", rest, batch)
            self.params, self.opt_state, carry = last(self.params, self.opt_state, carry, x, y)
        return float(carry[1]) / len(x)  # the host reads the loss once per epoch

    def evaluate(self, x, y, batch=32):
        """(mean loss, accuracy) over NumPy x, y, in batches of `batch` (Keras's default size)."""
        jnp, n = self.jnp, len(x)
        x, y = jnp.asarray(x), jnp.asarray(y)
        full, rest = divmod(n, batch)
        if self.variant == "scan":
            loss_sum, correct = self._fn("eval_scan", batch)(
                self.params, self._blocks(x, batch), self._blocks(y, batch)
            )
            carry = (jnp.int32(full), loss_sum, correct)
        else:
            carry = (jnp.int32(0), jnp.float32(0.0), jnp.float32(0.0))
            step = self._fn("eval_step", batch, batch)
            for _ in range(full):
                carry = step(self.params, carry, x, y)
        if rest:
            carry = self._fn("eval_step", rest, batch)(self.params, carry, x, y)
        return float(carry[1]) / n, float(carry[2]) / n

    def predict(self, x, batch=32):
        """The model's outputs for NumPy x as a NumPy array, in batches of `batch`."""
        import numpy as np

        jnp, n = self.jnp, len(x)
        x = jnp.asarray(x)
        full, rest = divmod(n, batch)
        outputs = []
        index = jnp.int32(0)
        if self.variant == "scan":
            stacked = self._fn("predict_scan", batch)(self.params, self._blocks(x, batch))
            outputs.append(stacked.reshape((full * batch,) + stacked.shape[2:]))
            index = jnp.int32(full)
        else:
            step = self._fn("predict_step", batch, batch)
            for _ in range(full):
                y, index = step(self.params, index, x)
                outputs.append(y)
        if rest:
            y, index = self._fn("predict_step", rest, batch)(self.params, index, x)
            outputs.append(y)
        return np.concatenate([np.asarray(o) for o in outputs])


def main(argv=None):
    task, result_path, t0 = common.parse_argv(argv)
    case, variant = task["case"], task["framework"].removeprefix("jax-")
    data, weights = cases.read_case_file(task["data_path"])

    t_import = common.now()
    import jax
    import optax

    t_imported = common.now()

    loop = Loop(case, weights, variant)
    t_built = common.now()

    t_fit = common.now()
    batch = case["batch_size"]
    train_data = loop.training_data(data["x_train"], data["y_train"], batch)
    epoch_ends, train_loss = [], []
    for _ in range(task["epochs"]):
        train_loss.append(loop.epoch(train_data, batch))
        epoch_ends.append(common.now())

    x_test, y_test = data["x_test"], data["y_test"]
    calls = task["timed_calls"]
    evaluate, (loss, accuracy) = common.timed_calls(lambda: loop.evaluate(x_test, y_test), calls)
    predict, _ = common.timed_calls(lambda: loop.predict(x_test), calls)

    result = common.figures(
        t0=t0,
        t_import=t_import,
        t_imported=t_imported,
        t_built=t_built,
        t_fit=t_fit,
        epoch_ends=epoch_ends,
        steps=case["steps_per_epoch"],
        evaluate=evaluate,
        predict=predict,
        accuracy=accuracy,
        loss=loss,
        train_loss=train_loss,
    )
    device = jax.devices()[0]
    result.update(
        framework=task["framework"],
        version=f"jax {jax.__version__}, optax {optax.__version__}",
        device={"platform": device.platform, "kind": device.device_kind, "count": jax.device_count()},
    )
    common.write_result(result_path, result)


if __name__ == "__main__":
    main()
