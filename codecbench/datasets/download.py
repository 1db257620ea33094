"""Download a file over HTTP(S), verify its sha256 and unpack it, placing the result atomically in a cache.

A cache entry ``<cache>/<sha256>/`` appears only by one ``rename`` after the checksum matched and the archive
unpacked completely, so a failed or interrupted download leaves nothing a rerun would trust.

Archives are unpacked (or read member by member, :class:`BoundedZipFile`) within :class:`ArchiveLimits`: the total
unpacked size, the number of members and the compression ratio are checked from the sizes the archive declares
before anything is written, and the bytes are counted again while they are written, since declared sizes can lie.
Member names must be relative paths inside the archive's folder (no absolute paths, drive letters or ``..``), zip
symbolic links are refused, and tar members also pass tarfile's "data" filter (no links leading outside, no device
files).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
CHUNK_BYTES = 1 << 20
# Below this many unpacked bytes the compression ratio is not checked: a small member (or archive) of repetitive
# data compresses a thousandfold and harms nobody.
RATIO_FLOOR_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """Downloading or unpacking failed; the message names the URL (and archive) and what to check."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what one archive may unpack to, so that a decompression bomb fails instead of filling the disk.

    The defaults hold real datasets with room to spare (COCO train2017 is 19 GB in 118,000 images; image archives
    compress 1-2x and JSON annotations about 4x, a zip bomb about 1000x). ``setting`` is where they are set, for
    the messages.
    """

    max_bytes: int = 32 * 1024**3  # total unpacked bytes
    max_members: int = 1_000_000  # files, folders and links
    max_ratio: float = 100.0  # unpacked over compressed bytes, of the archive and of each (zip) member
    setting: str = "datasets.<dataset>.archive_limits"


def archive_limits(dataset: str, cfg: dict[str, Any]) -> ArchiveLimits:
    """The ``archive_limits`` of a dataset config entry (defaults for what it leaves out), checked."""
    from . import DatasetError  # imported here: the package imports this module first

    given = cfg.get("archive_limits") or {}
    setting = f"datasets.{dataset}.archive_limits"
    if not isinstance(given, dict) or set(given) - {"max_bytes", "max_members", "max_ratio"}:
        raise DatasetError(f"dataset {dataset!r}: {setting} takes max_bytes, max_members and max_ratio, not {given!r}")
    for key, kind in (("max_bytes", int), ("max_members", int), ("max_ratio", (int, float))):
        value = given.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind) or not value > 0):
            what = "an integer" if kind is int else "a number"
            raise DatasetError(f"dataset {dataset!r}: {setting}.{key} must be {what} above 0, not {value!r}")
    return ArchiveLimits(**given, setting=setting)


class ArchiveBudget:
    """One archive's members and bytes so far against its limits; every error names the archive (``where``: its
    file and URL), the member, the limit and the setting that raises it."""

    def __init__(self, limits: ArchiveLimits, where: str, archive_bytes: int) -> None:
        self.limits, self.where, self.archive_bytes = limits, where, max(archive_bytes, 1)
        self.members = self.declared_bytes = self.written_bytes = 0

    def _refuse(self, problem: str, key: str) -> DownloadError:
        value = getattr(self.limits, key)
        return DownloadError(
            f"{self.where}: {problem}, above {key} {value:,}; refusing to unpack it (a decompression bomb?). If the "
            f"archive is genuine, raise {self.limits.setting}.{key}"
        )

    def declare(self, name: str, size: int, compressed: int | None = None) -> None:
        """Count a member by its declared unpacked size (and, for zip, its compressed size) before it is read."""
        self.members += 1
        self.declared_bytes += size
        limits = self.limits
        if self.members > limits.max_members:
            raise self._refuse(f"it has {self.members:,} members or more", "max_members")
        if self.declared_bytes > limits.max_bytes:
            raise self._refuse(f"its members declare {self.declared_bytes:,} bytes (up to {name!r})", "max_bytes")
        if compressed is not None and size >= RATIO_FLOOR_BYTES and size > limits.max_ratio * max(compressed, 1):
            ratio = size / max(compressed, 1)
            raise self._refuse(f"member {name!r} unpacks {ratio:,.0f}x ({compressed:,} to {size:,} bytes)", "max_ratio")
        total_ratio = self.declared_bytes / self.archive_bytes
        if self.declared_bytes >= RATIO_FLOOR_BYTES and total_ratio > limits.max_ratio:
            raise self._refuse(
                f"its {self.archive_bytes:,} bytes unpack to {self.declared_bytes:,} or more ({total_ratio:,.0f}x)",
                "max_ratio",
            )

    def copy(self, source: IO[bytes], out: IO[bytes] | None, name: str, size: int) -> bytes | None:
        """Copy a member's stream to ``out`` (or return its bytes when ``out`` is None), stopping as soon as it gives
        more than its declared ``size`` or the archive's copies and reads more than ``max_bytes`` in all."""
        chunks = []
        written = 0
        while chunk := source.read(CHUNK_BYTES):
            written += len(chunk)
            self.written_bytes += len(chunk)
            if written > size:
                raise DownloadError(
                    f"{self.where}: member {name!r} unpacks to more than the {size:,} bytes it declares; the archive "
                    "is corrupt or crafted, refusing it"
                )
            if self.written_bytes > self.limits.max_bytes:
                raise self._refuse(f"it unpacks to {self.written_bytes:,} bytes or more", "max_bytes")
            if out is None:
                chunks.append(chunk)
            else:
                out.write(chunk)
        return b"".join(chunks) if out is None else None


class BoundedZipFile(zipfile.ZipFile):
    """A zip archive read member by member within limits: its declared sizes are checked (:class:`ArchiveLimits`)
    when it is opened, and ``read`` stops at a member's declared size. A drop-in for ``zipfile.ZipFile`` where
    members are read without unpacking; ``where`` (the archive's file and URL) is named in every error."""

    def __init__(self, file: str | Path, limits: ArchiveLimits, where: str) -> None:
        super().__init__(file)
        self.where = where
        self.budget = ArchiveBudget(limits, where, Path(file).stat().st_size)
        try:
            for info in self.infolist():
                self.budget.declare(info.filename, info.file_size, info.compress_size)
        except DownloadError:
            self.close()
            raise

    def read(self, name: str | zipfile.ZipInfo, pwd: bytes | None = None) -> bytes:
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        with self.open(info, pwd=pwd) as stream:
            return self.budget.copy(stream, None, info.filename, info.file_size)


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


def _check_member_name(name: str, where: str) -> None:
    """A member must stay inside the folder it is unpacked to: no absolute path, drive letter or '..' (either slash
    counts, as Windows tools write backslashes)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and re.fullmatch(r"[A-Za-z]:.*", parts[0])):
        raise DownloadError(f"{where} holds an unsafe path {name!r} (absolute or with '..'); refusing to unpack it")


def _unpack_zip(payload: Path, dest: Path, limits: ArchiveLimits, where: str) -> None:
    with BoundedZipFile(payload, limits, where) as archive:  # declared sizes checked here
        infos = archive.infolist()
        for info in infos:  # every name before anything is written
            _check_member_name(info.filename, where)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DownloadError(f"{where} holds a symbolic link {info.filename!r}; refusing to unpack it")
        for info in infos:
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("wb") as out:
                archive.budget.copy(source, out, info.filename, info.file_size)


def _unpack_tar(payload: Path, dest: Path, limits: ArchiveLimits, where: str) -> None:
    budget = ArchiveBudget(limits, where, payload.stat().st_size)
    with tarfile.open(payload) as archive:
        members = []
        for member in archive:  # tar has no index: the headers are read first, stopping at the first excess
            _check_member_name(member.name, where)
            budget.declare(member.name, member.size if member.isreg() else 0)
            members.append(member)
        for member in members:
            checked = tarfile.data_filter(member, str(dest))  # no links leading outside, no device files
            if not checked.isreg():
                archive.extract(checked, dest, filter="data")
                continue
            target = dest / checked.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as source, target.open("wb") as out:
                budget.copy(source, out, member.name, member.size)


def _unpack(payload: Path, dest: Path, url: str, limits: ArchiveLimits) -> None:
    where = f"archive {payload.name} from {url}"
    try:
        if payload.name.lower().endswith(".zip"):
            _unpack_zip(payload, dest, limits, where)
        else:
            _unpack_tar(payload, dest, limits, where)
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise DownloadError(f"cannot unpack the {where}: {exc}") from exc


def fetch(
    url: str,
    sha256: str,
    cache_dir: str | Path,
    timeout_s: float = 60.0,
    unpack: bool = True,
    limits: ArchiveLimits | None = None,
) -> Path:
    """Return the cached folder for (url, sha256), downloading and unpacking it first if needed.

    The folder holds the unpacked archive (within ``limits``, by default :class:`ArchiveLimits`'), or the single
    downloaded file when it is not an archive or ``unpack`` is false (for archives read member by member; such an
    entry is ``<sha256>-packed``, apart from the unpacked one).
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
            _unpack(payload, content, url, limits or ArchiveLimits())
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
