"""tinymin.exercises.use, train --mine and the dispatch table: the learner's functions
really run inside tinymin, go back out, and are refused or named when they are wrong."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tinymin as tm
from tinymin import cli, nn, optim, overrides
from tinymin.autograd import sum_to
from tinymin.data import DataLoader, TensorDataset
from tinymin.exercises import use
from tinymin.exercises.pieces import PIECES, LearnerCodeError
from tinymin.exercises.swap import LoadError, find_files, load_pieces, use_folder
from tinymin.train import train_step

OWN = Path(__file__).parent / "own_pieces"

#: Spies: tinymin's own function, counting its calls (CALLS, in the file's own globals).
SPIES = {
    "im2col": ("from tinymin._ext import im2col as _own", "def im2col(x, kernel_size, stride=1, padding=0):",
               "_own(np.ascontiguousarray(x), kernel_size, stride, padding)"),
    "min_gemm": ("from tinymin._ext import min_gemm as _own", "def min_gemm(cols, w_hat):",
                 "_own(np.ascontiguousarray(cols), np.ascontiguousarray(w_hat))"),
    "sum_to": ("from tinymin.autograd import sum_to as _own", "def sum_to(grad, shape):",
               "_own(grad, shape)"),
    "collate": ("from tinymin.data.dataloader import default_collate as _own",
                "def default_collate(samples):", "_own(samples)"),
}


def write_spy(folder: Path, exercise: str) -> Path:
    imports, header, body = SPIES[exercise]
    path = folder / f"my_{exercise}.py"
    path.write_text(f"import numpy as np\n{imports}\nCALLS = []\n\n\n{header}\n"
                    f"    CALLS.append(1)\n    return {body}\n")
    return path


def tiny_min_step(seed: int = 0):
    """One Adam step of a tiny MinConv network on 4 random 8x8 images; the weights after."""
    tm.manual_seed(seed)
    model = nn.Sequential(nn.MinConv2d(1, 2, 3, padding=1), nn.LeakyReLU(0.01), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    rng = np.random.default_rng(seed)
    data = TensorDataset(tm.tensor(rng.normal(size=(4, 1, 8, 8)).astype(np.float32)),
                         tm.tensor(np.array([0, 1, 2, 1])))
    x, y = next(iter(DataLoader(data, 4)))
    train_step(model, optim.Adam(model.parameters(), lr=1e-2), x, y)
    return [p.numpy().copy() for p in model.parameters()]


def test_overrides_lookup_install_undo_suspend_bypass():
    assert overrides.lookup("sum_to") is None and overrides.lookup("sum_to", len) is len
    undo_outer = overrides.install({"sum_to": abs})
    undo_inner = overrides.install({"sum_to": max})
    assert overrides.lookup("sum_to") is max
    with overrides.suspended():
        assert overrides.active() == {}
    with overrides.bypassed("sum_to"):
        assert overrides.lookup("sum_to") is None
    assert overrides.lookup("sum_to") is max
    undo_inner()
    assert overrides.lookup("sum_to") is abs
    undo_outer()
    assert overrides.active() == {}


def test_use_swaps_in_and_restores(tmp_path):
    spy = write_spy(tmp_path, "sum_to")
    with use({"sum_to": spy}, announce=False) as swap:
        assert overrides.lookup("sum_to") is swap.pieces[0]
        assert sum_to(np.ones((2, 3)), (3,)).tolist() == [2.0, 2.0, 2.0]
        assert swap.pieces[0].function.__globals__["CALLS"] == [1]
    assert overrides.active() == {}
    swap = use({"sum_to": spy}, announce=False)  # a plain call, then undo()
    assert overrides.lookup("sum_to") is swap.pieces[0]
    swap.undo()
    swap.undo()  # twice is harmless
    assert overrides.active() == {}


def test_dispatch_reaches_the_learners_functions_in_a_training_step(tmp_path):
    expected = tiny_min_step()
    files = {name: write_spy(tmp_path, name) for name in SPIES}
    files.update(clip_and_rescale=OWN / "clip_and_rescale.py", matmul_backward=OWN / "matmul_backward.py",
                 adam=OWN / "adam.py")
    with use(files, announce=False) as swap:
        got = tiny_min_step()
        calls = {p.spec.function: len(p.function.__globals__.get("CALLS", [1])) for p in swap.pieces}
    assert set(calls) == {"im2col", "min_gemm", "sum_to", "default_collate", "step3_clip",
                          "step4_rescale", "step7_through_clip", "matmul_backward", "adam_step"}
    assert calls["im2col"] >= 1 and calls["min_gemm"] >= 1 and calls["default_collate"] == 1
    assert calls["sum_to"] >= 1
    # the spies compute tinymin's own numbers: the step is the same, bit for bit
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_evaluation_reaches_the_learners_im2col_and_min_gemm(tmp_path):
    """Without gradients tinymin fuses im2col with the min GEMM; with a learner's two
    swapped in, theirs run instead, so a milestone's test accuracy is on their code."""
    tm.manual_seed(0)
    layer = nn.MinConv2d(1, 2, 3, padding=1).eval()
    x = tm.tensor(np.random.default_rng(0).normal(size=(2, 1, 8, 8)).astype(np.float32))
    with tm.no_grad():
        expected = layer(x).numpy().copy()
        files = {name: write_spy(tmp_path, name) for name in ("im2col", "min_gemm")}
        with use(files, announce=False) as swap:
            got = layer(x).numpy().copy()
            calls = {p.spec.function: len(p.function.__globals__["CALLS"]) for p in swap.pieces}
    assert calls["im2col"] >= 1 and calls["min_gemm"] >= 1
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_a_callable_counts_its_calls_as_a_piece():
    seen = []

    def my_step7(grad, inside):
        seen.append(grad.shape)
        return grad if inside is None else np.where(inside, grad, 0)

    with pytest.raises(LoadError, match="give a file or module"):
        use({"clip_and_rescale": my_step7}, announce=False)
    spied = []

    def my_im2col(x, kernel_size, stride=1, padding=0):
        spied.append((x.shape, kernel_size, stride, padding))
        return tm._ext.im2col(x, kernel_size, stride, padding)

    with use({"im2col": my_im2col}, announce=False):
        tiny_min_step()
    assert (4, 1, 8, 8) in [s[0] for s in spied] and spied[0][1:] == (3, 1, 1)  # ints, not pairs


def test_use_announces_one_line_per_piece(capsys):
    with use({"clip_and_rescale": OWN / "clip_and_rescale.py", "im2col": OWN / "im2col.py"}):
        pass
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["step3_clip", "step4_rescale", "im2col",
                                                   "step7_through_clip"]
    assert all(line.startswith("mine: ") and str(OWN) in line for line in lines)


@pytest.mark.parametrize("text, message", [
    ("def im2col(x, kernel_size, stride=1, padding=0)\n    return x\n", "does not import: SyntaxError"),
    ("import no_such_module_here\n", "does not import: ModuleNotFoundError"),
    ("import sys\nsys.exit(0)\n", "does not import: SystemExit"),
    ("raise RuntimeError('boom')\n", "does not import: RuntimeError: boom"),
    ("def im2col_(x, kernel_size, stride=1, padding=0):\n    return x\n", "defines no function im2col"),
    ("im2col = 3\n", "im2col is a int, not a function"),
    ("def im2col(x, kernel_size):\n    return x\n", "cannot be called as tinymin calls it"),
])
def test_a_bad_file_is_refused_with_one_line_and_nothing_swapped(tmp_path, text, message):
    good, bad = OWN / "sum_to.py", tmp_path / "my_im2col.py"
    bad.write_text(text)
    with pytest.raises(LoadError, match=message) as caught:
        use({"sum_to": good, "im2col": bad}, announce=False)
    assert "\n" not in str(caught.value) and str(bad) in str(caught.value)
    assert overrides.active() == {}


def test_unknown_exercises_and_exercises_without_counterpart_are_refused(tmp_path):
    with pytest.raises(LoadError, match="no exercise 'im2cool'"):
        use({"im2cool": OWN / "im2col.py"})
    with pytest.raises(LoadError, match="kernel_timing exercise has no counterpart"):
        use({"kernel_timing": OWN / "im2col.py"})
    with pytest.raises(LoadError, match="no such file"):
        use({"im2col": tmp_path / "missing.py"})


def test_a_piece_that_raises_mid_training_is_named_with_its_line(tmp_path):
    path = tmp_path / "my_im2col.py"
    path.write_text("def im2col(x, kernel_size, stride=1, padding=0):\n"
                    "    rows = []\n    return rows[3]\n")
    with use({"im2col": path}, announce=False), pytest.raises(LearnerCodeError) as caught:
        tiny_min_step()
    assert str(caught.value) == (f"your im2col ({path}) raised IndexError: list index out of range "
                                 "(at my_im2col.py, line 3)")


def test_a_wrong_shape_is_named_where_it_is_returned(tmp_path):
    path = tmp_path / "my_min_gemm.py"
    path.write_text("import numpy as np\n\n\ndef min_gemm(cols, w_hat):\n"
                    "    return np.zeros((w_hat.shape[0], cols.shape[0]))\n")
    with use({"min_gemm": path}, announce=False), pytest.raises(LearnerCodeError) as caught:
        tiny_min_step()
    assert f"your min_gemm ({path}): min_gemm's answer has shape (2, " in str(caught.value)


def test_find_files_takes_my_prefix_first_then_plain_names(tmp_path):
    assert set(find_files(OWN)) == {"collate", "clip_and_rescale", "im2col", "min_gemm", "sum_to",
                                    "matmul_backward", "adam", "train_epoch"}
    (tmp_path / "my_sum_to.py").write_text((OWN / "sum_to.py").read_text())
    assert find_files(tmp_path) == {"sum_to": tmp_path / "my_sum_to.py"}
    (tmp_path / "sum_to.py").write_text((OWN / "sum_to.py").read_text())
    (tmp_path / "im2col.py").write_text((OWN / "im2col.py").read_text())
    assert find_files(tmp_path) == {"im2col": tmp_path / "im2col.py", "sum_to": tmp_path / "my_sum_to.py"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LoadError, match="no exercise files"):
        use_folder(empty)
    with pytest.raises(LoadError, match="no such folder"):
        find_files(tmp_path / "missing")


def test_every_piece_has_its_dispatch_line_in_tinymin():
    package = Path(tm.__file__).parent
    sources = "".join(p.read_text() for p in package.rglob("*.py") if "exercises" not in p.parts)
    for name in PIECES:
        assert sources.count(f'overrides.lookup("{name}")') >= 1, name


def test_the_torch_engines_step3_dispatches_to_the_learners_torch_clip(tmp_path):
    torch = pytest.importorskip("torch")
    from tinymin.torch.functional import step3_clip

    path = tmp_path / "my_torch_clip.py"
    path.write_text("import torch\n\nCALLS = []\n\n\ndef step3_clip(a, mu, clip_value):\n"
                    "    CALLS.append(1)\n    bound = clip_value * mu\n"
                    "    return torch.minimum(torch.maximum(a, -bound), bound), a.abs() <= bound\n")
    assert find_files(tmp_path, "torch") == {"torch_clip": path} and find_files(tmp_path) == {}
    with use_folder(tmp_path, "torch", announce=False) as swap:
        a_c, inside = step3_clip(torch.tensor([-3.0, 0.5, 2.0]), torch.tensor(1.0), 1.0)
    assert a_c.tolist() == [-1.0, 0.5, 1.0] and inside.tolist() == [False, True, False]
    assert swap.pieces[0].function.__globals__["CALLS"] == [1] and overrides.active() == {}


TRAIN = ["train", "--conv", "min", "--epochs", "1", "--train-limit", "64", "--test-limit", "64",
         "--batch-size", "32", "--no-progress"]


def test_train_mine_announces_the_pieces_then_trains_on_them(tmp_path, capsys):
    write_spy(tmp_path, "im2col")
    (tmp_path / "clip_and_rescale.py").write_text((OWN / "clip_and_rescale.py").read_text())
    assert cli.main(TRAIN + ["--mine", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out[:4]] == ["step3_clip", "step4_rescale", "im2col",
                                                     "step7_through_clip"]
    assert out[-1].startswith("final test accuracy")
    assert overrides.active() == {}


def test_train_mine_refuses_a_bad_file_and_names_a_raising_piece(tmp_path, capsys):
    (tmp_path / "my_im2col.py").write_text("def im2col(x):\n    return x\n")
    assert cli.main(TRAIN + ["--mine", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cannot be called as tinymin calls it" in err and "\n" not in err
    (tmp_path / "my_im2col.py").write_text("def im2col(x, kernel_size, stride=1, padding=0):\n"
                                           "    raise NotImplementedError\n")
    assert cli.main(TRAIN + ["--mine", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"error: your im2col ({tmp_path / 'my_im2col.py'}) raised NotImplementedError: "
                   "(no message) (at my_im2col.py, line 2)")
    assert overrides.active() == {}


def test_a_learner_file_may_define_dataclasses_and_import_files_beside_it(tmp_path):
    (tmp_path / "helpers.py").write_text("def double(a):\n    return 2 * a\n")
    (tmp_path / "my_sum_to.py").write_text(
        "from __future__ import annotations\n\nfrom dataclasses import dataclass\n\n"
        "from helpers import double\n\n\n@dataclass\nclass Note:\n    text: str\n\n\n"
        "def sum_to(grad, shape):\n    return double(grad.reshape(-1, *shape).sum(axis=0)) / 2\n")
    with use({"sum_to": tmp_path / "my_sum_to.py"}, announce=False):
        assert sum_to(np.ones((2, 3)), (3,)).tolist() == [2.0, 2.0, 2.0]
    assert str(tmp_path) not in __import__("sys").path


def test_the_pieces_match_the_registrys_exercises_and_templates():
    from tinymin.exercises.pieces import NO_COUNTERPART, exercise_pieces
    from tinymin.exercises.registry import EXERCISES

    assert set(EXERCISES) == set(NO_COUNTERPART) | {s.exercise for s in PIECES.values()}
    for name, exercise in EXERCISES.items():
        assert {s.function for s in exercise_pieces(name)} == (
            set() if name in NO_COUNTERPART else set(exercise.functions)), name
        if name in NO_COUNTERPART or (name == "torch_clip" and importlib.util.find_spec("torch") is None):
            continue
        # each template's signature is one tinymin can call (its body is still to write)
        assert [p.spec.exercise for p in load_pieces({name: exercise.template})] == [name] * len(
            exercise.functions)
