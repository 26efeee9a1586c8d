"""`make serve` compresses text like a static host: the bytes decompress to the file on disk, and gzip is used only
when the request allows it. A browser that leaves mid-download is not reported as a server error."""

from __future__ import annotations

import gzip
import http.client
import os
import socket
import struct
import time
import urllib.error
import urllib.request

import pytest

from gradcourse.book.serve import accepts_gzip, serving

FILES = {"index.html": b"<!doctype html><p>" + b"gradient " * 500, "_static/app.js": b"let x = 1;\n" * 300,
         "_static/icons.woff2": bytes(range(256)) * 8}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for name, body in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    with serving(root) as url:
        yield url


def fetch(url: str, accept: str | None):
    request = urllib.request.Request(url, headers={"Accept-Encoding": accept} if accept is not None else {})
    with urllib.request.urlopen(request) as response:
        return response.headers, response.read()


@pytest.mark.parametrize("name", ["index.html", "_static/app.js"])
def test_text_is_gzipped_and_decompresses_to_the_file(site, name):
    headers, body = fetch(f"{site}/{name}", "gzip, deflate, br")
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(body) < len(FILES[name])
    assert gzip.decompress(body) == FILES[name]


def test_a_folder_serves_its_index_gzipped(site):
    headers, body = fetch(f"{site}/", "gzip")
    assert headers["Content-Encoding"] == "gzip" and headers["Content-Type"] == "text/html"
    assert gzip.decompress(body) == FILES["index.html"]


@pytest.mark.parametrize("accept", [None, "", "identity", "br", "gzip;q=0", "*;q=0", "br, *;q=0"])
def test_no_gzip_unless_the_request_allows_it(site, accept):
    headers, body = fetch(f"{site}/_static/app.js", accept)
    assert headers["Content-Encoding"] is None
    assert body == FILES["_static/app.js"]


def test_fonts_are_sent_as_they_are(site):
    headers, body = fetch(f"{site}/_static/icons.woff2", "gzip")
    assert headers["Content-Encoding"] is None and body == FILES["_static/icons.woff2"]


def test_one_connection_carries_a_page_s_files_one_after_the_other(site):
    """HTTP/1.1 keep-alive, as static hosts serve: a browser opens only six connections to a host at a time, and a
    page asks for some thirty files."""
    host, port = site.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    for name in ["index.html", "_static/app.js", "_static/icons.woff2", "_static/app.js"]:
        connection.request("GET", f"/{name}", headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        body = response.read()
        assert response.version == 11 and not response.will_close, name
        assert (gzip.decompress(body) if response.getheader("Content-Encoding") else body) == FILES[name]
    connection.close()


def test_a_missing_file_is_still_a_404(site):
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch(f"{site}/nope.js", "gzip")
    assert err.value.code == 404


@pytest.mark.parametrize(
    ("header", "allowed"),
    [("gzip", True), ("GZIP;q=0.5", True), ("deflate, gzip;q=1.0, *;q=0.5", True), ("*", True),
     ("gzip;q=0", False), ("gzip;q=0, *", False), ("identity", False), (None, False), ("gzip;q=bad", False)],
)
def test_accept_encoding_is_read_with_its_weights(header, allowed):
    assert accepts_gzip(header) is allowed


def test_a_reader_who_leaves_mid_download_is_no_server_error(tmp_path, capfd):
    (tmp_path / "big.woff2").write_bytes(os.urandom(8 << 20))  # sent as it is, far more than a socket buffers
    with serving(tmp_path) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(b"GET /big.woff2 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(1024).startswith(b"HTTP/1.1 200")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        time.sleep(0.5)
    assert "Traceback" not in capfd.readouterr().err
