"""Download a file once, check its hash, keep it in a cache: `get_file`, and the errors it raises.

    get_file(fname, origin, file_hash=...) -> path of the cached file (or of the folder it was extracted to)

* Cache: `cache_dir`, else `$JSEQ_HOME`, else `~/.jseq`; then `cache_subdir` ("datasets"). A missing folder
  is created; one that cannot be created is an error naming it (never a silent move elsewhere).
* A cached file whose hash matches is returned without touching the network.
* A download goes to `<folder>/.<fname>.part-<random>`, is hashed while it is written, and is renamed onto
  the final name only once complete and verified. A process killed mid-download therefore never leaves a
  file under the final name, and a file that fails its hash is deleted.
* Network failures are `DownloadError` (an `OSError`) naming the URL, the cache path and how to place the
  file by hand; a hash mismatch is `HashMismatchError` (also a `ValueError`, as Keras raises).
* Archives (tar, tar.gz, zip) are extracted member by member into a temporary folder that is then renamed
  into place; members with `..`, absolute paths, links or devices are refused (`UnsafeArchiveError`).
"""

import hashlib
import http.client
import os
import secrets
import shutil
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

DEFAULT_TIMEOUT = 15.0  # seconds a connection or a single read may wait before the download fails
_CHUNK = 1 << 16
_STALE_PART_AGE = 600.0  # a partial download untouched this long belongs to a dead process
_HASH_ALGORITHMS = ("auto", "sha256", "md5")
_ARCHIVE_FORMATS = ("tar", "zip")


class DownloadError(OSError):
    """A file could not be downloaded (offline, HTTP error, dropped connection) and no good copy is cached.

    Attributes:
        url: the origin that was asked for.
        path: the cache path the file would have been stored at.
        status: the HTTP status code, when the server answered with one.
    """

    def __init__(self, message, *, url=None, path=None, status=None):
        super().__init__(message)
        self.url = url
        self.path = path
        self.status = status


class HashMismatchError(DownloadError, ValueError):
    """A downloaded file's hash differs from the expected one; the file was deleted.

    Attributes:
        expected: the hash that was asked for.
        received: the hash of the bytes that arrived.
    """

    def __init__(self, message, *, url=None, path=None, expected=None, received=None):
        super().__init__(message, url=url, path=path)
        self.expected = expected
        self.received = received


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the extraction folder, or is a link or a device file."""


# --------------------------------------------------------------------------------------------------------
# Hashes.


def jseq_home():
    """The cache root: `$JSEQ_HOME` when set, else `~/.jseq`."""
    return Path(os.environ.get("JSEQ_HOME") or Path.home() / ".jseq").expanduser()


def resolve_hash_algorithm(file_hash, hash_algorithm="auto"):
    """The hashlib name for `file_hash`: "sha256" for 64 hex digits under "auto", else "md5" (as Keras)."""
    if hash_algorithm not in _HASH_ALGORITHMS:
        raise ValueError(
            f"Unknown hash_algorithm {hash_algorithm!r}. Expected one of {list(_HASH_ALGORITHMS)}."
        )
    if hash_algorithm != "auto":
        return hash_algorithm
    return "sha256" if file_hash is not None and len(file_hash) == 64 else "md5"


def hash_file(path, algorithm="sha256"):
    """The hex digest of the file at `path` ("sha256" or "md5"), read in 64 KiB chunks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _check_hash_text(file_hash, algorithm):
    digits = {"sha256": 64, "md5": 32}[algorithm]
    if len(file_hash) != digits or any(c not in "0123456789abcdef" for c in file_hash):
        raise ValueError(
            f"file_hash must be {digits} hex digits for {algorithm}. Received: file_hash={file_hash!r}."
        )


# --------------------------------------------------------------------------------------------------------
# The progress line.


def _is_live(stream):
    """True when `stream` is a terminal or a notebook's output, where a line can be redrawn with "\\r"."""
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or the stream is closed
        return False


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


class _DownloadProgress:
    """Bytes received: a bar redrawn in place on a terminal or notebook; one plain line at the end otherwise.

    Output that goes to a file or a pipe carries no control characters, so logs stay readable.
    """

    def __init__(self, total, stream=None, width=30):
        self.total = total  # bytes, or None when the server did not say
        self.stream = stream if stream is not None else sys.stdout
        self.width = width
        self.live = _is_live(self.stream)
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.drawn = 0  # length of the line on screen, so a shorter redraw blanks its tail

    def _line(self, received):
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = f"{_size(received / elapsed)}/s"
        if not self.total:
            return f"{_size(received)}  {rate}"
        filled = min(self.width, self.width * received // self.total)
        bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
        return f"{_size(received)}/{_size(self.total)} [{bar}] {100 * received // self.total:3d}%  {rate}"

    def update(self, received):
        now = time.monotonic()
        if not self.live or now - self.last_draw < 0.1:  # redraw at most ten times a second
            return
        self.last_draw = now
        self._draw(self._line(received))
        self.stream.flush()

    def _draw(self, line):
        self.stream.write("\r" + line.ljust(self.drawn))
        self.drawn = len(line)

    def finish(self, received):
        if self.live:
            self._draw(self._line(received))
            self.stream.write("\n")
        else:
            self.stream.write(f"Downloaded {_size(received)} in {time.monotonic() - self.start:.1f} s.\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------------------
# Downloading.


def _check_writable(folder):
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"The cache folder {folder} is not writable, so nothing can be downloaded into it. "
            "Pass cache_dir= (or set JSEQ_HOME) to a folder you can write to."
        )


def _remove_stale_parts(target):
    """Delete partial downloads of `target` left by processes that died (untouched for 10 minutes)."""
    for part in target.parent.glob(f".{target.name}.part-*"):
        try:
            if time.time() - part.stat().st_mtime > _STALE_PART_AGE:
                part.unlink()
        except FileNotFoundError:  # another process cleaned it first
            pass


def _offline_advice(target, file_hash, algorithm, cached_bad):
    where = (
        f"The cached copy at {target} does not match the expected hash either."
        if cached_bad
        else f"The file is not in the cache: {target}."
    )
    check = f" Its {algorithm} must be {file_hash}." if file_hash else ""
    return (
        f"{where}\nTo work without the network, download the file on a machine that has it, copy it to "
        f"that path by hand and call again.{check} Dataset loaders also read JSEQ_DATASETS_MIRROR, a folder "
        "or URL prefix that holds the files."
    )


def _fetch_error(origin, target, reason, advice, status=None):
    return DownloadError(
        f"Could not download {origin}: {reason}.\n{advice}", url=origin, path=str(target), status=status
    )


def _open(origin, target, timeout, advice):
    try:
        return urllib.request.urlopen(origin, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise _fetch_error(origin, target, f"HTTP {error.code} {error.reason}", advice, error.code) from None
    except urllib.error.URLError as error:  # refused, no DNS, no route, missing file:// path
        cause, reason = error, error.reason
    except (OSError, http.client.HTTPException) as error:  # a server that hangs up or never answers
        cause, reason = error, str(error) or type(error).__name__
    if isinstance(reason, TimeoutError) or isinstance(cause, TimeoutError):
        reason = f"no answer within {timeout} s"
    raise _fetch_error(origin, target, reason, advice) from cause


def _content_length(response):
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _download(origin, target, file_hash, algorithm, timeout, advice):
    """Fetch `origin` into a temporary file next to `target`, verify it, then rename it onto `target`."""
    _check_writable(target.parent)
    _remove_stale_parts(target)
    print(f"Downloading data from {origin}", flush=True)
    hasher = hashlib.new(algorithm)
    # A fresh name next to the target (same file system, so the final rename is atomic). Not mkstemp:
    # its 0600 mode would make a shared cache unreadable to others; os.open applies the umask instead.
    part = target.parent / f".{target.name}.part-{secrets.token_hex(6)}"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out, _open(origin, target, timeout, advice) as response:
            total = _content_length(response)
            progress = _DownloadProgress(total)
            received = 0
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as error:
                    reason = (
                        f"the connection failed after {received} bytes ({str(error) or type(error).__name__})"
                    )
                    raise _fetch_error(origin, target, reason, advice) from error
                if not chunk:
                    break
                out.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                progress.update(received)
            if total is not None and received < total:
                reason = f"the connection closed after {received} of {total} bytes"
                raise _fetch_error(origin, target, reason, advice)
            progress.finish(received)
            out.flush()
            os.fsync(out.fileno())
        received_hash = hasher.hexdigest()
        if file_hash is not None and received_hash != file_hash:
            raise HashMismatchError(
                f"The file downloaded from {origin} is incomplete or corrupted: its {algorithm} is "
                f"{received_hash}, expected {file_hash}. The download was deleted, not stored at {target}.",
                url=origin,
                path=str(target),
                expected=file_hash,
                received=received_hash,
            )
        os.replace(part, target)
    except BaseException:  # also KeyboardInterrupt: never leave the partial file behind
        Path(part).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------------
# Extracting.


def _member_path(root, name, archive):
    """Where member `name` goes under `root`; refuses absolute paths and `..` (zip-slip)."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if not name or posix.is_absolute() or PureWindowsPath(name).anchor or ".." in posix.parts:
        raise UnsafeArchiveError(
            f"Refusing to extract {archive}: member {name!r} would be written outside the extraction folder "
            "(absolute path or '..'). The archive may be malicious."
        )
    return root.joinpath(*posix.parts)


def _extract_tar(archive, root):
    with tarfile.open(archive) as tar:
        for member in tar:
            path = _member_path(root, member.name, archive)
            if member.isdir():
                path.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            else:
                kind = "link" if member.issym() or member.islnk() else "device or special file"
                target = f" to {member.linkname!r}" if member.linkname else ""
                raise UnsafeArchiveError(
                    f"Refusing to extract {archive}: member {member.name!r} is a {kind}{target}; only "
                    "regular files and folders are extracted."
                )


def _extract_zip(archive, root):
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = _member_path(root, info.filename, archive)
            if stat.S_ISLNK(info.external_attr >> 16):  # a Unix symlink stored in the zip
                raise UnsafeArchiveError(
                    f"Refusing to extract {archive}: member {info.filename!r} is a link; only regular files "
                    "and folders are extracted."
                )
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)


def extract_archive(archive, destination, archive_format="auto"):
    """Extract a tar (plain, gz, bz2, xz) or zip archive into `destination`, safely and atomically.

    Members go to a temporary folder next to `destination`, which replaces `destination` only once every
    member is written; absolute paths, `..`, links and device files are refused with `UnsafeArchiveError`.

    Args:
        archive: path of the archive.
        destination: folder to create (an existing one is replaced).
        archive_format: "auto" (tar, then zip), "tar", "zip", or a list of those.
    """
    formats = list(_ARCHIVE_FORMATS) if archive_format == "auto" else archive_format
    formats = [formats] if isinstance(formats, str) else list(formats or [])
    unknown = [f for f in formats if f not in _ARCHIVE_FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"Unknown archive_format {archive_format!r}. Expected 'auto', 'tar', 'zip' or a list of those."
        )
    archive, destination = Path(archive), Path(destination)
    for fmt in formats:
        if fmt == "tar" and tarfile.is_tarfile(archive):
            write = _extract_tar
            break
        if fmt == "zip" and zipfile.is_zipfile(archive):
            write = _extract_zip
            break
    else:
        raise ValueError(f"Cannot extract {archive}: it is not a {' or '.join(formats)} archive.")
    _check_writable(destination.parent)
    staging = destination.parent / f".{destination.name}.extract-{secrets.token_hex(6)}"
    staging.mkdir(mode=0o777)  # the umask applies (mkdtemp would make it private, 0700)
    try:
        write(archive, staging)
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        elif destination.exists() or destination.is_symlink():
            destination.unlink()
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(destination)


# --------------------------------------------------------------------------------------------------------
# get_file.


def _cache_folder(cache_dir, cache_subdir):
    folder = (Path(cache_dir).expanduser() if cache_dir is not None else jseq_home()) / cache_subdir
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(
                f"Cannot create the cache folder {folder}: {error.strerror or error}. Pass cache_dir= (or "
                "set JSEQ_HOME) to a folder you can write to."
            ) from error
    return folder


def _plain_file_name(fname, origin):
    if fname is None or fname == "":
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"Cannot tell a file name from origin={origin!r}. Pass fname= (a plain file name)."
            )
    fname = os.fspath(fname)
    if "/" in fname or "\\" in fname or os.sep in fname or fname in (".", ".."):
        raise ValueError(
            "fname must be a plain file name, not a path. To choose the folder, pass cache_dir= (and "
            f"cache_subdir=). Received: fname={fname!r}."
        )
    return fname


def get_file(
    fname=None,
    origin=None,
    untar=False,
    md5_hash=None,
    file_hash=None,
    cache_subdir="datasets",
    hash_algorithm="auto",
    extract=False,
    archive_format="auto",
    cache_dir=None,
    force_download=False,
    *,
    timeout=DEFAULT_TIMEOUT,
):
    """Downloads a file from a URL unless a verified copy is already in the cache; returns its path.

    The file lands in `<cache_dir>/<cache_subdir>/<fname>`, with `cache_dir` defaulting to `$JSEQ_HOME` or
    `~/.jseq`. A second call with the file cached and its hash matching touches no network.

    Args:
        fname: plain file name in the cache; defaults to the last part of `origin`'s path. With
            `extract=True`, a name without a dot names the extraction folder (as Keras).
        origin: URL to download from (`https://`, `http://` or `file://`).
        untar: deprecated, as Keras: same as `extract=True` with `archive_format="tar"`.
        md5_hash: deprecated, as Keras: an md5 `file_hash`.
        file_hash: expected sha256 (64 hex digits) or md5 (32) of the file; checked on the cached copy and on
            every download, before the file is used.
        cache_subdir: subfolder of the cache (an absolute path is used as is).
        hash_algorithm: "auto" (sha256 for 64 digits, else md5), "sha256" or "md5".
        extract: extract the archive (tar, tar.gz, zip) and return the extraction folder.
        archive_format: "auto", "tar", "zip", or a list of those.
        cache_dir: cache root; created when missing.
        force_download: download even when a verified copy is cached.
        timeout: seconds a connection or a single read may wait before `DownloadError`.

    Returns:
        The path (a `str`) of the cached file, or of the extraction folder when `extract=True`.

    Raises:
        DownloadError: the download failed and no verified copy is cached (message: URL, cache path, how
            to place the file by hand).
        HashMismatchError: the downloaded bytes do not have `file_hash` (the download is deleted).
        UnsafeArchiveError: an archive member has an absolute path, `..`, or is a link.

    Example:
        >>> path = jseq.utils.get_file("mnist.npz",
        ...     "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        ...     file_hash="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
    """
    if not origin:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = resolve_hash_algorithm(file_hash, hash_algorithm)
    if file_hash is not None:
        file_hash = str(file_hash).lower()
        _check_hash_text(file_hash, algorithm)
    provided = fname is not None and fname != ""
    fname = _plain_file_name(fname, origin)
    folder = _cache_folder(cache_dir, cache_subdir)

    # The names Keras uses: "name.tar.gz" -> archive "name.tar.gz", folder "name_extracted";
    # "name" -> archive "name_archive", folder "name".
    extraction_dir = None
    target = folder / fname
    if extract or untar:
        if provided and "." in fname:
            extraction_dir = folder / f"{fname[: fname.find('.')]}_extracted"
        else:
            extraction_dir, target = folder / fname, folder / f"{fname}_archive"

    cached_bad = False
    if force_download or not target.is_file():
        download = True
    elif file_hash is not None and hash_file(target, algorithm) != file_hash:
        print(
            "A local file was found, but it seems to be incomplete or outdated because the "
            f"{algorithm} file hash does not match the original value of {file_hash} so we will "
            "re-download the data.",
            flush=True,
        )
        download = cached_bad = True
    else:
        download = False

    if download:
        advice = _offline_advice(target, file_hash, algorithm, cached_bad)
        _download(origin, target, file_hash, algorithm, timeout, advice)

    if extraction_dir is None:
        return str(target)
    if download or not extraction_dir.is_dir():
        extract_archive(target, extraction_dir, "tar" if untar else archive_format)
    return str(extraction_dir)
