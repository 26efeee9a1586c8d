"""Serve the built book on localhost the way a static host does: text compressed with gzip when the browser accepts
it (GitHub Pages, Netlify and nginx all do), everything else as it is on disk.

`make serve`, the browser tests and ``bench/pages.py`` all serve through this module, so what they see and measure
is what a reader's browser gets.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import os
import sys
import threading
from email.utils import formatdate
from pathlib import Path

# Fonts (woff2 is already compressed), images and notebooks for download are sent as they are.
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")


def accepts_gzip(header: str | None) -> bool:
    """True when an Accept-Encoding header allows gzip (``gzip;q=0`` refuses it; ``*`` allows it)."""
    weights = {}
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name.strip().lower()] = q
    return weights.get("gzip", weights.get("*", 0.0)) > 0


@functools.lru_cache(maxsize=512)
def _gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    # Keyed on mtime and size, so a rebuilt file is compressed again; mtime=0 keeps the output reproducible.
    return gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)


class BookHandler(http.server.SimpleHTTPRequestHandler):
    # One connection carries a page's stylesheets, scripts and fonts one after the other, as with any static host:
    # HTTP/1.0 opened one per file, and a browser opens only six at a time to a host.
    protocol_version = "HTTP/1.1"
    # The status line and headers go out in one write, the body in another. With Nagle's algorithm on, the body of
    # a small file waited for the browser to acknowledge the headers, and a browser delays that acknowledgement:
    # 40 ms lost per file after a connection's first, as much as a whole page's parse. Static hosts turn it off
    # (nginx's tcp_nodelay is on by default).
    disable_nagle_algorithm = True

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path) and self.path.split("?", 1)[0].endswith("/"):
            path = os.path.join(path, "index.html")
        ctype = self.guess_type(path)
        if not (os.path.isfile(path) and ctype.startswith(COMPRESSIBLE)):
            return super().send_head()
        stat = os.stat(path)
        # Sent whether or not the body is compressed: a cache between us and the reader must keep both kinds apart.
        headers = {"Content-Type": ctype, "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
                   "Vary": "Accept-Encoding"}
        if accepts_gzip(self.headers.get("Accept-Encoding")):
            body = _gzipped(path, stat.st_mtime_ns, stat.st_size)
            headers["Content-Encoding"] = "gzip"
        else:
            body = Path(path).read_bytes()
        self.send_response(200)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        return io.BytesIO(body)


class QuietBookHandler(BookHandler):
    def log_message(self, *args) -> None:
        pass


class BookServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A browser that closes a tab mid-transfer (a font still arriving) is no server error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serving(site: Path, port: int = 0, quiet: bool = True):
    """Serve ``site`` on 127.0.0.1 in a background thread; yields its base URL (``port=0`` picks a free port)."""
    handler = functools.partial(QuietBookHandler if quiet else BookHandler, directory=str(site))
    server = BookServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
