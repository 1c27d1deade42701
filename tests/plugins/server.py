"""The shared core of the reference plugins: Docker's plugin protocol served on a
unix socket with the standard library, every call logged, faults on demand.

A plugin is a dict of handlers {"NetworkDriver.Join": fn(payload) -> answer}. Run
as `python -m plugins.NAME SOCKET LOG [FAULTS]` (tests/ on sys.path): it serves
SOCKET, appends one JSON line per call to LOG ({"method", "payload"}), and reads
FAULTS (a JSON file, re-read at every call so a test can change it while the
plugin runs): {"Method": "err" | "err500" | "hang" | "die" | "garbage" | "404" |
"late"} ("late": the call is done, its answer never sent).
"""

from __future__ import annotations

import json
import os
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler

MIME = "application/vnd.docker.plugins.v1.1+json"  # what go-plugins-helpers answers


class PluginError(Exception):
    """A handler's refusal: answered as {"Err": message} (HTTP 500, the SDK's way)."""


def serve(handlers: dict, implements: list[str]) -> None:
    """Serve `handlers` on argv's socket until killed."""
    sock_path, log_path = sys.argv[1], sys.argv[2]
    faults_path = sys.argv[3] if len(sys.argv) > 3 else ""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            method = self.path.lstrip("/")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            payload = json.loads(raw) if raw else None
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"method": method, "payload": payload}) + "\n")
            fault = _faults(faults_path).get(method)
            if fault == "hang":
                time.sleep(3600)
            if fault == "die":
                os._exit(1)
            if fault == "garbage":
                return self._send(200, b"{not json")
            if fault == "404" or (method not in handlers and method != "Plugin.Activate"):
                return self._send(404, b"404 page not found\n")
            if fault == "err":
                return self._answer(200, {"Err": f"{method} refused by test"})
            if fault == "err500":
                return self._answer(500, {"Err": f"{method} refused by test"})
            if method == "Plugin.Activate":
                return self._answer(200, {"Implements": implements})
            try:
                answer = handlers[method](payload or {})
                if fault == "late":
                    time.sleep(3600)
                self._answer(200, answer)
            except PluginError as exc:
                self._answer(500, {"Err": str(exc)})

        def _answer(self, status: int, doc: dict) -> None:
            self._send(status, json.dumps(doc).encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", MIME)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # the call log is LOG, not stderr
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    if os.path.exists(sock_path):
        os.unlink(sock_path)
    with Server(sock_path, Handler) as server:
        server.serve_forever()


def _faults(path: str) -> dict:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
