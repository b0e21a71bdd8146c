"""The torch engine computes what tinymin computes: outputs, every gradient, running_abs_mean.

Each case builds a tinymin model, converts it with ``to_torch``, runs the same batch
through both with the same upstream gradient, and compares. "Within tol relative"
means ``max |a - b| <= tol * max |b|`` over the whole array (an elementwise relative
error is meaningless for entries near zero).

float32 cases use two images, float64 four. Min-conv outputs saturate (where every
``|x| > |w_hat|`` only the signs of ``x`` count), so a max-pool window often holds two
values within float32 rounding of each other; the engines round differently and may
then send that window's gradient to different inputs, both valid. With four images
this happened in 1 of 12 seeded mini_cifar cases (one window, 5% of one input
gradient); float64 shows that the engines otherwise agree to 1e-9.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch engine needs the optional extra: "
                            'pip install -e ".[torch]"')

from tinymin import nn  # noqa: E402
from tinymin.models import build_model  # noqa: E402
from tinymin.random import manual_seed  # noqa: E402
from tinymin.tensor import Tensor  # noqa: E402
from tinymin.torch import to_torch  # noqa: E402

TOLERANCE = {np.float64: 1e-9, np.float32: 1e-4}
SHAPES = {"lenet": (1, 28), "mini_cifar": (3, 28)}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def assert_close(actual, expected, tol, what):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    scale = max(np.abs(expected).max(), 1e-30)
    error = np.abs(actual - expected).max() / scale
    assert error <= tol, f"{what}: relative error {error:.3g} > {tol:g}"


def without_dropout(model):
    """Dropout draws from a different generator in each engine; p=0 makes both the identity."""
    for layer in model.modules():
        if isinstance(layer, nn.Dropout):
            layer.p = 0.0
    return model


def images(name, n=4, seed=0):
    channels, side = SHAPES[name]
    rng = np.random.default_rng(seed)
    return rng.random((n, channels, side, side)) * 2 - 0.5


_CALIBRATED: dict = {}


def make_model(name: str, kind: str):
    """A tinymin model of one kind: exact, min, or calibrated min (converted from exact)."""
    manual_seed(1)
    if kind == "calibrated":
        if name not in _CALIBRATED:  # calibration takes a moment: once per model
            exact = without_dropout(build_model(name, conv="exact"))
            model = nn.convert_to_min(exact)
            nn.calibrate_min(model, images(name, 16, seed=5))
            _CALIBRATED[name] = model.state_dict()
        model = without_dropout(build_model(name, conv="min"))
        model.load_state_dict(_CALIBRATED[name])
        assert all(layer.is_calibrated for _, layer in nn.min_layers(model))
        return model
    model = without_dropout(build_model(name, conv=kind))
    if kind == "min":  # move mu_x_hat away from its initial 1 so eval mode tests it
        model.train()
        model(Tensor(images(name, 4, seed=7).astype(np.float32)))
    return model


def run_tinymin(model, x, upstream):
    xt = Tensor(x, requires_grad=True)
    out = model(xt)
    (out * Tensor(upstream)).sum().backward()
    grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
    return out.numpy(), xt.grad.numpy(), grads


def run_torch(module, x, upstream, device="cpu"):
    module = module.to(device)
    xt = torch.tensor(x, device=device, requires_grad=True)
    out = module(xt)
    (out * torch.tensor(upstream, device=device)).sum().backward()
    grads = {name: p.grad.cpu().numpy() for name, p in module.named_parameters()}
    return out.detach().cpu().numpy(), xt.grad.cpu().numpy(), grads


def compare_engines(model, x, dtype, training, device="cpu"):
    model.astype(dtype)
    model.train(training)
    module = to_torch(model)
    x = x.astype(dtype)
    upstream = np.random.default_rng(3).standard_normal((len(x), 10)).astype(dtype)
    tol = TOLERANCE[dtype]
    out_t, dx_t, grads_t = run_tinymin(model, x, upstream)
    out_p, dx_p, grads_p = run_torch(module, x, upstream, device)
    assert out_p.dtype == dtype
    assert_close(out_p, out_t, tol, "output")
    assert_close(dx_p, dx_t, tol, "input gradient")
    assert list(grads_p) == list(grads_t)
    for name in grads_t:
        assert_close(grads_p[name], grads_t[name], tol, f"gradient of {name}")
    torch_state = module.state_dict()
    for name, _ in nn.min_layers(model):
        for buffer in ("running_abs_mean", "num_batches_tracked"):
            key = f"{name}.{buffer}"
            assert_close(torch_state[key].cpu().numpy(), model.state_dict()[key], tol, key)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kind", ["exact", "min", "calibrated"])
@pytest.mark.parametrize("name", ["lenet", "mini_cifar"])
def test_models_agree_on_outputs_gradients_and_running_scale(name, kind, training, dtype):
    model = make_model(name, kind)
    before = [float(layer.running_abs_mean[0]) for _, layer in nn.min_layers(model)]
    compare_engines(model, images(name, 4 if dtype == np.float64 else 2), dtype, training)
    after = [float(layer.running_abs_mean[0]) for _, layer in nn.min_layers(model)]
    if kind != "exact":  # the comparison above is not vacuous: the scale moved, or stayed
        assert (before != after) == training


@pytest.mark.parametrize("operator", ["min", "max", "adder"])
@pytest.mark.parametrize("options", [
    {},
    {"scale": "channel", "stride": 2, "padding": 1},
    {"clip_value": None, "momentum": None},
    {"clip_value": 0.5, "bias": False},  # a tight clip: many masked gradients
], ids=["default", "channel-stride", "no-clip-cumulative", "tight-clip-no-bias"])
def test_one_layer_agrees_for_every_operator_and_option(operator, options):
    options = dict(options)
    stride, padding = options.pop("stride", 1), options.pop("padding", 2)
    bias = options.pop("bias", True)
    manual_seed(2)
    layer = nn.MinConv2d(3, 5, 3, stride, padding, bias, operator=operator, **options).double()
    torch_layer = to_torch(nn.Sequential(layer))[0]
    x = np.random.default_rng(4).standard_normal((3, 3, 9, 9))
    for step in range(3):  # several steps: the running scale keeps agreeing
        xt, xp = Tensor(x * (step + 1), requires_grad=True), torch.tensor(x * (step + 1),
                                                                         requires_grad=True)
        out_t, out_p = layer(xt), torch_layer(xp)
        upstream = np.random.default_rng(step).standard_normal(out_t.shape)
        (out_t * Tensor(upstream)).sum().backward()
        (out_p * torch.tensor(upstream)).sum().backward()
        assert_close(out_p.detach().numpy(), out_t.numpy(), 1e-9, "output")
        assert_close(xp.grad.numpy(), xt.grad, 1e-9, "input gradient")
        assert_close(torch_layer.weight.grad.numpy(), layer.weight.grad, 1e-9, "weight gradient")
        if bias:
            assert_close(torch_layer.bias.grad.numpy(), layer.bias.grad, 1e-9, "bias gradient")
        layer.zero_grad()
        torch_layer.zero_grad()
    assert_close(torch_layer.running_abs_mean.numpy(), layer.running_abs_mean, 1e-12, "running scale")
    assert int(torch_layer.num_batches_tracked[0]) == int(layer.num_batches_tracked[0]) == 3


@pytest.mark.parametrize("x_grad,w_grad", [(True, True), (False, True), (True, False)])
def test_step3_saves_a_mask_only_where_a_gradient_flows_back(monkeypatch, x_grad, w_grad):
    # step 7 reads the mask of an operand only if its gradient is needed; the Function
    # saves None for the others, and the gradients that are computed stay exact
    from tinymin.minconv import MinConvSpec
    from tinymin.torch.functional import min_conv2d

    rng = np.random.default_rng(5)
    x = torch.tensor(rng.standard_normal((2, 3, 7, 7)), requires_grad=x_grad)
    w = torch.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=w_grad)
    spec = MinConvSpec(padding=1, clip_value=0.5)
    y = min_conv2d(x, w, None, spec)
    _, _, x_inside, w_inside = y.grad_fn.saved_tensors
    assert (x_inside is not None) == x_grad and (w_inside is not None) == w_grad
    y.sum().backward()
    if x_grad:  # T = 0.5 clips some inputs: their gradient is zero, the others' not
        inside = (x.abs() <= 0.5 * x.abs().mean()).detach().numpy()
        assert not inside.all()
        np.testing.assert_array_equal(x.grad.numpy() == 0, ~inside)
    import tinymin.torch.functional as engine

    asked = []
    step3 = engine.step3_clip

    def spy(a, mu, clip_value, with_mask=True):
        asked.append(with_mask)
        return step3(a, mu, clip_value, with_mask)

    monkeypatch.setattr(engine, "step3_clip", spy)
    with torch.no_grad():  # no gradient at all: no mask
        min_conv2d(x, w, None, spec)
    assert asked == [False, False]


def test_the_chunk_bound_changes_nothing_but_memory():
    """The unfold reference (what runs on devices without a kernel) blocks its temporaries."""
    from tinymin.torch.functional import get_chunk_bytes, set_chunk_bytes
    from tinymin.torch.selector import unfolded_selector_conv2d

    x, w = torch.randn(5, 4, 10, 10, dtype=torch.float64), torch.randn(6, 4, 3, 3, dtype=torch.float64)
    scale = torch.rand(6, dtype=torch.float64)
    whole = unfolded_selector_conv2d(x, w, scale, (1, 1), (1, 1))
    previous = set_chunk_bytes(36 * 8 * 7)  # on the CPU, one filter x 7 rows: ragged chunks
    try:
        assert get_chunk_bytes() == 36 * 8 * 7
        chunked = unfolded_selector_conv2d(x, w, scale, (1, 1), (1, 1))
    finally:
        set_chunk_bytes(previous)
    # the same sums, blocked differently: equal up to rounding
    assert_close(chunked.numpy(), whole.numpy(), 1e-13, "chunked output")
    with pytest.raises(ValueError, match="positive"):
        set_chunk_bytes(0)


def test_a_network_of_every_supported_layer_agrees():
    manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.Tanh(), nn.AvgPool2d(2),
        nn.MinConv2d(4, 4, 3, padding=1), nn.Sigmoid(), nn.MaxPool2d(3, stride=1, padding=1),
        nn.Identity(), nn.Flatten(), nn.Linear(64, 10), nn.LeakyReLU(0.2), nn.Dropout(0.0))
    x = np.random.default_rng(5).standard_normal((3, 2, 8, 8))
    for training in (True, False):
        compare_engines(model, x, np.float64, training)


@pytest.fixture
def ieee_float32():
    """cuDNN convolutions in IEEE float32, not PyTorch's default TF32 (10-bit mantissa)."""
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = previous


@needs_cuda
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kind", ["exact", "min", "calibrated"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_cuda_agrees_with_tinymin(kind, dtype, training, ieee_float32):
    compare_engines(make_model("lenet", kind), images("lenet", 2), dtype, training, device="cuda")


def test_the_torch_layer_rejects_bad_settings():
    from tinymin.torch import MinConv2d, min_conv2d

    with pytest.raises(ValueError, match="operator"):
        MinConv2d(1, 1, 3, operator="mul")
    with pytest.raises(ValueError, match="scale"):
        MinConv2d(1, 1, 3, scale="pixel")
    with pytest.raises(ValueError, match="clip_value"):
        MinConv2d(1, 1, 3, clip_value=0)
    with pytest.raises(ValueError, match=r"input \(2, 3, 5, 5\) and weight \(1, 2, 3, 3\)"):
        min_conv2d(torch.zeros(2, 3, 5, 5), torch.zeros(1, 2, 3, 3))
