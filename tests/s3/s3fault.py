#!/usr/bin/env python3
"""s3fault.py - a tiny S3 look-alike on 127.0.0.1 that misbehaves on purpose,
for checking how the S3 client (src/s3.c, src/http.c) reacts to replies a
real server rarely sends.  It does not check signatures.

  s3fault.py PORT            serves until killed; prints "ready" when listening

The object key (after /BUCKET/) picks the fault; everything else is stored
in memory like a plain bucket:
  slowdown-N-*   503 SlowDown for the first N requests to that key, then OK
  err500*        always 500 InternalError
  truncate*      GET: announces 100 bytes, sends 50, closes the connection
  shortrange*    GET: 206 bytes 0-49/1000 when more was asked (short, not at end)
  widerange*     GET: 206 with a Content-Range wider than asked
  norange*       GET: ignores Range, 200 with the whole 1000-byte object
  huge*          GET: ignores Range, 200 with 1 MiB
  hang*          never answers
  redirect*      301 PermanentRedirect, x-amz-bucket-region: eu-west-1
  copyerr*       CopyObject to it: 200 with an <Error> body
  gone*          DeleteObjects: per-key <Error> AccessDenied for it
ListObjectsV2 with prefix "malformed" gets broken XML, "trunc" a cut one,
"badorder" keys out of order, "loop" the same continuation token forever.
"""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, parse_qs, urlsplit
from xml.sax.saxutils import escape

OBJECTS = {}
COUNTS = {}
LOCK = threading.Lock()
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def err_body(code, msg="x"):
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f'<Message>{msg}</Message><RequestId>FAULT-{code}</RequestId></Error>').encode()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body=b"", headers=None, ctype="application/xml"):
        self.send_response(status)
        self.send_header("x-amz-request-id", "REQ-%d" % status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.command != "HEAD" or "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", ctype)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def parse(self):
        u = urlsplit(self.path)
        parts = u.path.split("/", 2)
        bucket = unquote(parts[1]) if len(parts) > 1 else ""
        key = unquote(parts[2]) if len(parts) > 2 else ""
        q = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        return bucket, key, q, body

    def common_fault(self, key):
        if key.startswith("slowdown-"):
            n = int(key.split("-")[1])
            with LOCK:
                c = COUNTS.get(key, 0)
                COUNTS[key] = c + 1
            if c < n:
                self.send(503, err_body("SlowDown", "Please reduce your request rate."))
                return True
        if key.startswith("err500"):
            self.send(500, err_body("InternalError"))
            return True
        if key.startswith("hang"):
            time.sleep(3600)
            return True
        if key.startswith("redirect"):
            self.send(301, err_body("PermanentRedirect"), {"x-amz-bucket-region": "eu-west-1"})
            return True
        return False

    def do_HEAD(self):
        bucket, key, q, body = self.parse()
        if self.common_fault(key):
            return
        with LOCK:
            data = OBJECTS.get(key)
        if data is None:
            self.send(404, b"", {"Content-Length": "0"})
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            self.end_headers()

    def do_GET(self):
        bucket, key, q, body = self.parse()
        if not key and q.get("list-type") == "2":
            return self.list(q)
        if self.common_fault(key):
            return
        rng = self.headers.get("Range", "")
        a, b = 0, None
        if rng.startswith("bytes="):
            s, e = rng[6:].split("-")
            a, b = int(s), int(e)
        if key.startswith("truncate"):
            self.send_response(206)
            self.send_header("Content-Length", "100")
            self.send_header("Content-Range", "bytes %d-%d/1000" % (a, a + 99))
            self.end_headers()
            self.wfile.write(b"x" * 50)
            self.wfile.flush()
            self.close_connection = True
            return
        if key.startswith("shortrange"):
            return self.send(206, b"s" * 50, {"Content-Range": "bytes %d-%d/1000" % (a, a + 49)})
        if key.startswith("widerange"):
            n = b - a + 11
            return self.send(206, b"w" * n, {"Content-Range": "bytes %d-%d/100000" % (a, a + n - 1)})
        if key.startswith("norange"):
            return self.send(200, bytes(i % 251 for i in range(1000)))
        if key.startswith("huge"):
            return self.send(200, b"h" * (1 << 20))
        with LOCK:
            data = OBJECTS.get(key)
        if data is None:
            return self.send(404, err_body("NoSuchKey"))
        if b is None:
            return self.send(200, data)
        if a >= len(data):
            return self.send(416, err_body("InvalidRange"))
        b = min(b, len(data) - 1)
        self.send(206, data[a:b + 1], {"Content-Range": "bytes %d-%d/%d" % (a, b, len(data))})

    def list(self, q):
        prefix = q.get("prefix", "")
        if prefix.startswith("malformed"):
            return self.send(200, b"<ListBucketResult><Contents><Key>a</Key></Size></ListBucketResult>")
        if prefix.startswith("trunc"):
            return self.send(200, b'<?xml version="1.0"?><ListBucketResult ' + NS.encode() +
                             b"><IsTruncated>false</IsTruncated><Contents><Key>trunc1</Key><Size>1</Size>")
        if prefix.startswith("badorder"):
            return self.send(200, ("<ListBucketResult %s><IsTruncated>false</IsTruncated>"
                                   "<Contents><Key>badorder/b</Key><Size>1</Size></Contents>"
                                   "<Contents><Key>badorder/a</Key><Size>1</Size></Contents>"
                                   "</ListBucketResult>" % NS).encode())
        if prefix.startswith("loop"):
            return self.send(200, ("<ListBucketResult %s><IsTruncated>true</IsTruncated>"
                                   "<NextContinuationToken>same</NextContinuationToken>"
                                   "</ListBucketResult>" % NS).encode())
        with LOCK:
            keys = sorted(k for k in OBJECTS if k.startswith(prefix))
        x = "".join("<Contents><Key>%s</Key><Size>%d</Size></Contents>" % (escape(k), len(OBJECTS[k]))
                    for k in keys)
        self.send(200, ("<ListBucketResult %s><IsTruncated>false</IsTruncated>%s</ListBucketResult>"
                        % (NS, x)).encode())

    def do_PUT(self):
        bucket, key, q, body = self.parse()
        if self.common_fault(key):
            return
        src = self.headers.get("x-amz-copy-source")
        if src:
            if key.startswith("copyerr"):
                return self.send(200, err_body("InternalError", "copy failed half-way"))
            skey = unquote(src).split("/", 2)[2]
            with LOCK:
                data = OBJECTS.get(skey)
                if data is None:
                    return self.send(404, err_body("NoSuchKey"))
                OBJECTS[key] = data
            return self.send(200, ('<CopyObjectResult><LastModified>2024-01-01T00:00:00.000Z'
                                   '</LastModified><ETag>"x"</ETag></CopyObjectResult>').encode())
        with LOCK:
            OBJECTS[key] = body
        self.send(200, b"", {"ETag": '"x"'})

    def do_DELETE(self):
        bucket, key, q, body = self.parse()
        if self.common_fault(key):
            return
        with LOCK:
            OBJECTS.pop(key, None)
        self.send(204)

    def do_POST(self):
        bucket, key, q, body = self.parse()
        if "delete" not in q:
            return self.send(400, err_body("InvalidRequest"))
        import xml.etree.ElementTree as ET
        root = ET.fromstring(body)
        errs = []
        for k in root.iter("{http://s3.amazonaws.com/doc/2006-03-01/}Key"):
            name = k.text or ""
            if name.startswith("gone"):
                errs.append(name)
                continue
            with LOCK:
                OBJECTS.pop(name, None)
        x = "".join("<Error><Key>%s</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                    % escape(k) for k in errs)
        self.send(200, ("<DeleteResult %s>%s</DeleteResult>" % (NS, x)).encode())


def main():
    port = int(sys.argv[1])
    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
