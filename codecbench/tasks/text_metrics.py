"""Text recognition metrics: character and word edit distances, CER, WER and exact match (rapidfuzz).

Definitions (``reference`` is the ground truth, ``hypothesis`` what the OCR engine read):

* character edits: the Levenshtein distance (insertions, deletions and substitutions, each costing 1) between
  the two strings, character by character, after :func:`normalise_text`;
* word edits: the same distance over whitespace-separated tokens (``str.split()``), each word a symbol;
* per sample ``cer = edits / chars`` and ``wer = words_edits / words``, where ``chars`` and ``words`` count the
  reference's characters and words. An empty reference has nothing to get wrong but everything read is an
  insertion: its error rate is 0 when nothing was read and otherwise the number of inserted characters (or words),
  i.e. the denominator is ``max(chars, 1)``; so a rate may exceed 1, as an ordinary CER does when the engine
  inserts more than the label holds;
* corpus rates (what a benchmark reports): total edits over total reference characters (words), so that long
  labels weigh more than short ones, the usual definition of CER/WER; again with the denominator at least 1;
* exact match: the normalised strings are equal.

Normalisation (:func:`normalise_text`) runs before everything: Unicode NFKC, then optionally case folding
(``ignore_case``) and removal of all whitespace (``ignore_spaces``); otherwise runs of whitespace shrink to one
space and the ends are stripped, so that spacing differences count at most one edit per gap. With spaces ignored
a string is a single word, and the WER is the exact-match error per image.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

_WHITESPACE = re.compile(r"\s+")


def normalise_text(text: Any, ignore_case: bool = False, ignore_spaces: bool = False) -> str:
    """``text`` (None or NaN count as "") NFKC-normalised, casefolded if ``ignore_case``, whitespace removed if
    ``ignore_spaces`` else collapsed to single spaces and stripped."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    if ignore_case:
        text = text.casefold()
    return _WHITESPACE.sub("", text) if ignore_spaces else _WHITESPACE.sub(" ", text).strip()


def char_edits(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between the two strings, character by character."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(reference, hypothesis))


def word_edits(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between the whitespace-separated word sequences (each word one symbol)."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(reference.split(), hypothesis.split()))


def error_rate(edits: float, length: float) -> float:
    """``edits / max(length, 1)``: see the module docstring for the empty reference."""
    return float(edits) / max(float(length), 1.0)


def text_scores(
    reference: Any, hypothesis: Any, ignore_case: bool = False, ignore_spaces: bool = False
) -> dict[str, Any]:
    """One sample's ``edits, chars, cer, words_edits, words, wer, exact`` after :func:`normalise_text`."""
    ref = normalise_text(reference, ignore_case, ignore_spaces)
    hyp = normalise_text(hypothesis, ignore_case, ignore_spaces)
    edits, chars = char_edits(ref, hyp), len(ref)
    w_edits, words = word_edits(ref, hyp), len(ref.split())
    return {
        "edits": edits,
        "chars": chars,
        "cer": error_rate(edits, chars),
        "words_edits": w_edits,
        "words": words,
        "wer": error_rate(w_edits, words),
        "exact": ref == hyp,
    }


def corpus_scores(
    references: Sequence[Any], hypotheses: Sequence[Any], ignore_case: bool = False, ignore_spaces: bool = False
) -> dict[str, Any]:
    """Corpus ``cer``, ``wer`` (total edits / total reference length), ``exact_match`` and ``n`` over pairs."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if len(references) == 0:
        raise ValueError("no samples to score")
    rows = [text_scores(r, h, ignore_case, ignore_spaces) for r, h in zip(references, hypotheses, strict=True)]
    total = {key: sum(row[key] for row in rows) for key in ("edits", "chars", "words_edits", "words", "exact")}
    return {
        "cer": error_rate(total["edits"], total["chars"]),
        "wer": error_rate(total["words_edits"], total["words"]),
        "exact_match": total["exact"] / len(rows),
        "n": len(rows),
    }


def weighted_rates(edits: np.ndarray, lengths: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Corpus error rate under each row of ``weights`` (replicates x samples): weighted edits over weighted
    reference lengths, the denominator at least 1 (the bootstrap of :func:`corpus_scores`' rates)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    return (weights @ np.asarray(edits, dtype=float)) / np.maximum(weights @ np.asarray(lengths, dtype=float), 1.0)
