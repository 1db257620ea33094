"""Download a file over HTTP(S), verify its sha256 and unpack it, placing the result atomically in a cache.

A cache entry ``<cache>/<sha256>/`` appears only by one ``rename`` after the checksum matched and the archive
unpacked completely, so a failed or interrupted download leaves nothing a rerun would trust.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """Downloading or unpacking failed; the message names the URL and what to check."""


def _file_name(url: str) -> str:
    name = PurePosixPath(urllib.request.urlparse(url).path).name
    return name or "download"


def _download(url: str, target: Path, timeout_s: float) -> str:
    """Stream ``url`` into ``target``; return the sha256 hex digest of what was written."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "codecbench"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response, target.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
            if total and done != total:
                raise DownloadError(f"download of {url} ended after {done} of {total} bytes; try again")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the url") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"download of {url} failed: {reason}; check the url and your network") from exc
    log.info("downloaded %s (%d bytes)", url, done)
    return digest.hexdigest()


def _safe_members_zip(archive: zipfile.ZipFile, url: str) -> None:
    for name in archive.namelist():
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise DownloadError(f"archive from {url} holds an unsafe path {name!r}; refusing to unpack it")


def _unpack(payload: Path, dest: Path, url: str) -> None:
    name = payload.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(payload) as archive:
                _safe_members_zip(archive, url)
                archive.extractall(dest)
        else:
            with tarfile.open(payload) as archive:
                archive.extractall(dest, filter="data")  # refuses absolute paths, '..' and device files
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DownloadError(f"cannot unpack the archive from {url}: {exc}") from exc


def fetch(url: str, sha256: str, cache_dir: str | Path, timeout_s: float = 60.0, unpack: bool = True) -> Path:
    """Return the cached folder for (url, sha256), downloading and unpacking it first if needed.

    The folder holds the unpacked archive, or the single downloaded file when it is not an archive or ``unpack`` is
    false (for archives read member by member; such an entry is ``<sha256>-packed``, apart from the unpacked one).
    """
    sha256 = sha256.lower()
    cache_dir = Path(cache_dir)
    final = cache_dir / (sha256 if unpack else f"{sha256}-packed")
    if final.is_dir():
        log.info("using cached download %s for %s", final, url)
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_dir))
    try:
        payload = work / _file_name(url)
        actual = _download(url, payload, timeout_s)
        if actual != sha256:
            raise DownloadError(
                f"sha256 mismatch for {url}: expected {sha256}, got {actual}. The file was discarded; "
                "check the url and sha256 in your config."
            )
        content = work / "content"
        content.mkdir()
        if unpack and payload.name.lower().endswith(ARCHIVE_SUFFIXES):
            _unpack(payload, content, url)
            payload.unlink()
        else:
            payload.rename(content / payload.name)
        try:
            content.rename(final)  # the single atomic step that makes the entry visible
        except OSError:
            if not final.is_dir():  # a parallel job placing the same entry first is fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
