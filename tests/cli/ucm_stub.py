#!/usr/bin/env python3
"""A stand-in for the content server's ERP integration REST resource, for tests.

Implements, with basic authentication, on 127.0.0.1 only:
  POST /fscmRestApi/resources/11.13.18.05/erpintegrations
       {"OperationName":"uploadFileToUCM", ...}          -> {"DocumentId": "<id>", ...}
       {"OperationName":"getDocumentForDocumentId", ...} -> {"DocumentContent": ..., "FileName": ...}
  GET  /fscmRestApi/resources/11.13.18.05/erpintegrations
       ?finder=DocumentIdsByFilePrefixRF;filePrefix=P,docAccount=A,comment=C
       -> {"items": [{"DocumentId": ..., "FileName": ..., "DocumentAccount": ...}], ...}

As the service does, the answer to uploadFileToUCM echoes the whole
DocumentContent beside the new DocumentId (Oracle's documented example
answer), and the finder's variables are read the service's way: the query
value is percent-decoded, then split at ';' and ','; each variable is
filePrefix, docAccount or comment, given once, with a value: an absent
value is written #NULL (%23NULL in the URL), and an empty one (`comment=`)
is refused with 400 like any malformed finder.

Documents are kept in memory.  A test controls it directly (UcmStub methods) to
answer 401, 429 or 500 (with Retry-After), to stall, or to store a document and
then drop the connection before answering.  Python 3 standard library only.

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
FINDER = "DocumentIdsByFilePrefixRF"
FINDER_VARIABLES = ("filePrefix", "docAccount", "comment")
NULL = "#NULL"  # the service's marker of an absent finder value
ECHO_SLICE = 1 << 20


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
        self.fail_uploads = []  # statuses (or (status, headers)) for the next uploads, in order
        self.fail_lists = []  # likewise for the next listings
        self.queries = []  # the raw query string of every listing
        self.id_after_content = False  # upload answer: DocumentId after the echoed content
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

    def _send(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _bad_request(self, op, detail):
        self._log("GET" if op == "list" else "POST", op, 400)
        self._send(400, {"title": "Bad Request", "status": "400", "detail": detail})

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
        with self.stub.lock:
            self.stub.queries.append(query)
            fail = self.stub.fail_lists.pop(0) if self.stub.fail_lists else None
        if fail:
            status, headers = fail if isinstance(fail, tuple) else (fail, {})
            self._log("GET", "list", status)
            self._send(status, {"title": "Error", "detail": "injected failure %d" % status},
                       headers)
            return
        args = {}
        for part in query.split("&"):
            k, eq, v = part.partition("=")
            k, v = urllib.parse.unquote(k), urllib.parse.unquote(v)
            if not eq or k in args:
                self._bad_request("list", "malformed query parameter %r" % k)
                return
            args[k] = v
        try:
            limit = int(args.get("limit", "25"))  # the REST default
            offset = int(args.get("offset", "0"))
            if limit < 1 or offset < 0:
                raise ValueError
        except ValueError:
            self._bad_request("list", "bad limit or offset")
            return
        limit = min(limit, self.stub.max_page)
        name, _, variables = args.get("finder", "").partition(";")
        if name != FINDER:
            self._bad_request("list", "unknown finder %r" % name)
            return
        params = {}
        for a in variables.split(","):
            k, eq, v = a.partition("=")
            if not eq or k not in FINDER_VARIABLES or k in params:
                self._bad_request("list", "finder %s: bad variable %r" % (FINDER, k))
                return
            if v == "":
                self._bad_request("list", "finder %s: variable %s has no value (an absent "
                                  "value is written %s)" % (FINDER, k, NULL))
                return
            params[k] = None if v == NULL else v
        prefix = params.get("filePrefix")
        if prefix is None:
            self._bad_request("list", "finder %s: filePrefix is required" % FINDER)
            return
        account = params.get("docAccount")
        comment = params.get("comment")
        with self.stub.lock:
            items = [{"DocumentId": i, "FileName": d["name"], "DocumentAccount": d["account"],
                      "ContentType": "zip"}
                     for i, d in sorted(self.stub.documents.items(), key=lambda x: int(x[0]))
                     if d["name"].startswith(prefix)
                     and (account is None or d["account"] == account)
                     and (comment is None or d.get("comment") == comment)]
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
            status, headers = fail if isinstance(fail, tuple) else (fail, {})
            self._log("POST", op, status)
            self._send(status, {"title": "Internal Server Error" if status >= 500 else "Error",
                                "detail": "injected failure %d" % status}, headers)
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
        self._send_upload_answer(req, doc_id)

    def _send_upload_answer(self, req, doc_id):
        """The service's answer: the request's attributes, the whole DocumentContent
        included, with the new DocumentId.  Written in slices, as it is long."""
        rest = {"FileName": req["FileName"], "ContentType": req["ContentType"],
                "FileType": None, "DocumentAccount": req["DocumentAccount"], "Comments": None,
                "ProcessName": None, "LoadRequestId": None, "JobPackageName": None,
                "JobDefName": None, "ReqstId": None, "RequestStatus": None, "JobName": None,
                "ParameterList": None, "NotificationCode": None, "CallbackURL": None,
                "JobOptions": None, "StatusCode": None, "ESSParameters": None,
                "links": [{"rel": "self", "href": "%s/%s" % (RESOURCE, req["OperationName"]),
                           "name": "erpintegrations", "kind": "item"}]}
        content = req["DocumentContent"]  # plain base64: nothing to escape in JSON
        ident = '"DocumentId":%s,' % json.dumps(doc_id)
        head = '{"OperationName":%s,%s"DocumentContent":"' % (
            json.dumps(req["OperationName"]), "" if self.stub.id_after_content else ident)
        tail = '",%s%s' % (ident if self.stub.id_after_content else "", json.dumps(rest)[1:])
        head, tail = head.encode(), tail.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + len(content) + len(tail)))
        self.end_headers()
        try:
            self.wfile.write(head)
            for i in range(0, len(content), ECHO_SLICE):
                self.wfile.write(content[i:i + ECHO_SLICE].encode("ascii"))
            self.wfile.write(tail)
        except OSError:
            self.close_connection = True


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
