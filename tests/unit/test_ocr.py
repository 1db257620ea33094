"""OCR task and text metrics: hand-computed and independently computed edit distances, scoring, and both engines
reading rendered plate-like strings offline."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from codecbench.tasks import get_task_class, text_metrics
from codecbench.tasks.ocr import OCR, default_paddle_python, join_readings, order_lines

PLATES = ["ABC 1234", "KX 207", "MZ 9981", "RTW 56"]


def plate(text: str, size: int = 40, pad: int = 10) -> np.ndarray:
    """A plate-like crop: dark bold text (matplotlib's DejaVu Sans Bold) on a light field with a dark border."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"), size)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.text((pad - left, pad - top), text, font=font, fill=(10, 10, 10))
    draw.rectangle([1, 1, image.width - 2, image.height - 2], outline=(10, 10, 10), width=2)
    return np.asarray(image)


def scene(texts: list[str]) -> np.ndarray:
    """Plates stacked on a grey background, one per row, for detection."""
    crops = [plate(t) for t in texts]
    height = sum(c.shape[0] + 40 for c in crops) + 40
    canvas = np.full((height, max(c.shape[1] for c in crops) + 120, 3), 120, np.uint8)
    y = 40
    for crop in crops:
        canvas[y : y + crop.shape[0], 60 : 60 + crop.shape[1]] = crop
        y += crop.shape[0] + 40
    return canvas


def levenshtein(a, b) -> int:
    """Textbook dynamic programme, independent of rapidfuzz."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


# --- text metrics ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference, hypothesis, edits",
    [
        ("ABC1234", "A8C124", 2),  # a substitution (B->8) and a deletion (3)
        ("ABC1234", "ABC1234", 0),
        ("ABC", "", 3),
        ("", "AB", 2),
        ("kitten", "sitting", 3),
        ("AB", "BA", 2),  # a transposition is two edits in Levenshtein
    ],
)
def test_char_edits_hand_computed(reference, hypothesis, edits):
    assert text_metrics.char_edits(reference, hypothesis) == edits


def test_hand_computed_sample_scores():
    scores = text_metrics.text_scores("ABC1234", "A8C124")
    assert scores == {"edits": 2, "chars": 7, "cer": 2 / 7, "words_edits": 1, "words": 1, "wer": 1.0, "exact": False}
    words = text_metrics.text_scores("the quick brown fox", "the quack brown")
    assert (words["words_edits"], words["words"], words["wer"]) == (2, 4, 0.5)


def test_empty_reference_and_hypothesis():
    assert text_metrics.text_scores("", "")["cer"] == 0.0
    assert text_metrics.text_scores("", "")["exact"]
    inserted = text_metrics.text_scores("", "XYZ")
    assert (inserted["edits"], inserted["chars"], inserted["cer"]) == (3, 0, 3.0)  # one per inserted character
    assert text_metrics.text_scores("AB", "")["cer"] == 1.0
    assert text_metrics.text_scores("AB", "ABCDEF")["cer"] == 2.0  # insertions can push CER above 1


def test_normalisation():
    assert text_metrics.normalise_text("  ab \t  C1 ") == "ab C1"
    assert text_metrics.normalise_text("ab C1", ignore_spaces=True) == "abC1"
    assert text_metrics.normalise_text("Ab", ignore_case=True) == "ab"
    assert text_metrics.normalise_text("ＡＢ１") == "AB1"  # NFKC: full-width forms
    assert text_metrics.normalise_text(None) == "" and text_metrics.normalise_text(float("nan")) == ""
    assert text_metrics.text_scores("ABC 123", "ABC123", ignore_spaces=True)["exact"]
    assert text_metrics.text_scores("ABC 123", "ABC123")["edits"] == 1
    assert text_metrics.text_scores("abc", "ABC", ignore_case=True)["exact"]


def test_edit_distances_match_independent_dp():
    rng = random.Random(1)
    alphabet = "AB8 C"
    pairs = [("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))),) * 2 for _ in range(300)]
    pairs = [(a, "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))) for a, _ in pairs]
    for a, b in itertools.chain(pairs, [("", ""), ("A", "")]):
        assert text_metrics.char_edits(a, b) == levenshtein(a, b), (a, b)
        assert text_metrics.word_edits(a, b) == levenshtein(a.split(), b.split()), (a, b)


def test_corpus_scores_weigh_by_length():
    refs, hyps = ["ABC1234", "XY"], ["A8C124", ""]  # 2 + 2 edits over 7 + 2 characters
    scores = text_metrics.corpus_scores(refs, hyps)
    assert scores["cer"] == pytest.approx(4 / 9)
    assert scores["exact_match"] == 0.0 and scores["n"] == 2
    weighted = text_metrics.weighted_rates(np.array([2, 2]), np.array([7, 2]), np.array([[1, 1], [2, 0], [0, 0]]))
    np.testing.assert_allclose(weighted, [4 / 9, 4 / 14, 0.0])
    with pytest.raises(ValueError, match="no samples"):
        text_metrics.corpus_scores([], [])


# --- the task without an engine --------------------------------------------------------------------------------


def test_registered_with_settings_checked():
    task = get_task_class("ocr")()
    assert isinstance(task, OCR) and task.settings["engine"] == "rapidocr" and task.settings["ignore_spaces"]
    assert OCR.is_pretrained(task.settings)
    for settings, message in [
        ({"engine": "tesseract"}, "setting 'engine'"),
        ({"detect": "yes"}, "setting 'detect'"),
        ({"models": 3}, "setting 'models'"),
        ({"python": "/usr/bin/python3"}, "paddleocr engine only"),
        ({"language": "en"}, "unknown setting 'language'"),
    ]:
        with pytest.raises(ValueError, match=message):
            OCR(settings)


def test_train_refuses_and_load_wants_no_checkpoint(tmp_path):
    task = OCR()
    with pytest.raises(ValueError, match="pretrained"):
        task.train([plate("AB 1")], pd.DataFrame({"image_id": ["a"], "label": ["AB 1"]}), tmp_path)
    with pytest.raises(ValueError, match="take no checkpoint"):
        task.load(tmp_path / "checkpoint.pt")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        OCR({"models": str(tmp_path / "missing")}).load(None)
    with pytest.raises(RuntimeError, match="call load"):
        task.predict([plate("AB 1")], ["a"])


def test_score_per_sample_and_corpus():
    predictions = pd.DataFrame(
        {"image_id": ["b", "a", "c"], "text": ["A8C124", "XY 9", None], "confidence": [0.9, 0.7, np.nan]}
    )
    annotations = pd.DataFrame({"image_id": ["a", "b", "c", "unused"], "label": ["XY 9", "ABC1234", "QQ", "Z"]})
    table, metrics = OCR().score(predictions, annotations)
    assert list(table.columns) == [
        "image_id", "label", "text", "confidence", "edits", "chars", "cer", "words_edits", "words", "wer", "exact",
        "char_accuracy",
    ]  # fmt: skip
    assert table.image_id.tolist() == ["b", "a", "c"]
    assert table.text.tolist() == ["A8C124", "XY 9", ""]
    assert table.edits.tolist() == [2, 0, 2] and table.chars.tolist() == [7, 3, 2]  # "XY 9" has 3 chars, spaces ignored
    assert table.exact.tolist() == [False, True, False]
    np.testing.assert_allclose(table.char_accuracy, 1 - table.cer)
    assert metrics["cer"] == pytest.approx(4 / 12)
    assert metrics["wer"] == pytest.approx(2 / 3)
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert metrics["mean_confidence"] == pytest.approx(0.8)
    assert metrics["n"] == 3
    resampled = OCR.resampled_scores(table, np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]]))
    np.testing.assert_allclose(resampled["cer"], [4 / 12, 2 / 8])
    np.testing.assert_allclose(resampled["exact_match"], [1 / 3, 2 / 3])
    # the tables read back from CSV hold exact as text: the bootstrap accepts both
    as_text = table.assign(exact=table.exact.astype(str))
    np.testing.assert_allclose(OCR.resampled_scores(as_text, np.ones((1, 3)))["exact_match"], [1 / 3])


def test_score_errors_name_the_culprit():
    annotations = pd.DataFrame({"image_id": ["a"], "label": ["AB"]})
    with pytest.raises(ValueError, match="lack the column"):
        OCR().score(pd.DataFrame({"image_id": ["a"]}), annotations)
    with pytest.raises(ValueError, match="no annotation"):
        OCR().score(pd.DataFrame({"image_id": ["z"], "text": ["AB"]}), annotations)
    with pytest.raises(ValueError, match="more than once"):
        OCR().score(pd.DataFrame({"image_id": ["a"], "text": ["AB"]}), pd.concat([annotations] * 2))


def test_reading_order_and_joining():
    boxes = {
        "second line": [[10, 60], [90, 60], [90, 80], [10, 80]],
        "right": [[120, 12], [200, 12], [200, 38], [120, 38]],
        "left": [[10, 10], [100, 10], [100, 40], [10, 40]],
    }
    order = order_lines(list(boxes.values()))
    assert [list(boxes)[i] for i in order] == ["left", "right", "second line"]
    assert order_lines([]) == []
    text, confidence = join_readings([("AB", 1.0), ("", 0.1), ("CDEF", 0.7)])
    assert text == "AB CDEF" and confidence == pytest.approx((2 * 1.0 + 4 * 0.7) / 6)
    text, confidence = join_readings([("", 0.0)])
    assert text == "" and np.isnan(confidence)


# --- the engines, for real -------------------------------------------------------------------------------------


def read(settings: dict, images: list[np.ndarray]) -> pd.DataFrame:
    task = OCR(settings)
    task.load(None)
    try:
        return task.predict(images, [f"img{i}" for i in range(len(images))])
    finally:
        task.close()


def check_readings(predictions: pd.DataFrame, labels: list[str], max_cer: float = 0.0) -> None:
    annotations = pd.DataFrame({"image_id": predictions.image_id, "label": labels})
    table, metrics = OCR().score(predictions, annotations)
    assert metrics["cer"] <= max_cer, table[["label", "text", "cer"]].to_string()
    assert table.confidence.between(0.5, 1.0).all(), table.to_string()


def test_rapidocr_reads_plates():
    predictions = read({}, [plate(t) for t in PLATES])
    assert list(predictions.columns) == ["image_id", "text", "confidence"]
    check_readings(predictions, PLATES)
    blank = read({}, [np.full((48, 160, 3), 245, np.uint8)])
    assert blank.text.tolist() == [""] and blank.confidence.isna().all()


def test_rapidocr_detects_lines_in_a_scene():
    predictions = read({"detect": True}, [scene(PLATES[:2]), plate(PLATES[2])])
    check_readings(predictions, [" ".join(PLATES[:2]), PLATES[2]])


def test_rapidocr_user_models_folder(tmp_path):
    import rapidocr_onnxruntime

    shipped = Path(rapidocr_onnxruntime.__file__).parent / "models"
    for file in shipped.glob("*.onnx"):
        (tmp_path / file.name).symlink_to(file)
    check_readings(read({"models": str(tmp_path)}, [plate(PLATES[0])]), PLATES[:1])
    (tmp_path / "rec_copy.onnx").symlink_to(next(shipped.glob("*rec*.onnx")))
    with pytest.raises(ValueError, match="exactly one ONNX file with 'rec'"):
        read({"models": str(tmp_path)}, [plate(PLATES[0])])


paddle = pytest.mark.skipif(
    default_paddle_python() is None,
    reason="the paddleocr engine's environment .venv-paddle is absent (create it with 'make setup-paddle')",
)


@paddle
def test_paddleocr_reads_plates():
    check_readings(read({"engine": "paddleocr"}, [plate(t) for t in PLATES]), PLATES)


@paddle
def test_paddleocr_detects_lines_in_a_scene():
    predictions = read({"engine": "paddleocr", "detect": True}, [scene(PLATES[:2]), plate(PLATES[2])])
    check_readings(predictions, [" ".join(PLATES[:2]), PLATES[2]])


def test_paddleocr_missing_environment_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CODECBENCH_PADDLE_PYTHON", str(tmp_path / "nowhere" / "python"))
    with pytest.raises(FileNotFoundError, match="make setup-paddle"):
        OCR({"engine": "paddleocr"}).load(None)


@paddle
def test_paddleocr_bad_models_folder_is_reported(tmp_path):
    with pytest.raises(RuntimeError, match="exactly one model folder with 'det'"):
        OCR({"engine": "paddleocr", "models": str(tmp_path)}).load(None)
