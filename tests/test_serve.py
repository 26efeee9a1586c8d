"""`make serve` compresses text like a static host: the bytes decompress to the file on disk, and gzip is used only
when the request allows it."""

from __future__ import annotations

import gzip
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
