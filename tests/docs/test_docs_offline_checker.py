"""tools/check_docs_offline.py fails where it should: on a page that loads something from
outside the site, and on maths that MathJax never rendered. (CI runs it on the real
built docs, where it must pass; these tests show that it can fail.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _checker():
    spec = importlib.util.spec_from_file_location("check_docs_offline",
                                                  ROOT / "tools" / "check_docs_offline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGE = """<!doctype html><html><head><title>t</title>
<link rel="stylesheet" href="https://cdn.example.org/theme.css">
<link rel="canonical" href="https://example.org/page.html">
<script src="local.js"></script>
</head><body>
<p>Inline <span class="math notranslate nohighlight">\\(\\mu_x\\)</span> maths.</p>
<p><a href="https://example.org/elsewhere">a link a reader may follow</a></p>
<pre>code may show \\( as it is</pre>
<img src="//images.example.org/a.png">
</body></html>
"""


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<html><body>index</body></html>")
    (tmp_path / "page.html").write_text(PAGE)
    (tmp_path / "local.js").write_text("// nothing\n")
    return tmp_path


def test_the_static_scan_flags_what_a_page_loads_from_outside(site: Path):
    problems = _checker().static_scan(site)
    assert sorted(problems) == ["page.html: loads //images.example.org/a.png",
                                "page.html: loads https://cdn.example.org/theme.css"]


def test_without_a_browser_the_check_says_it_skipped(site: Path, monkeypatch, capsys):
    checker = _checker()
    monkeypatch.setattr(checker, "find_browser", lambda: None)
    (site / "page.html").write_text("<html><body>no maths</body></html>")
    assert checker.main([str(site)]) == 0
    assert "SKIPPED" in capsys.readouterr().out
    assert checker.main([str(site), "--require-browser"]) == 1


def test_in_a_browser_raw_tex_and_outside_requests_fail(site: Path, capsys):
    checker = _checker()
    if checker.find_browser() is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    assert checker.main([str(site), "--page", "page.html"]) == 1
    out = capsys.readouterr().out
    assert "equation left unrendered: '\\\\(\\\\mu_x\\\\)'" in out
    assert "raw TeX delimiters in the page text" in out
    assert "request outside the site (blocked): https://cdn.example.org/theme.css" in out
    assert "request outside the site (blocked): http://images.example.org/a.png" in out
    assert "code may show" not in out  # text in <pre> is not maths
