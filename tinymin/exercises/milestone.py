"""The capstone: train the MinConv LeNet on your own pieces, against tinymin's own.

``python -m tinymin milestone --mine DIR`` (or :func:`run_milestone`) takes the
learner's exercise files, swaps every piece that training calls (the backward of
broadcasting and of the matrix product, im2col, the min-selector GEMM, the clip and
rescale steps, Adam, the collate and the epoch loop: whichever files are there), and:

1. **first batch, piece by piece**: one training step on the learner's pieces, in
   which every call of a learner's function is compared with tinymin's own on the
   same input. Where the learner's answer differs, tinymin's goes on, so every piece
   is judged on true inputs, and the report names the piece that diverged first;
2. **two runs, one seed**: the MinConv LeNet trained on the embedded 5,000 MNIST
   digits, once on tinymin's own pieces and once on the learner's, with the same
   initial weights, batch order and dropout masks, then evaluated on the official
   10,000 MNIST test images;
3. **side by side**: both accuracies, and whether the runs are identical bit for bit
   (the learner's code computes the very same numbers). If not, a third run, tinymin's
   own with every initial weight one last bit up, shows how far rounding alone moves
   the result: a min-conv network trains through the choice of a minimum, which a
   last-bit difference can flip, so correct pieces that add in another order (a numpy
   ``min_gemm`` against the Cython kernel) end a few percent of the predictions apart.
   The learner's run is judged against that distance.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tinymin
from tinymin import optim, overrides
from tinymin.autograd import no_grad
from tinymin.data import DataLoader, random_subset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.exercises.pieces import PIECES, LearnerCodeError
from tinymin.exercises.swap import Piece, Source, Swap, load_pieces
from tinymin.models import lenet
from tinymin.tensor import Tensor
from tinymin.train import fit, train_step

Log = Callable[[str], None]

#: Test images per forward pass (a learner's numpy min_gemm is called on blocks anyway).
TEST_BATCH = 250


@dataclass(frozen=True)
class MilestoneSettings:
    """How the two runs train: the same for tinymin's pieces and the learner's.

    The optimizer is that of the ``minconv-scratch`` recipe
    (:data:`tinymin.experiment.RECIPES`): Adam at ``lr`` 3e-3 along a cosine schedule
    over the epochs. A min-conv LeNet from scratch needs about 20 steps before its
    loss moves at all (docs/guides/results.rst, "The from-scratch recipe").
    """

    epochs: int = 1
    train_images: int | None = None  # None: all 5,000 embedded training digits
    test_images: int | None = None  # None: all 10,000 official test images
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    progress: bool = True


#: ``--quick``: 2,000 training digits (32 steps, past the slow start) and 1,000 test
#: images, for a first try; the full run's accuracy is the one to compare.
QUICK = {"train_images": 2000, "test_images": 1000}


@dataclass
class PieceVerdict:
    """How one learner's function compared with tinymin's on the first batch."""

    name: str
    calls: int = 0
    status: str = "not called"  # identical | rounding | differs | raised | not called | loop
    detail: str = ""
    first_bad_call: int | None = None  # the step's call number where it first went wrong

    @property
    def ok(self) -> bool:
        return self.status in ("identical", "rounding", "not called", "loop")

    def line(self) -> str:
        texts = {"identical": "identical to tinymin's", "rounding": "equal to tinymin's up to rounding",
                 "differs": "DIFFERS from tinymin's", "raised": "RAISED",
                 "not called": "not called by this training", "loop": "the training loop itself: "
                 "judged by the accuracy below"}
        calls = f"{self.calls} call{'s' if self.calls != 1 else ''}" if self.calls else ""
        text = texts[self.status] + (f" ({self.detail})" if self.detail else "")
        return f"  {self.name:<19} {calls:<10} {text}"


@dataclass
class RunResult:
    """One training run: test accuracy, predictions and final weights."""

    accuracy: float
    train_loss: float
    predictions: np.ndarray
    weights: dict[str, np.ndarray]
    seconds: float


@dataclass
class MilestoneReport:
    """Everything :func:`run_milestone` found; :meth:`lines` says it in words."""

    settings: MilestoneSettings
    mine: list[str]
    verdicts: list[PieceVerdict]
    test_images: int
    own: RunResult | None = None
    yours: RunResult | None = None
    control: RunResult | None = None  # tinymin's own, initial weights one last bit up
    notes: list[str] = field(default_factory=list)

    @property
    def first_divergence(self) -> PieceVerdict | None:
        bad = [v for v in self.verdicts if not v.ok]
        return min(bad, key=lambda v: v.first_bad_call or 0) if bad else None

    @property
    def identical(self) -> bool:
        return (self.own is not None and self.yours is not None
                and np.array_equal(self.own.predictions, self.yours.predictions)
                and all(np.array_equal(w, self.yours.weights[k]) for k, w in self.own.weights.items()))

    @property
    def passed(self) -> bool:
        """Every piece agreed on the first batch and both runs finished."""
        return self.first_divergence is None and self.yours is not None

    def lines(self) -> list[str]:
        """The whole report: :meth:`batch_lines`, then :meth:`result_lines`."""
        return self.batch_lines() + self.result_lines()

    def batch_lines(self) -> list[str]:
        """The first batch, piece by piece, and which piece diverged first."""
        out = ["first batch, piece by piece (your answer against tinymin's on the same input):"]
        out += [v.line() for v in self.verdicts]
        bad = self.first_divergence
        if bad is not None:
            out.append(f"{bad.name} diverged first: {bad.detail}. Check it with "
                       f"`python -m tinymin exercise check {PIECES[bad.name].exercise}`.")
        return out

    def result_lines(self) -> list[str]:
        """The two runs side by side (once both have run), and the notes."""
        out = self._side_by_side() if self.own is not None and self.yours is not None else []
        return out + self.notes

    def _side_by_side(self) -> list[str]:
        images = (f"the official {self.test_images:,} MNIST test images" if self.test_images == 10_000
                  else f"{self.test_images:,} of the 10,000 official MNIST test images")
        own, yours = self.own, self.yours
        out = [f"MinConv LeNet, {self.settings.epochs} epoch(s), seed {self.settings.seed}; "
               f"test accuracy on {images}:",
               f"  tinymin's own pieces  {own.accuracy:7.2%}   (train loss {own.train_loss:.4f}, "
               f"{own.seconds:.0f} s)",
               f"  your pieces           {yours.accuracy:7.2%}   (train loss {yours.train_loss:.4f}, "
               f"{yours.seconds:.0f} s)",
               f"  (yours: {', '.join(self.mine)})"]
        if self.identical:
            out.append("identical: your pieces compute the very same numbers as tinymin's, so the two "
                       "runs agree bit for bit (every weight, every test prediction).")
            return out
        changed = int((own.predictions != yours.predictions).sum())
        spread = max(float(np.max(np.abs(w - yours.weights[k]), initial=0.0))
                     for k, w in own.weights.items())
        out.append(f"not bit for bit: {changed} of {len(own.predictions):,} test predictions differ "
                   f"and the weights differ by up to {spread:.2g}.")
        if self.control is not None:
            out += self._against_rounding()
        return out

    def _against_rounding(self) -> list[str]:
        """Your distance from tinymin's run, against the distance rounding alone makes.

        A match needs both: about as many flipped predictions as the last-bit control
        flipped (at most 4 times as many, plus 20), and a net accuracy gap those flips
        explain. A flip moves the accuracy by one test image, up or down, so ``f``
        flips move it by about :math:`\\sqrt{f}/N` either way; one control run's own
        net gap is too noisy to judge by alone."""
        own, yours, control = self.own, self.yours, self.control
        n = len(own.predictions)
        rounding = abs(control.accuracy - own.accuracy)
        yours_gap = abs(yours.accuracy - own.accuracy)
        moved = int((control.predictions != own.predictions).sum())
        changed = int((yours.predictions != own.predictions).sum())
        spread = 3 * np.sqrt(changed) / n  # three standard deviations of that many flips
        out = [f"  tinymin's, last bit   {control.accuracy:7.2%}   (tinymin's own pieces, every initial "
               f"weight one last bit up: {moved} predictions move, {100 * rounding:.2f} points)"]
        if self.first_divergence is not None:
            return out
        # both: about as many flips as rounding makes, and no more net gap than they explain
        if changed <= 4 * moved + 20 and yours_gap <= max(2 * rounding, spread, 2 / n):
            out.append(f"Your pieces match tinymin's: each agreed with tinymin's on the first batch (up "
                       f"to rounding), and your run ends {changed} predictions and "
                       f"{100 * yours_gap:.2f} points from tinymin's, no further than rounding alone "
                       "moves a run. A min-conv network trains through the choice of a minimum, which "
                       "a last-bit difference can flip, so two correct runs drift a few predictions "
                       "apart; only the very same numbers give the same run.")
        else:
            unchecked = ", ".join((["your train_epoch"] if "train_epoch" in self.mine else [])
                                  + ["the loop itself", "a piece that goes wrong only on later batches"])
            out.append(f"Your run ends {changed} predictions and {100 * yours_gap:.2f} points from "
                       f"tinymin's, further than rounding alone moves it ({moved} predictions, "
                       f"{100 * rounding:.2f} points, and a spread of about {100 * spread:.2f} points "
                       "for that many flips). Every piece agreed on the first batch: look at what "
                       f"that step does not compare ({unchecked}).")
        return out


# ------------------------------------------------------------------- the comparison
class FirstBatchComparison:
    """Observer of every learner's piece during one training step (see :class:`Piece`)."""

    def __init__(self) -> None:
        self.verdicts: dict[str, PieceVerdict] = {}
        self.calls = 0

    def observe(self, piece: Piece, args: tuple, kwargs: dict) -> Any:
        """The learner's answer where it agrees with tinymin's, tinymin's otherwise."""
        self.calls += 1
        verdict = self.verdicts.setdefault(piece.spec.dispatch, PieceVerdict(piece.spec.dispatch))
        verdict.calls += 1
        saved_args, saved_kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        with overrides.suspended():
            expected = piece.spec.reference(*saved_args, **saved_kwargs)
        try:
            got = piece.call_learner(*args, **kwargs)
        except LearnerCodeError as err:
            self._mark(verdict, "raised", str(err).splitlines()[0][:200])
            return expected
        status, detail = compare(got, expected)
        if status == "differs":
            self._mark(verdict, "differs", f"call {verdict.calls}: {detail}")
            return expected
        if verdict.status in ("not called", "identical"):
            verdict.status, verdict.detail = status, detail
        return got

    def _mark(self, verdict: PieceVerdict, status: str, detail: str) -> None:
        if verdict.first_bad_call is None:
            verdict.status, verdict.detail, verdict.first_bad_call = status, detail, self.calls


def compare(got: Any, expected: Any) -> tuple[str, str]:
    """``("identical" | "rounding" | "differs", detail)`` for two answers of any shape
    (arrays, numbers, Tensors, None, tuples, lists and dicts of them)."""
    got_leaves, expected_leaves = _leaves(got), _leaves(expected)
    if [k for k, _ in got_leaves] != [k for k, _ in expected_leaves]:
        return "differs", f"returns {_kind(got)}, tinymin's returns {_kind(expected)}"
    worst, status = 0.0, "identical"
    for (where, a), (_, b) in zip(got_leaves, expected_leaves):
        if b is None or a is None:
            if (a is None) != (b is None):
                return "differs", f"{where or 'the answer'} is {_kind(a)}, tinymin's is {_kind(b)}"
            continue
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return "differs", f"{where or 'the answer'} has shape {a.shape}, tinymin's {b.shape}"
        if np.array_equal(a, b, equal_nan=b.dtype.kind == "f"):
            continue
        if b.dtype.kind == "b" or not np.issubdtype(a.dtype, np.number):
            return "differs", f"{where or 'the answer'}: {int(np.sum(a != b))} entries differ"
        rtol = 1e-4 if b.dtype == np.float32 else 1e-7
        scale = float(np.max(np.abs(b), initial=0.0))
        gap = np.abs(a.astype(np.float64) - b)
        if not np.all(gap <= rtol * (np.abs(b) + scale)):
            at = np.unravel_index(int(np.argmax(gap)), gap.shape) if gap.ndim else ()
            return "differs", (f"{where + ': ' if where else ''}largest difference {float(np.max(gap)):.3g}"
                               f" at {tuple(int(i) for i in at)} of shape {b.shape}")
        status, worst = "rounding", max(worst, float(np.max(gap)) / max(scale, 1e-30))
    return status, (f"largest difference {worst:.1g} of the largest value" if status == "rounding" else "")


def _leaves(value: Any, where: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Tensor):
        return [(where, value.numpy())]
    if isinstance(value, (tuple, list)):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [leaf for k in sorted(value, key=str) for leaf in _leaves(value[k], f"{where}[{k!r}]")]
    return [(where, value)]


def _kind(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return "None" if value is None else f"a {type(value).__name__}"


# ---------------------------------------------------------------------- the runs
def run_milestone(mine: Mapping[str, Source], settings: MilestoneSettings = MilestoneSettings(),
                  log: Log | None = print) -> MilestoneReport:
    """The capstone (see the module docstring): load, compare on one batch, train twice.

    Raises :class:`~tinymin.exercises.swap.LoadError` (before anything runs) for a
    learner's file that cannot be swapped in.
    """
    if not mine:
        raise ValueError("milestone: no exercise files of yours (my_<exercise>.py or <exercise>.py "
                         "for " + ", ".join(dict.fromkeys(s.exercise for s in PIECES.values()
                                                          if s.in_training)) + ")")
    loaded = load_pieces(mine)
    pieces = [piece for piece in loaded if piece.spec.in_training]
    if not pieces:
        raise ValueError("milestone: none of your files holds a piece that training calls "
                         f"({', '.join(s.exercise for s in PIECES.values() if s.in_training)})")
    say = log or (lambda line: None)
    for piece in pieces:
        say(piece.announcement())
    unused = [piece.spec.dispatch for piece in loaded if not piece.spec.in_training]
    if unused:
        say(f"not called by this training (left out): {', '.join(unused)}")
    own_names = [s.dispatch for s in PIECES.values()
                 if s.in_training and s.dispatch not in {p.spec.dispatch for p in pieces}]
    if own_names:
        say(f"tinymin's own: {', '.join(own_names)}")
    train_set, test_set = _data(settings)
    report = MilestoneReport(settings, [p.spec.dispatch for p in pieces],
                             first_batch(pieces, train_set, settings), len(test_set))
    for line in report.batch_lines():
        say(line)
    if any(v.status == "raised" for v in report.verdicts):
        report.notes.append("Training was not started: a piece of yours raised on the first batch.")
        return report
    say(f"training on tinymin's own pieces ({len(train_set):,} images, {settings.epochs} epoch(s)) ...")
    report.own = train_and_test(train_set, test_set, settings)
    say("training on your pieces, the same seed ...")
    with Swap(pieces, announce=False):
        report.yours = train_and_test(train_set, test_set, settings)
    if not report.identical:
        say("training on tinymin's own pieces again, every initial weight one last bit up (what "
            "rounding alone does) ...")
        report.control = train_and_test(train_set, test_set, settings, nudge=True)
    return report


def _data(settings: MilestoneSettings):
    train = random_subset(EmbeddedMNIST(train=True), settings.train_images, settings.seed)
    test = random_subset(EmbeddedMNIST(train=False), settings.test_images, settings.seed + 1)
    return train, test


def _start(train_set, settings: MilestoneSettings):
    """Seeded model, optimizer and loader: the same for every run."""
    tinymin.manual_seed(settings.seed)
    model = lenet(conv="min")
    optimizer = optim.Adam(model.parameters(), lr=settings.lr)
    loader = DataLoader(train_set, settings.batch_size, shuffle=True, seed=settings.seed)
    return model, optimizer, loader


def first_batch(pieces: list[Piece], train_set, settings: MilestoneSettings) -> list[PieceVerdict]:
    """One training step on the learner's pieces, each call compared with tinymin's."""
    comparison = FirstBatchComparison()
    for piece in pieces:
        piece.observer = comparison.observe
    try:
        with Swap(pieces, announce=False):
            model, optimizer, loader = _start(train_set, settings)
            x, y = next(iter(loader))
            train_step(model, optimizer, x, y)
    finally:
        for piece in pieces:
            piece.observer = None
    verdicts = []
    for piece in pieces:
        name = piece.spec.dispatch
        if name == "train_epoch":
            verdicts.append(PieceVerdict(name, status="loop"))
        else:
            verdicts.append(comparison.verdicts.get(name, PieceVerdict(name)))
    return verdicts


def train_and_test(train_set, test_set, settings: MilestoneSettings, nudge: bool = False) -> RunResult:
    """Train the seeded MinConv LeNet, then predict every test image (``nudge``: every
    initial weight first moved to the next float up, a difference of rounding size)."""
    model, optimizer, loader = _start(train_set, settings)
    if nudge:
        for parameter in model.parameters():
            parameter.numpy()[...] = np.nextafter(parameter.numpy(), np.inf)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=settings.epochs)
    start = time.perf_counter()
    history = fit(model, optimizer, loader, settings.epochs, scheduler=scheduler,
                  progress=settings.progress, log=None)
    predictions, labels = [], []
    model.eval()
    with no_grad():
        for x, y in DataLoader(test_set, TEST_BATCH):
            predictions.append(model(x).numpy().argmax(axis=1))
            labels.append(y.numpy())
    predicted, truth = np.concatenate(predictions), np.concatenate(labels)
    return RunResult(accuracy=float(np.mean(predicted == truth)), train_loss=history[-1]["train_loss"],
                     predictions=predicted, weights={k: v.copy() for k, v in model.state_dict().items()},
                     seconds=time.perf_counter() - start)


# ------------------------------------------------------------------ command line
def add_arguments(parser) -> None:
    """The options of ``python -m tinymin milestone``."""
    parser.add_argument("--mine", default=".", metavar="DIR", help="folder holding your exercise files "
                        "(my_<exercise>.py, as `exercise start` writes them, or <exercise>.py)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of each run")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['train_images']:,} training and {QUICK['test_images']:,} test "
                        "images instead of all 5,000 and 10,000: a first try")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_command(args) -> int:
    """``python -m tinymin milestone``: 0 when every piece agreed with tinymin's, 1 when
    one diverged or raised (a file that cannot be loaded: a ValueError, status 2)."""
    import sys

    from tinymin.exercises.swap import find_files

    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    files = find_files(args.mine)
    settings = MilestoneSettings(epochs=args.epochs, seed=args.seed, progress=not args.no_progress,
                                 **(QUICK if args.quick else {}))
    try:
        report = run_milestone(files, settings)
    except LearnerCodeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for line in report.result_lines():
        print(line)
    return 0 if report.passed else 1
