#!/usr/bin/env python3
"""A stand-in for the content server's ERP integration REST resource, for tests.

Implements, with basic authentication, on 127.0.0.1 only:
  POST /fscmRestApi/resources/11.13.18.05/erpintegrations
       {"OperationName":"uploadFileToUCM", ...}          -> {"DocumentId": "<id>", ...}
       {"OperationName":"getDocumentForDocumentId", ...} -> {"DocumentContent": ..., "FileName": ...}
  GET  /fscmRestApi/resources/11.13.18.05/erpintegrations
       ?finder=DocumentIdsByFilePrefixRF;filePrefix=P,docAccount=A,comment=
       -> {"items": [{"DocumentId": ..., "FileName": ..., "DocumentAccount": ...}], ...}
Documents are kept in memory.  A test controls it directly (UcmStub methods) to
answer 401 or 500, to stall, or to store a document and then drop the connection
before answering.  Python 3 standard library only.

Used by tests/cli/test_ucm.py; `python3 ucm_stub.py USER PASSWORD` runs one by
hand and prints its base URL.
"""

import base64
import binascii
import json
import socket
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCE = "/fscmRestApi/resources/11.13.18.05/erpintegrations"
MAX_BODY = 256 << 20


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class UcmStub:
    """The service.  start() binds 127.0.0.1 on a free port; url is its base."""

    def __init__(self, user="svc_onhand", password="s3cret-Pa55", tls=None):
        self.tls = tls  # (certificate file, key file): serve https
        self.user = user
        self.password = password
        self.lock = threading.Lock()
        self.documents = {}  # id -> dict(name, account, content)
        self.next_id = 1001
        self.log = []  # (method, operation or "list", status answered or "drop"/"stall")
        self.fail_uploads = []  # statuses to answer to the next uploads, in order
        self.drop_after_store = 0  # uploads to store and then answer nothing
        self.stall_seconds = 0.0  # uploads wait this long and store nothing
        self.stall_all = False  # every request stalls (listing too)
        self.force_status = None  # every request answers this status
        self.max_page = 500  # listing: at most this many items a page ("limit" may ask fewer)
        self.stopping = threading.Event()
        self.server = None
        self.thread = None

    # ---- control ----

    def start(self):
        stub = self

        class Handler(_Handler):
            pass

        Handler.stub = stub
        self.server = _Server(("127.0.0.1", 0), Handler)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                      self.server.server_address[1])

    def add_document(self, name, content, account):
        with self.lock:
            doc_id = str(self.next_id)
            self.next_id += 1
            self.documents[doc_id] = {"name": name, "account": account, "content": content}
            return doc_id

    def operations(self, op):
        with self.lock:
            return [e for e in self.log if e[1] == op]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    stub = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _log(self, method, op, outcome):
        with self.stub.lock:
            self.stub.log.append((method, op, outcome))

    def _authorized(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(h[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.stub.user and pw == self.stub.password

    def _gate(self, method, op):
        """Common checks; returns False when an answer was already given."""
        stub = self.stub
        if stub.stall_all:
            self._log(method, op, "stall")
            stub.stopping.wait(stub.stall_seconds or 30)
            self.close_connection = True
            return False
        if stub.force_status:
            self._log(method, op, stub.force_status)
            self._send(stub.force_status, {"title": "forced", "status": stub.force_status})
            return False
        if not self._authorized():
            self._log(method, op, 401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fscm"')
            body = b'{"title":"Unauthorized","detail":"Authentication failed"}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return False
        return True

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path != RESOURCE:
            self._send(404, {"title": "Not Found"})
            return
        if not self._gate("GET", "list"):
            return
        # finder=DocumentIdsByFilePrefixRF;filePrefix=P,docAccount=A,comment=
        params = {}
        finder = ""
        limit, offset = 25, 0  # the REST defaults
        for part in query.split("&"):
            k, _, v = part.partition("=")
            if k == "finder":
                finder = v
            elif k == "limit":
                limit = int(v)
            elif k == "offset":
                offset = int(v)
        limit = max(1, min(limit, self.stub.max_page))
        name, _, args = finder.partition(";")
        if name != "DocumentIdsByFilePrefixRF":
            self._log("GET", "list", 400)
            self._send(400, {"title": "Bad Request", "detail": "unknown finder"})
            return
        for a in args.split(","):
            k, _, v = a.partition("=")
            params[k] = urllib.parse.unquote(v)
        prefix = params.get("filePrefix", "")
        account = params.get("docAccount", "")
        with self.stub.lock:
            items = [{"DocumentId": i, "FileName": d["name"], "DocumentAccount": d["account"],
                      "ContentType": "zip"}
                     for i, d in sorted(self.stub.documents.items(), key=lambda x: int(x[0]))
                     if d["name"].startswith(prefix) and d["account"] == account]
        page = items[offset:offset + limit]
        self._log("GET", "list", 200)
        self._send(200, {"items": page, "count": len(page),
                         "hasMore": offset + len(page) < len(items),
                         "limit": limit, "offset": offset})

    def do_POST(self):
        stub = self.stub
        if self.path != RESOURCE:
            self._send(404, {"title": "Not Found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._send(400, {"title": "Bad Request", "detail": "Content-Length required"})
            return
        raw = self.rfile.read(length)
        try:
            req = json.loads(raw)
            op = req.get("OperationName")
        except (ValueError, AttributeError):
            self._send(400, {"title": "Bad Request", "detail": "not JSON"})
            return
        if not self._gate("POST", op):
            return
        if op == "uploadFileToUCM":
            self._upload(req)
        elif op == "getDocumentForDocumentId":
            doc = stub.documents.get(str(req.get("DocumentId")))
            if doc is None:
                self._log("POST", op, 404)
                self._send(404, {"title": "Not Found", "detail": "no such document"})
                return
            self._log("POST", op, 200)
            self._send(200, {"OperationName": op, "DocumentId": req.get("DocumentId"),
                             "DocumentContent": base64.b64encode(doc["content"]).decode(),
                             "FileName": doc["name"], "ContentType": "zip",
                             "DocumentTitle": doc["name"], "DocumentAuthor": stub.user})
        else:
            self._log("POST", op, 400)
            self._send(400, {"title": "Bad Request", "detail": "unknown OperationName"})

    def _upload(self, req):
        stub = self.stub
        op = "uploadFileToUCM"
        with stub.lock:
            fail = stub.fail_uploads.pop(0) if stub.fail_uploads else None
            drop = stub.drop_after_store > 0
            if drop:
                stub.drop_after_store -= 1
        if fail:
            self._log("POST", op, fail)
            self._send(fail, {"title": "Internal Server Error" if fail >= 500 else "Error",
                              "detail": "injected failure %d" % fail})
            return
        if stub.stall_seconds:
            self._log("POST", op, "stall")
            stub.stopping.wait(stub.stall_seconds)
            self.close_connection = True
            return
        try:
            for k in ("DocumentContent", "DocumentAccount", "ContentType", "FileName"):
                if not isinstance(req.get(k), str):
                    raise ValueError(k)
            if "DocumentId" not in req or req["DocumentId"] is not None:
                raise ValueError("DocumentId")
            content = base64.b64decode(req["DocumentContent"], validate=True)
        except (ValueError, binascii.Error) as e:
            self._log("POST", op, 400)
            self._send(400, {"title": "Bad Request", "detail": "bad field %s" % e})
            return
        doc_id = stub.add_document(req["FileName"], content, req["DocumentAccount"])
        if drop:
            self._log("POST", op, "drop")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._log("POST", op, 200)
        self._send(200, {"OperationName": op, "DocumentId": doc_id,
                         "DocumentContent": None, "FileName": req["FileName"],
                         "ContentType": "zip", "DocumentAccount": req["DocumentAccount"]})


if __name__ == "__main__":
    import sys
    import time
    stub = UcmStub(*sys.argv[1:3]).start()
    print(stub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()
