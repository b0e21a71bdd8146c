"""Numbers in the docs' prose that the code produces are checked against the code, so
they cannot go stale (the pdb sessions and trace records are doctests of the docs
build; these are the numbers in running text), and the pages have nothing that breaks
them in the theme."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from tinymin.cli import build_parser
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.experiment import RECIPES
from tinymin.minconv import DEFAULT_CLIP_VALUE, MinConv2d

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "docs" / "guides"
CHAPTER_7 = ROOT / "tutorials" / "07_minconv_algorithm1.py"


def _text(path: Path) -> str:
    return " ".join(path.read_text().split())  # one line: sentences wrap anywhere


def _layer_default(name: str):
    return inspect.signature(MinConv2d.__init__).parameters[name].default


def _section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start:start + 1500]


@pytest.fixture(scope="module")
def mnist_pixels() -> np.ndarray:
    images, _ = EmbeddedMNIST(train=True).arrays()
    return images


def test_no_page_uses_the_contents_directive():
    # Furo prints a red ERROR box where ``.. contents::`` is used; it has its own TOC.
    sources = [*ROOT.joinpath("docs").rglob("*.rst"), *ROOT.joinpath("tutorials").glob("*.py")]
    sources = [p for p in sources if "_build" not in p.parts and "auto_tutorials" not in p.parts]
    offenders = [str(p.relative_to(ROOT)) for p in sources if ".. contents::" in p.read_text()]
    assert sources and not offenders


def test_the_input_clip_example_of_the_maths_guide(mnist_pixels: np.ndarray):
    text = _text(GUIDES / "minconv_math.rst")
    match = re.search(r"mean :math:`\|x\| \\approx ([0-9.]+)`\), tinymin's default :math:`T = ([0-9.]+)` "
                      r"clips every pixel above about ([0-9.]+) in that gradient, about two thirds of "
                      r"the stroke", text)
    assert match, "the sentence on the input clip of MNIST pixels changed: update this test"
    mean, T, bound = (float(g) for g in match.groups())
    true_mean = float(np.abs(mnist_pixels).mean())
    assert T == DEFAULT_CLIP_VALUE
    assert mean == pytest.approx(true_mean, abs=0.005)
    assert bound == pytest.approx(DEFAULT_CLIP_VALUE * true_mean, abs=0.006)
    stroke = mnist_pixels[mnist_pixels > 0]
    assert (stroke > DEFAULT_CLIP_VALUE * true_mean).mean() == pytest.approx(2 / 3, abs=0.05)


def test_the_algorithm1_guide_types_no_clip_bound():
    # Its pdb session (a doctest) prints T and mu; the prose points at them.
    text = _text(GUIDES / "algorithm1.rst")
    assert not re.search(r"T = [0-9]", text)
    assert ".. testoutput:: pdb" in (GUIDES / "algorithm1.rst").read_text()


@pytest.mark.parametrize("guide", ["algorithm1.rst", "learning_path.rst"])
def test_every_pdb_session_in_the_guides_is_a_doctest(guide: str):
    lines = (GUIDES / guide).read_text().splitlines()
    in_testoutput = False
    for line in lines:
        if line.startswith(".. "):
            in_testoutput = line.startswith(".. testoutput::")
        elif line.strip() and not line.startswith(" "):
            in_testoutput = False
        if "(Pdb) " in line:
            assert in_testoutput, f"{guide}: a pdb session outside a testoutput block: {line!r}"


def test_the_recipe_paragraph_matches_the_code():
    text = _section(_text(GUIDES / "results.rst"), "The from-scratch recipe")
    recipe = RECIPES["minconv-scratch"]
    defaults = build_parser().parse_args(["train"])
    assert f"learning rate :math:`{round(recipe['lr'] * 1e3, 6):g} \\cdot 10^{{-3}}`" in text
    assert recipe["lr"] / defaults.lr == pytest.approx(3) and "three times tinymin's default" in text
    assert f"over {recipe['epochs']} epochs" in text
    assert f"clip bound :math:`T = {DEFAULT_CLIP_VALUE:g}`" in text
    assert f"running-scale momentum {_layer_default('momentum')}" in text
    assert f"batch {defaults.batch_size}" in text
    assert _layer_default("scale") == "layer" and "per-layer weight scale" in text


def test_chapter_7_states_the_layer_defaults_it_uses():
    text = CHAPTER_7.read_text()
    momentum = _layer_default("momentum")
    assert f"m = {momentum}" in text and f"momentum {momentum}" in text
    # Its numbers about the clip are printed by the chapter, not typed in the prose.
    prose = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert not re.search(r"T\s*\\*mu_x\s*\\*approx\s*[0-9]", prose)
    assert "of the pixels are clipped" in text


def test_the_results_prose_quotes_the_generated_table():
    # The tables results.rst includes are written by benchmarks/reproduce_results.py;
    # its prose may only quote their figures (historical values say "before: ...").
    prose = (GUIDES / "results.rst").read_text()
    prose = re.sub(r"\(before: [^)]*\)", "", prose)
    included = re.findall(r"^\.\. include:: (\S+\.inc)$", prose, flags=re.MULTILINE)
    assert "results_table.inc" in included and "results_reconstruct_table.inc" in included
    table = "".join((GUIDES / name).read_text() for name in included)
    quoted = re.findall(r"(\d+\.\d+) \+- (\d+\.\d+)", prose)
    measured = set(re.findall(r"(\d+\.\d+) \+- (\d+\.\d+)", table))
    assert quoted, "results.rst quotes no 'mean +- std' figure: update this test"
    assert [f"{m} +- {s}" for m, s in quoted if (m, s) not in measured] == []
    gap = re.search(r"scratch (\d+\.\d+) \+- [\d.]+% against the exact LeNet's (\d+\.\d+) \+- [\d.]+%, "
                    r"a gap of \*\*(\d+\.\d+) point\*\*", " ".join(prose.split()))
    assert gap, "the from-scratch gap sentence changed: update this test"
    min_acc, exact_acc, stated = (float(g) for g in gap.groups())
    assert stated == pytest.approx(exact_acc - min_acc, abs=0.005)


def test_the_conversion_gaps_are_the_differences_of_the_quoted_figures():
    prose = " ".join((GUIDES / "results.rst").read_text().split())
    gaps = re.findall(r"(\d+\.\d+) \+- [\d.]+% against exact (\d+\.\d+) \+- [\d.]+% "
                      r"\((-\d+\.\d+) point", prose)
    assert len(gaps) >= 6, "the reconstruction's gap sentences changed: update this test"
    for converted, exact, stated in gaps:
        # each mean is rounded to 0.01, so their difference may be 0.01 off the stated gap
        assert float(stated) == pytest.approx(float(converted) - float(exact), abs=0.0101)
