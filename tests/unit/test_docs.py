"""The reference pages in docs/ are rendered from the plug-in registries: the committed ones must be current, and
what a plug-in declares must show up in them."""

from __future__ import annotations

import pytest

from codecbench.config.validate import load_schema
from codecbench.metrics import register_metric, unregister_metric
from codecbench.report import docs


def _row(page: str, key: str) -> str:
    """The table row of ``key`` (its first cell) in a rendered page."""
    rows = [line for line in page.splitlines() if line.startswith(f"| `{key}` |")]
    assert len(rows) == 1, f"expected one row for {key!r}, found {rows}"
    return rows[0]


@pytest.mark.parametrize("name", list(docs.PAGES))
def test_committed_page_equals_a_fresh_render(name):
    committed = docs.DOCS_DIR / name
    fresh = docs.render_pages()[name]
    assert committed.is_file(), f"docs/{name} is missing: run `make docs` and commit it"
    assert committed.read_text(encoding="utf-8") == fresh, (
        f"docs/{name} differs from what the registries give: run `make docs` and commit it"
    )


def test_every_page_says_it_is_generated_and_how():
    for name, text in docs.render_pages().items():
        assert "Generated from" in text.splitlines()[2] and "`make docs`" in text.splitlines()[2], name


def test_a_registered_metric_appears_with_its_label_and_minimum_side():
    register_metric("toy_sharpness", label="toy sharpness (furlongs)", higher_is_better=False, min_side=17)(
        lambda reference, decoded: 0.0
    )
    try:
        page = docs.render_metrics(load_schema())
    finally:
        unregister_metric("toy_sharpness")
    row = _row(page, "toy_sharpness")
    assert row == "| `toy_sharpness` | toy sharpness (furlongs) | lower | 17 px | per image | (none) | yes |"
    assert "toy_sharpness" not in docs.render_metrics(load_schema())  # gone with the metric


def test_codec_options_shared_through_refs_show_the_shared_definition():
    page = docs.render_codecs(load_schema())
    # h264's pix_fmt is schema_ref("pix_fmt"): type, default and description come from the schema's $defs.
    h264 = page.split("## `h264`")[1].split("## ")[0]
    assert _row(h264, "pix_fmt") == (
        "| `pix_fmt` | one of `yuv420p`, `yuv422p`, `yuv444p` | `yuv420p` | chroma format of the coded frame |"
    )
    # The learned codecs' shared option set, amended by the class (pretrained defaults to true).
    hyperprior = page.split("## `bmshj2018-hyperprior`")[1].split("## ")[0]
    assert _row(hyperprior, "pretrained").startswith("| `pretrained` | boolean | `true` | CompressAI zoo weights")


def test_check_names_the_stale_page(tmp_path, capsys):
    assert docs.main(["--out", str(tmp_path)]) == 0
    assert docs.main(["--check", "--out", str(tmp_path)]) == 0
    page = tmp_path / "tasks.md"
    page.write_text(page.read_text(encoding="utf-8").replace("Cohen's kappa", "kappa"), encoding="utf-8")
    capsys.readouterr()
    assert docs.main(["--check", "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "tasks.md is stale" in error and "make docs" in error
    assert "metrics.md" not in error
