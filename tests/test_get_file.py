"""`jseq.utils.get_file` against a loopback HTTP server and `file://` origins: no internet is touched.

Each fault the reliability notes list for Keras (DL-01..DL-11) is reproduced here: good file, cached file,
truncated transfer, wrong hash, 404, server gone, no answer, killed mid-download, unsafe archives.
"""

import hashlib
import http.server
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from jseq.utils import DownloadError, HashMismatchError, UnsafeArchiveError, get_file
from jseq.utils.file import _DownloadProgress, extract_archive

ROOT = Path(__file__).resolve().parents[1]
BODY = bytes(range(256)) * 64  # 16 KiB
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()
BODY_MD5 = hashlib.md5(BODY).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.routes[path] = (body, mode)`; mode "good", "truncated" (announces 1000 bytes more
    than it sends) or "slow" (4 KiB every 50 ms). Unknown paths are 404."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path not in self.server.routes:
            self.send_error(404, "File not found")
            return
        body, mode = self.server.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + (1000 if mode == "truncated" else 0)))
        self.end_headers()
        try:
            if mode == "slow":
                for i in range(0, len(body), 4096):
                    self.wfile.write(body[i : i + 4096])
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed on purpose
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url():
    """A URL on a port nothing listens on: connection refused, like a server that is gone."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/data.bin"


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if ".part-" in p.name or ".extract-" in p.name)


def test_download_then_cached_call_touches_no_network(server, tmp_path, monkeypatch):
    monkeypatch.setenv("JSEQ_HOME", str(tmp_path / "home"))
    server.routes["/data.bin"] = (BODY, "good")
    path = get_file("data.bin", f"{server.url}/data.bin", file_hash=BODY_SHA256)
    assert Path(path) == tmp_path / "home" / "datasets" / "data.bin"
    assert Path(path).read_bytes() == BODY
    assert server.requests == ["/data.bin"]
    server.shutdown()  # the second call must not need the server at all
    assert get_file("data.bin", f"{server.url}/data.bin", file_hash=BODY_SHA256) == path
    assert server.requests == ["/data.bin"]
    assert _leftovers(Path(path).parent) == []


def test_md5_hash_and_name_from_origin(server, tmp_path):
    server.routes["/dir/named.bin"] = (BODY, "good")
    path = get_file(origin=f"{server.url}/dir/named.bin", md5_hash=BODY_MD5, cache_dir=tmp_path)
    assert Path(path) == tmp_path / "datasets" / "named.bin"
    path = get_file(
        "other.bin", f"{server.url}/dir/named.bin", file_hash=BODY_MD5.upper(), cache_dir=tmp_path
    )
    assert Path(path).read_bytes() == BODY


def test_wrong_hash_deletes_the_download_and_names_both_hashes(server, tmp_path):
    server.routes["/data.bin"] = (BODY, "good")
    wrong = "0" * 64
    with pytest.raises(HashMismatchError) as info:
        get_file("data.bin", f"{server.url}/data.bin", file_hash=wrong, cache_dir=tmp_path)
    message = str(info.value)
    assert wrong in message and BODY_SHA256 in message and "deleted" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)  # Keras raises ValueError
    assert (info.value.expected, info.value.received) == (wrong, BODY_SHA256)
    assert not (tmp_path / "datasets" / "data.bin").exists()
    assert _leftovers(tmp_path / "datasets") == []


def test_truncated_transfer_leaves_nothing(server, tmp_path):
    server.routes["/data.bin"] = (BODY, "truncated")
    with pytest.raises(DownloadError, match=f"after {len(BODY)} of {len(BODY) + 1000} bytes") as info:
        get_file("data.bin", f"{server.url}/data.bin", cache_dir=tmp_path)  # no hash: length alone catches it
    assert f"{server.url}/data.bin" in str(info.value)
    assert str(tmp_path / "datasets" / "data.bin") in str(info.value)
    assert not (tmp_path / "datasets" / "data.bin").exists()
    assert _leftovers(tmp_path / "datasets") == []


def test_http_404_is_a_download_error_with_the_status(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        get_file("missing.npz", f"{server.url}/missing.npz", cache_dir=tmp_path)
    assert info.value.status == 404
    assert info.value.url == f"{server.url}/missing.npz"
    assert info.value.path == str(tmp_path / "datasets" / "missing.npz")
    assert isinstance(info.value, OSError)
    assert list((tmp_path / "datasets").iterdir()) == []


def test_server_gone_fails_fast_with_advice(closed_port_url, tmp_path):
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        get_file("data.bin", closed_port_url, file_hash=BODY_SHA256, cache_dir=tmp_path)
    assert time.monotonic() - start < 10  # the brief's "within seconds"; refusal is immediate
    message = str(info.value)
    assert closed_port_url in message
    assert str(tmp_path / "datasets" / "data.bin") in message
    assert "by hand" in message and BODY_SHA256 in message and "JSEQ_DATASETS_MIRROR" in message


def test_server_that_never_answers_times_out(tmp_path):
    with socket.socket() as listener:  # accepts connections in the kernel, never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/data.bin"
        with pytest.raises(DownloadError, match=r"no answer within 0\.3 s"):
            get_file("data.bin", url, cache_dir=tmp_path, timeout=0.3)
    assert _leftovers(tmp_path / "datasets") == []


def test_corrupt_cached_file_is_downloaded_again(server, tmp_path, capsys):
    server.routes["/data.bin"] = (BODY, "good")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(BODY[:100])  # e.g. left by an older, killed tool
    path = get_file("data.bin", f"{server.url}/data.bin", file_hash=BODY_SHA256, cache_dir=tmp_path)
    assert Path(path).read_bytes() == BODY
    assert server.requests == ["/data.bin"]
    assert "does not match the original value" in capsys.readouterr().out


def test_corrupt_cached_file_and_no_network(closed_port_url, tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(b"not it")
    with pytest.raises(DownloadError, match="cached copy at .* does not match the expected hash"):
        get_file("data.bin", closed_port_url, file_hash=BODY_SHA256, cache_dir=tmp_path)


def test_force_download(server, tmp_path):
    server.routes["/data.bin"] = (BODY, "good")
    for _ in range(2):
        get_file("data.bin", f"{server.url}/data.bin", cache_dir=tmp_path, force_download=True)
    assert server.requests == ["/data.bin", "/data.bin"]


def test_file_origin(tmp_path):
    source = tmp_path / "source" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(BODY)
    path = get_file("data.bin", source.as_uri(), file_hash=BODY_SHA256, cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == BODY
    with pytest.raises(DownloadError, match="No such file"):
        get_file("gone.bin", (tmp_path / "gone.bin").as_uri(), cache_dir=tmp_path / "cache")


def test_missing_cache_folder_is_created_and_uncreatable_one_is_named(tmp_path):
    source = tmp_path / "data.bin"
    source.write_bytes(BODY)
    deep = tmp_path / "not" / "yet" / "there"
    path = get_file("data.bin", source.as_uri(), cache_dir=deep)
    assert Path(path) == deep / "datasets" / "data.bin"  # never silently moved to /tmp
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")
    with pytest.raises(OSError, match="Cannot create the cache folder .*a_file"):
        get_file("data.bin", source.as_uri(), cache_dir=blocker / "cache")


@pytest.mark.parametrize("fname", ["sub/evil.npz", "..", ".", "..\\evil"])
def test_fname_must_be_a_plain_name(fname, tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        get_file(fname, "file:///nowhere", cache_dir=tmp_path)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="origin"):
        get_file("x.bin", None, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="hash_algorithm"):
        get_file("x.bin", "file:///x", file_hash=BODY_SHA256, hash_algorithm="sha1", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="64 hex digits"):
        get_file("x.bin", "file:///x", file_hash="abc", hash_algorithm="sha256", cache_dir=tmp_path)
    with pytest.raises(TypeError, match="bogus"):
        get_file("x.bin", "file:///x", bogus=1)


_KILLED_CHILD = """
import sys
from jseq.utils.file import get_file
get_file("big.bin", sys.argv[1], file_hash=sys.argv[2], cache_dir=sys.argv[3])
"""


@pytest.mark.slow
def test_killed_mid_download_leaves_no_file_under_the_final_name(server, tmp_path):
    body = os.urandom(400 * 1024)  # 100 chunks of 4 KiB, 50 ms apart: a 5 s download
    digest = hashlib.sha256(body).hexdigest()
    server.routes["/big.bin"] = (body, "slow")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, f"{server.url}/big.bin", digest, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder, final = tmp_path / "datasets", tmp_path / "datasets" / "big.bin"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # wait until some bytes of the download are on disk
            parts = list(folder.glob(".big.bin.part-*")) if folder.is_dir() else []
            if parts and parts[0].stat().st_size >= 8192:
                break
            assert child.poll() is None, "the child ended before it was killed"
            time.sleep(0.02)
        else:
            pytest.fail("the download never started")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not final.exists()
    assert 0 < parts[0].stat().st_size < len(body)  # the partial bytes sit under a temporary name only

    server.routes["/big.bin"] = (body, "good")
    assert Path(
        get_file("big.bin", f"{server.url}/big.bin", file_hash=digest, cache_dir=tmp_path)
    ).read_bytes() == (body)


def test_partial_downloads_of_dead_processes_are_cleaned_up(server, tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir()
    stale, fresh = folder / ".data.bin.part-dead", folder / ".data.bin.part-alive"
    for part in (stale, fresh):
        part.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    server.routes["/data.bin"] = (BODY, "good")
    get_file("data.bin", f"{server.url}/data.bin", cache_dir=tmp_path)
    assert not stale.exists()
    assert fresh.exists()  # may belong to a download still running in another process


# --------------------------------------------------------------------------------------------------------
# Archives.


def _tar_gz(path, members):
    """members: (name, bytes) regular files, or (name, ("symlink" | "hardlink", target))."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_extract_tar_gz_once(server, tmp_path):
    archive = _tar_gz(tmp_path / "pkg.tar.gz", [("pkg/a.txt", b"alpha"), ("pkg/sub/b.txt", b"beta")])
    server.routes["/pkg.tar.gz"] = (archive.read_bytes(), "good")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    folder = get_file("pkg", f"{server.url}/pkg.tar.gz", file_hash=digest, extract=True, cache_dir=cache)
    assert Path(folder) == cache / "datasets" / "pkg"  # Keras's naming: the archive is "pkg_archive"
    assert (Path(folder) / "pkg" / "sub" / "b.txt").read_bytes() == b"beta"
    assert (cache / "datasets" / "pkg_archive").is_file()
    again = get_file("pkg", f"{server.url}/pkg.tar.gz", file_hash=digest, extract=True, cache_dir=cache)
    assert again == folder and server.requests == ["/pkg.tar.gz"]
    dotted = get_file("pkg.tar.gz", f"{server.url}/pkg.tar.gz", extract=True, cache_dir=cache)
    assert Path(dotted) == cache / "datasets" / "pkg_extracted"
    assert (Path(dotted) / "pkg" / "a.txt").read_bytes() == b"alpha"
    assert _leftovers(cache / "datasets") == []


@pytest.mark.parametrize(
    "member",
    [
        ("../escape.txt", b"x"),
        ("pkg/../../escape.txt", b"x"),
        ("/tmp/absolute_escape.txt", b"x"),
        ("pkg/link", ("symlink", "/etc/passwd")),
        ("pkg/link", ("symlink", "../../../../etc")),
        ("pkg/hard", ("hardlink", "pkg/ok.txt")),
    ],
)
def test_unsafe_tar_members_are_refused(member, tmp_path):
    archive = _tar_gz(tmp_path / "evil.tar.gz", [("pkg/ok.txt", b"fine"), member])
    destination = tmp_path / "cache" / "out"
    destination.parent.mkdir()
    with pytest.raises(UnsafeArchiveError, match="Refusing to extract"):
        extract_archive(archive, destination)
    assert not destination.exists()
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "cache" / "escape.txt").exists()
    assert _leftovers(destination.parent) == []


def test_zip_extraction_and_unsafe_zip_members(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("pkg/a.txt", b"alpha")
    out = Path(extract_archive(good, tmp_path / "good"))
    assert (out / "pkg" / "a.txt").read_bytes() == b"alpha"

    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("pkg/ok.txt", b"fine")
        zf.writestr("../zip_escape.txt", b"x")
    with pytest.raises(UnsafeArchiveError, match="zip_escape"):
        extract_archive(slip, tmp_path / "slip")
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("pkg/link")
        info.external_attr = (0o120777 << 16) | 0  # a Unix symlink
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_archive(link, tmp_path / "link")
    assert not (tmp_path / "zip_escape.txt").exists()
    assert not (tmp_path / "slip").exists() and not (tmp_path / "link").exists()


def test_not_an_archive(tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(BODY)
    with pytest.raises(ValueError, match="not a tar or zip archive"):
        extract_archive(plain, tmp_path / "out")


# --------------------------------------------------------------------------------------------------------
# Progress display.


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_plain_in_files_and_redrawn_on_terminals():
    plain = io.StringIO()
    progress = _DownloadProgress(total=1000, stream=plain)
    for received in range(0, 1001, 100):
        progress.update(received)
    progress.finish(1000)
    text = plain.getvalue()
    assert text.startswith("Downloaded 1.0 KB") and text.count("\n") == 1
    assert "\r" not in text and "\x1b" not in text

    terminal = _Terminal()
    progress = _DownloadProgress(total=1000, stream=terminal)
    progress.update(500)
    progress.finish(1000)
    text = terminal.getvalue()
    assert text.startswith("\r") and "50%" in text and "100%" in text and text.endswith("\n")
    assert "[" + "=" * 30 + "]" in text
