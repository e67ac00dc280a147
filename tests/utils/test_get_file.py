"""cnnkit.utils.get_file against Keras's get_file: same paths and return values, offline first, hash checks, safe
extraction. Files come from file:// URLs and a local http.server; nothing from the internet."""

import functools
import hashlib
import http.server
import io
import os
import tarfile
import threading
import urllib.parse
import urllib.request
import zipfile

import pytest

from cnnkit.utils import get_file
from cnnkit.utils.file_utils import DownloadError


@pytest.fixture
def local_only(monkeypatch):
    real = urllib.request.urlopen

    def guarded(url, *args, **kwargs):
        parts = urllib.parse.urlsplit(url if isinstance(url, str) else url.full_url)
        assert parts.scheme == "file" or parts.hostname == "127.0.0.1", f"a test tried to download {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)


@pytest.fixture
def server(tmp_path):
    """An http server on 127.0.0.1 serving tmp_path/www; yields (base URL, folder, list of requested paths)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, requests
    httpd.shutdown()
    httpd.server_close()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_download_cache_and_offline_first(server, tmp_path, local_only):
    base, root, requests = server
    (root / "data.bin").write_bytes(b"hello")
    digest = _sha256(b"hello")
    path = get_file("data.bin", f"{base}/data.bin", file_hash=digest, cache_dir=tmp_path / "cache")
    assert path == str(tmp_path / "cache" / "datasets" / "data.bin")
    assert open(path, "rb").read() == b"hello" and len(requests) == 1
    # cached: no network (with and without a hash), even when the server is gone
    assert get_file("data.bin", f"{base}/data.bin", file_hash=digest, cache_dir=tmp_path / "cache") == path
    assert get_file("data.bin", "http://127.0.0.1:9/data.bin", cache_dir=tmp_path / "cache") == path
    assert len(requests) == 1
    # md5 (auto-detected from the length), fname from the URL, cache_subdir, force_download
    md5 = hashlib.md5(b"hello").hexdigest()  # noqa: S324
    other = get_file(origin=f"{base}/data.bin", file_hash=md5, cache_subdir="sub", cache_dir=tmp_path / "cache")
    assert other == str(tmp_path / "cache" / "sub" / "data.bin")
    get_file("data.bin", f"{base}/data.bin", cache_dir=tmp_path / "cache", force_download=True)
    assert len(requests) == 3


def test_paths_match_keras(keras, tmp_path, local_only):
    source = tmp_path / "src"
    source.mkdir()
    _tar(source / "pack.tar.gz", {"pack/a.txt": b"a", "pack/b/c.txt": b"c"})
    url = (source / "pack.tar.gz").as_uri()
    cases = ({"fname": "pack.tar.gz"}, {"fname": "pack.tar.gz", "extract": True}, {"fname": "pack", "extract": True},
             {"extract": True}, {"fname": "pack.tgz", "untar": True})
    for i, kwargs in enumerate(cases):
        mine, keras_dir = tmp_path / f"ours{i}", tmp_path / f"keras{i}"
        keras_dir.mkdir()  # (Keras falls back to /tmp/.keras for a cache_dir that does not exist yet)
        ours = get_file(origin=url, cache_dir=mine, **kwargs)
        theirs = keras.utils.get_file(origin=url, cache_dir=str(keras_dir), **kwargs)
        assert os.path.relpath(ours, mine) == os.path.relpath(theirs, keras_dir), kwargs
        if kwargs.get("extract") or kwargs.get("untar"):
            assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs)) == ["pack"]
            assert open(os.path.join(ours, "pack", "b", "c.txt")).read() == "c"


def test_hash_mismatch_and_download_errors(server, tmp_path, local_only):
    base, root, _ = server
    (root / "data.bin").write_bytes(b"hello")
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"'data.bin'.*{_sha256(b'hello')}.*expected {wrong}"):
        get_file("data.bin", f"{base}/data.bin", file_hash=wrong, cache_dir=tmp_path / "c")
    assert not os.path.exists(tmp_path / "c" / "datasets" / "data.bin")  # nothing half-written stays
    # a cached file with another hash is downloaded again
    cached = tmp_path / "c" / "datasets" / "data.bin"
    cached.write_bytes(b"stale")
    assert open(get_file("data.bin", f"{base}/data.bin", file_hash=_sha256(b"hello"),
                         cache_dir=tmp_path / "c"), "rb").read() == b"hello"
    with pytest.raises(DownloadError, match=r"URL fetch failure on .*missing.bin.*To work offline, put the file at"):
        get_file("missing.bin", f"{base}/missing.bin", cache_dir=tmp_path / "c")
    with pytest.raises(OSError, match="URL fetch failure"):
        get_file("x.bin", "http://127.0.0.1:9/x.bin", cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="origin"):
        get_file("x.bin")
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        get_file("a/x.bin", f"{base}/data.bin", cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="hash_algorithm"):
        get_file("data.bin", f"{base}/data.bin", hash_algorithm="sha1", cache_dir=tmp_path / "c")


def test_extraction_is_safe(tmp_path, local_only):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name in ("ok/fine.txt", "../escape.txt", "/abs/escape.txt"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        link = tarfile.TarInfo("ok/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../outside"
        tar.addfile(link)
    with pytest.warns(UserWarning, match="Skipping invalid path"):
        out = get_file("evil.tar.gz", evil.as_uri(), extract=True, cache_dir=tmp_path / "c")
    assert sorted(os.listdir(os.path.join(out, "ok"))) == ["fine.txt"]
    assert not os.path.exists(tmp_path / "c" / "datasets" / "escape.txt")
    assert not os.path.exists(tmp_path / "c" / "escape.txt")
    zipped = tmp_path / "evil.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("good.txt", "g")
        archive.writestr("../bad.txt", "b")
    with pytest.warns(UserWarning, match="Skipping invalid path"):
        out = get_file("evil.zip", zipped.as_uri(), extract=True, cache_dir=tmp_path / "z")
    assert os.listdir(out) == ["good.txt"] and not os.path.exists(tmp_path / "z" / "datasets" / "bad.txt")
