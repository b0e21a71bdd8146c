"""The capstone milestone: tinymin's own pieces as a learner's files reproduce tinymin's
run bit for bit; a wrong piece is named as the one that diverged first."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from tinymin import cli, overrides
from tinymin.exercises import milestone
from tinymin.exercises.milestone import MilestoneSettings, compare, first_batch, run_milestone
from tinymin.exercises.swap import find_files, load_pieces
from tinymin.tensor import Tensor

OWN = Path(__file__).parent / "own_pieces"
TINY = MilestoneSettings(train_images=64, test_images=50, batch_size=32, progress=False)


def test_the_milestone_on_tinymins_own_pieces_matches_tinymin_bit_for_bit(monkeypatch, capsys):
    monkeypatch.setattr(milestone, "QUICK", {"train_images": 64, "test_images": 50, "batch_size": 32})
    assert cli.main(["milestone", "--mine", str(OWN), "--quick", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nmine: ") + out.startswith("mine: ") == 10  # one line per piece
    assert "test accuracy on 50 of the 10,000 official MNIST test images" in out
    own = next(line for line in out.splitlines() if line.startswith("  tinymin's own pieces")).split()[3]
    yours = next(line for line in out.splitlines() if line.startswith("  your pieces")).split()[2]
    assert own == yours
    assert "identical: your pieces compute the very same numbers as tinymin's" in out
    assert "DIFFERS" not in out and "RAISED" not in out
    assert overrides.active() == {}


def test_a_wrong_piece_is_named_as_the_first_to_diverge(tmp_path):
    for name in ("im2col", "min_gemm", "sum_to", "clip_and_rescale"):
        shutil.copy(OWN / f"{name}.py", tmp_path)
    # a classic im2col mistake: kernel rows and columns swapped inside each patch
    (tmp_path / "im2col.py").write_text(
        "import numpy as np\n\nfrom tinymin import _ext\n\n\n"
        "def im2col(x, kernel_size, stride=1, padding=0):\n"
        "    cols = _ext.im2col(np.ascontiguousarray(x), kernel_size, stride, padding)\n"
        "    k = kernel_size\n"
        "    return cols.reshape(len(cols), -1, k, k).transpose(0, 1, 3, 2).reshape(len(cols), -1)\n")
    pieces = load_pieces(find_files(tmp_path))
    train_set, _ = milestone._data(TINY)
    verdicts = {v.name: v for v in first_batch(pieces, train_set, TINY)}
    assert verdicts["im2col"].status == "differs" and "largest difference" in verdicts["im2col"].detail
    # judged on tinymin's columns, the min-GEMM and the steps after it still agree
    assert verdicts["min_gemm"].status == "identical" and verdicts["step7_through_clip"].ok
    report = milestone.MilestoneReport(TINY, [p.spec.function for p in pieces], list(verdicts.values()), 50)
    assert report.first_divergence.name == "im2col" and not report.passed
    assert any(line.startswith("im2col diverged first:") and "exercise check im2col" in line
               for line in report.lines())
    assert overrides.active() == {} and all(p.observer is None for p in pieces)


def test_a_piece_that_raises_stops_the_milestone_before_training(tmp_path):
    shutil.copy(OWN / "sum_to.py", tmp_path)
    (tmp_path / "my_min_gemm.py").write_text("def min_gemm(cols, w_hat):\n    return cols[10**9]\n")
    lines = []
    report = run_milestone(find_files(tmp_path), TINY, log=lines.append)
    assert report.own is None and report.yours is None and not report.passed
    assert report.first_divergence.name == "min_gemm" and report.first_divergence.status == "raised"
    assert "IndexError" in report.first_divergence.detail
    assert report.notes == ["Training was not started: a piece of yours raised on the first batch."]
    assert lines[0].startswith("mine: min_gemm") and lines[1].startswith("mine: sum_to")


def test_the_milestone_refuses_an_empty_folder_and_pieces_training_never_calls(tmp_path):
    with pytest.raises(ValueError, match="no exercise files of yours"):
        run_milestone({}, TINY)
    (tmp_path / "selector_gemms.py").write_text("def max_gemm(cols, w):\n    return 0\n\n\n"
                                                "def adder_gemm(cols, w):\n    return 0\n")
    with pytest.raises(ValueError, match="none of your files holds a piece that training calls"):
        run_milestone(find_files(tmp_path), TINY)


@pytest.mark.parametrize("got, expected, status", [
    (np.arange(4.0), np.arange(4.0), "identical"),
    ((np.ones(3, np.float32), None), (np.ones(3, np.float32), None), "identical"),
    (np.float32([1, 2.000001]), np.float32([1, 2]), "rounding"),
    (np.float32([1, 2.5]), np.float32([1, 2]), "differs"),
    (np.ones((2, 3)), np.ones((3, 2)), "differs"),
    (np.ones(2), (np.ones(2), None), "differs"),
    (np.array([True, False]), np.array([True, True]), "differs"),
    (Tensor(np.ones(2)), Tensor(np.ones(2)), "identical"),
    ({"loss": 1.0}, {"loss": 1.0}, "identical"),
])
def test_compare_tells_identical_rounding_and_different_answers(got, expected, status):
    assert compare(got, expected)[0] == status


def test_the_reference_solutions_agree_with_tinymin_on_the_first_batch():
    solutions = Path(__file__).parent / "solutions"
    pieces = [p for p in load_pieces(find_files(solutions)) if p.spec.in_training]
    assert len(pieces) == 10
    train_set, _ = milestone._data(TINY)
    verdicts = {v.name: v for v in first_batch(pieces, train_set, TINY)}
    assert all(v.ok for v in verdicts.values()), [v.line() for v in verdicts.values() if not v.ok]
    # a numpy min-GEMM sums in another order than the Cython kernel: equal up to rounding
    assert verdicts["im2col"].status == "identical" and verdicts["min_gemm"].status in ("identical",
                                                                                        "rounding")


def test_a_correct_piece_that_rounds_otherwise_is_measured_against_rounding_alone(tmp_path):
    # the reference Adam: the same maths as tinymin's fused kernel, in another order
    shutil.copy(Path(__file__).parent / "solutions" / "adam.py", tmp_path / "my_adam.py")
    report = run_milestone(find_files(tmp_path), TINY, log=None)
    assert report.passed and not report.identical and report.control is not None
    assert verdict_status(report, "adam_step") in ("identical", "rounding")
    lines = report.result_lines()
    assert any(line.startswith("  tinymin's, last bit") for line in lines)
    assert any(line.startswith("Your pieces match tinymin's") for line in lines), lines


def verdict_status(report, name):
    return next(v.status for v in report.verdicts if v.name == name)


def _run(accuracy, predictions):
    return milestone.RunResult(accuracy, 0.1, np.asarray(predictions), {"w": np.zeros(1)}, 1.0)


def _verdict_line(changed, gap, moved, rounding, mine):
    """The verdict line for 1,000 test images: ``changed`` of your predictions differ from
    tinymin's and your accuracy is ``gap`` points off; the control's ``moved`` and
    ``rounding``."""
    own = _run(0.9, np.zeros(1000, dtype=np.int64))
    yours = _run(0.9 - gap / 100, np.where(np.arange(1000) < changed, 1, 0))
    control = _run(0.9 - rounding / 100, np.where(np.arange(1000) >= 1000 - moved, 1, 0))
    report = milestone.MilestoneReport(TINY, mine, [], 1000, own=own, yours=yours, control=control)
    return report._against_rounding()[-1]


def test_a_few_dozen_flips_like_rounding_alone_are_a_match_whatever_the_net_gap():
    # a correct numpy min_gemm: 31 predictions and 0.3 points moved, where the last-bit
    # control moved 34 predictions but only 0.1 points (its flips happened to cancel)
    assert _verdict_line(31, 0.3, 34, 0.1, ["min_gemm"]).startswith("Your pieces match tinymin's")
    assert _verdict_line(50, 0.5, 10, 0.1, ["min_gemm"]).startswith("Your pieces match tinymin's")


def test_a_run_that_flips_far_more_than_rounding_is_not_a_match_even_near_the_accuracy():
    # 500 flips against the control's 34, though only 0.2 points off in the end
    assert _verdict_line(500, 0.2, 34, 0.0, ["min_gemm"]).startswith("Your run ends 500 predictions")


def test_many_more_flips_than_rounding_name_only_the_pieces_the_learner_wrote():
    line = _verdict_line(400, 15.0, 20, 0.1, ["min_gemm"])
    assert line.startswith("Your run ends 400 predictions and 15.00 points") and "train_epoch" not in line
    assert "your train_epoch" in _verdict_line(400, 15.0, 20, 0.1, ["min_gemm", "train_epoch"])
