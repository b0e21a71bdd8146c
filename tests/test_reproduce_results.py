"""benchmarks/reproduce_results.py: the quick smoke run writes a table and a figure."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "reproduce_results", REPO / "benchmarks" / "reproduce_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    script = _load_script()
    runs = tmp_path_factory.mktemp("runs")
    assert script.main(["--quick", "--jobs", "2", "--runs", str(runs)]) == 0
    return script, runs


def test_quick_run_writes_every_row_with_two_seeds(quick_run):
    script, runs = quick_run
    table = (runs / "results_table.inc").read_text()
    mnist_rows = [r for r in script.all_rows() if r.data == "mnist-embedded"]
    for row in mnist_rows:
        assert f"mnist-embedded: {row.label}" in table
    assert table.count("(n = 2)") == len(mnist_rows)
    assert "python -m tinymin convert --checkpoint EXACT_RUN/checkpoint.npz" in table
    assert "not run" not in table
    assert (runs / "results_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finished_runs_are_reused_and_the_table_rebuilt(quick_run, capsys):
    script, runs = quick_run
    record = runs / "mnist-exact" / "seed0" / "run.json"
    before = record.stat().st_mtime_ns
    assert script.main(["--quick", "--table-only", "--runs", str(runs)]) == 0
    assert script.main(["--quick", "--runs", str(runs)]) == 0  # nothing left to run
    assert record.stat().st_mtime_ns == before
    assert "mnist-exact" in capsys.readouterr().out


def test_missing_runs_are_reported_as_not_run(tmp_path):
    script = _load_script()
    assert script.main(["--quick", "--table-only", "--runs", str(tmp_path)]) == 0
    table = (tmp_path / "results_table.inc").read_text()
    mnist_rows = [r for r in script.all_rows() if r.data == "mnist-embedded"]
    assert table.count("not run") == len(mnist_rows)


def test_mean_std_uses_the_sample_standard_deviation():
    script = _load_script()
    assert script.mean_std([0.97, 0.98, 0.99]) == "98.00 +- 1.00"


def test_rows_selects_what_runs_and_unknown_rows_are_refused(quick_run):
    script, runs = quick_run
    exact = runs / "mnist-exact" / "seed0" / "run.json"
    converted = [runs / "mnist-convert" / f"seed{seed}" / "run.json" for seed in (0, 1)]
    transfer = runs / "mnist-transfer" / "seed0" / "run.json"
    before = exact.stat().st_mtime_ns
    for path in converted + [transfer]:
        path.unlink()
    assert script.main(["--quick", "--rows", "mnist-convert", "--runs", str(runs)]) == 0
    assert all(path.exists() for path in converted)  # run again, from the exact checkpoints
    assert not transfer.exists() and exact.stat().st_mtime_ns == before
    with pytest.raises(SystemExit):
        script.main(["--quick", "--rows", "no-such-row", "--runs", str(runs)])


def test_a_table_of_a_few_rows_goes_where_it_is_told(tmp_path):
    script = _load_script()
    table, figure = tmp_path / "few.inc", tmp_path / "few.png"
    assert script.main(["--quick", "--table-only", "--runs", str(tmp_path), "--table-rows",
                        "mnist-exact", "mnist-reconstruct", "--table", str(table),
                        "--figure", str(figure)]) == 0
    text = table.read_text()
    assert "mnist-embedded: exact LeNet" in text
    assert "reconstructed conversion" in text
    assert "from scratch" not in text and text.count("not run") == 2
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_reconstruction_errors_tables_every_reproduced_network(quick_run, tmp_path):
    _, runs = quick_run
    spec = importlib.util.spec_from_file_location(
        "reconstruction_errors", REPO / "benchmarks" / "reconstruction_errors.py")
    errors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(errors)
    table, figure = tmp_path / "errors.inc", tmp_path / "errors.png"
    assert errors.main(["--runs", str(runs), "--seeds", "2", "--images", "32",
                        "--out", str(figure), "--table", str(table)]) == 0
    rows = [line for line in table.read_text().splitlines() if line.startswith("   * - ") and
            "layer" in line and "min layer" not in line]
    # LeNet has 2 min layers, mini_cifar 6; Fashion-MNIST was not reproduced: no row
    assert [r.split(", layer")[0] for r in rows] == (["   * - LeNet, embedded MNIST"] * 2
                                                      + ["   * - mini_cifar, embedded MNIST"] * 6)
    values = re.findall(r"^     - (\d+\.\d{4})$", table.read_text(), flags=re.MULTILINE)
    assert len(values) == 8 * 3 and all(0 < float(v) < 10 for v in values)
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_an_unreadable_run_record_means_run_it_again_not_a_crash(quick_run, capsys):
    """run.json is written atomically now; one truncated by an older version, or edited
    by hand, is run again instead of stopping the script with a JSONDecodeError."""
    script, runs = quick_run
    row = next(r for r in script.all_rows() if r.data == "mnist-embedded")
    record = script.run_folder(runs, row, 0) / "run.json"
    assert script.finished(row, 0, runs, quick=True) is not None
    original = record.read_text()
    try:
        record.write_text(original[:20])
        assert script.finished(row, 0, runs, quick=True) is None
        assert "unreadable record" in capsys.readouterr().out
        record.write_text("[1, 2]")
        assert script.finished(row, 0, runs, quick=True) is None
    finally:  # the other tests share this run
        record.write_text(original)
