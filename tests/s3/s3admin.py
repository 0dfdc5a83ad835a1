#!/usr/bin/env python3
"""Independent S3 / local-directory client for s3blockfs tests.

It shares no code with s3blockfs, so tests can use it to check what the daemon
wrote (and to write volumes the way the Python library sqlite-s3vfs does).

Usage: s3admin.py [options] COMMAND ARGS

  ls PREFIX                    every key starting with PREFIX, recursive:
                               "SIZE KEY" lines, key order
  cat-volume PREFIX OUT        concatenate PREFIX/%010d blocks in key order
                               into OUT ("-" = stdout)
  check-layout PREFIX [--block-size N]
                               check the DESIGN.md section 2 layout of volume
                               PREFIX; exit 0 and print "OK ..." or exit 1 and
                               print "FAIL ...: <first violation>"
  put-volume FILE PREFIX --block-size N [--replace]
                               write FILE as blocks "PREFIX/%010d" (full
                               blocks, last one unpadded, none for an empty
                               file), like sqlite-s3vfs's deserialize;
                               --replace first deletes everything under PREFIX/
  mb BUCKET                    create a bucket (already owned = success)
  rm-prefix PREFIX             delete every key starting with PREFIX

Options:
  --local DIR       use a local backend directory (key K is file DIR/K)
                    instead of S3; mb then creates DIR/BUCKET
  --bucket B        bucket (default $S3_BUCKET)
  --stdlib          use the built-in SigV4 client even if boto3 is importable
  --retry-secs N    retry failed requests (connection errors, 5xx, and for mb
                    also 403 while a new user propagates) for up to N seconds
                    (default 10)

S3 settings come from the environment, as printed by rgw-start.sh:
S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_REGION (default us-east-1).
Exit codes: 0 ok, 1 check failed / error, 2 usage.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

BLOCK_RE = re.compile(r"^[0-9]{10}$")
MAX_BLOCK = 1 << 30  # sanity ceiling for one block read into memory


class S3Error(Exception):
    def __init__(self, status, code, msg=""):
        super().__init__(f"HTTP {status} {code} {msg or ''}".strip())
        self.status, self.code = status, code


def die(msg, code=1):
    print(f"s3admin: {msg}", file=sys.stderr)
    sys.exit(code)


# --------------------------------------------------------------------------
# Backends: list(prefix) -> [(key, size)] sorted; get(key) -> bytes;
# put(key, bytes); delete(keys); mb(bucket).
# --------------------------------------------------------------------------

class LocalStore:
    """Local backend directory: key K is the file DIR/K."""

    name = "local"

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def _path(self, key):
        p = os.path.normpath(os.path.join(self.root, key))
        if not (p == self.root or p.startswith(self.root + os.sep)):
            raise ValueError(f"key escapes the directory: {key!r}")
        return p

    def list(self, prefix):
        # Walk only the deepest directory that the prefix names fully.
        d = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(d) if d else self.root
        out = []
        if not os.path.isdir(start):
            return out
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for f in filenames:
                full = os.path.join(dirpath, f)
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    out.append((key, os.lstat(full).st_size))
        out.sort()
        return out

    def get(self, key):
        with open(self._path(key), "rb") as f:
            return f.read(MAX_BLOCK + 1)

    def put(self, key, data):
        p = self._path(key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = p + ".s3admin-tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, p)

    def delete(self, keys):
        for k in keys:
            try:
                os.unlink(self._path(k))
            except FileNotFoundError:
                pass

    def mb(self, bucket):
        os.makedirs(self._path(bucket), exist_ok=True)


def _retrying(fn, retry_secs, retry_403=False):
    """Call fn() until it succeeds, retrying transient failures."""
    deadline = time.monotonic() + retry_secs
    delay = 0.2
    while True:
        try:
            return fn()
        except S3Error as e:
            transient = e.status >= 500 or (retry_403 and e.status == 403)
            if not transient or time.monotonic() >= deadline:
                raise
            err = e
        except (OSError, http.client.HTTPException) as e:
            if time.monotonic() >= deadline:
                raise
            err = e
        print(f"s3admin: retrying after: {err}", file=sys.stderr)
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


class StdlibS3:
    """Minimal path-style S3 client with SigV4, stdlib only."""

    name = "stdlib"

    def __init__(self, endpoint, ak, sk, region, bucket, retry_secs):
        u = urllib.parse.urlparse(endpoint)
        if u.scheme not in ("http", "https"):
            die(f"bad S3_ENDPOINT {endpoint!r}")
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.https else 80)
        default = 443 if self.https else 80
        self.hosthdr = u.hostname if self.port == default and not u.port else u.netloc
        self.ak, self.sk, self.region, self.bucket = ak, sk, region, bucket
        self.retry_secs = retry_secs
        self.conn = None

    @staticmethod
    def _q(s, safe="-_.~"):
        return urllib.parse.quote(s, safe=safe)

    def _sign(self, method, path, query, headers, body):
        now = datetime.datetime.now(datetime.timezone.utc)
        amzdate = now.strftime("%Y%m%dT%H%M%SZ")
        ds = now.strftime("%Y%m%d")
        ph = hashlib.sha256(body).hexdigest()
        h = {k.lower(): str(v).strip() for k, v in headers.items()}
        h["host"] = self.hosthdr
        h["x-amz-date"] = amzdate
        h["x-amz-content-sha256"] = ph
        signed = sorted(h)
        creq = "\n".join([
            method,
            self._q(path, "/-_.~"),
            "&".join(f"{self._q(k)}={self._q(v)}" for k, v in sorted(query.items())),
            "".join(f"{k}:{h[k]}\n" for k in signed),
            ";".join(signed),
            ph])
        scope = f"{ds}/{self.region}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + self.sk).encode()
        for part in (ds, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.ak}/{scope}, "
                              f"SignedHeaders={';'.join(signed)}, Signature={sig}")
        return h

    def _once(self, method, path, query, headers, body):
        h = self._sign(method, path, query, headers, body)
        url = self._q(path, "/-_.~")
        if query:
            url += "?" + "&".join(f"{self._q(k)}={self._q(v)}"
                                  for k, v in sorted(query.items()))
        if self.conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.conn = cls(self.host, self.port, timeout=60)
        try:
            self.conn.request(method, url, body=body if body or method in ("PUT", "POST") else None,
                              headers=h)
            r = self.conn.getresponse()
            data = r.read()
            if r.getheader("content-length") is not None and \
                    method != "HEAD" and len(data) != int(r.getheader("content-length")):
                raise http.client.IncompleteRead(data)
        except Exception:
            self.conn.close()
            self.conn = None
            raise
        if r.status >= 300:
            code = ""
            try:
                code = ET.fromstring(data).findtext("Code") or ""
            except ET.ParseError:
                pass
            raise S3Error(r.status, code, data[:200].decode(errors="replace") if not code else "")
        return r, data

    def req(self, method, path, query=None, headers=None, body=b"", retry_403=False):
        return _retrying(lambda: self._once(method, path, query or {}, headers or {}, body),
                         self.retry_secs, retry_403)

    def _kpath(self, key):
        return f"/{self.bucket}/{key}"

    def list(self, prefix):
        out, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if token:
                q["continuation-token"] = token
            _, data = self.req("GET", f"/{self.bucket}", q)
            root = ET.fromstring(data)
            for e in root.iter():
                if "}" in e.tag:
                    e.tag = e.tag.split("}", 1)[1]
            for c in root.findall("Contents"):
                out.append((c.findtext("Key"), int(c.findtext("Size"))))
            if root.findtext("IsTruncated") != "true":
                break
            token = root.findtext("NextContinuationToken")
            if not token:
                die("listing truncated without a continuation token")
        out.sort()
        return out

    def get(self, key):
        _, data = self.req("GET", self._kpath(key))
        return data

    def put(self, key, data):
        self.req("PUT", self._kpath(key), body=data,
                 headers={"content-length": str(len(data))})

    def delete(self, keys):
        keys = list(keys)
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            root = ET.Element("Delete")
            ET.SubElement(root, "Quiet").text = "true"
            for k in batch:
                ET.SubElement(ET.SubElement(root, "Object"), "Key").text = k
            xml = ET.tostring(root)
            md5 = base64.b64encode(hashlib.md5(xml).digest()).decode()
            _, data = self.req("POST", f"/{self.bucket}", {"delete": ""}, body=xml,
                               headers={"content-md5": md5,
                                        "content-type": "application/xml"})
            if b"<Error>" in data:
                die(f"DeleteObjects reported errors: {data[:300]!r}")

    def mb(self, bucket):
        try:
            self.req("PUT", f"/{bucket}", body=b"", retry_403=True)
        except S3Error as e:
            if e.status == 409 and e.code == "BucketAlreadyOwnedByYou":
                return
            raise


class Boto3S3:
    name = "boto3"

    def __init__(self, boto3, endpoint, ak, sk, region, bucket, retry_secs):
        from botocore.config import Config
        kw = dict(s3={"addressing_style": "path"}, retries={"max_attempts": 0},  # retries: ours, below
                  connect_timeout=30, read_timeout=60)
        try:
            # boto3 >= 1.36 adds CRC checksums and aws-chunked uploads by
            # default, which many S3-compatible servers reject
            cfg = Config(request_checksum_calculation="when_required",
                         response_checksum_validation="when_required", **kw)
        except TypeError:
            cfg = Config(**kw)
        self.c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak,
                              aws_secret_access_key=sk, region_name=region, config=cfg)
        self.bucket, self.retry_secs = bucket, retry_secs

    def _call(self, fn, retry_403=False):
        import botocore.exceptions as bx
        transient = tuple(c for c in (
            getattr(bx, "HTTPClientError", None), getattr(bx, "ConnectionError", None),
            getattr(bx, "IncompleteReadError", None)) if c is not None)

        def once():
            try:
                return fn()
            except bx.ClientError as e:
                r = e.response
                raise S3Error(r.get("ResponseMetadata", {}).get("HTTPStatusCode", 0),
                              r.get("Error", {}).get("Code", ""),
                              r.get("Error", {}).get("Message", "")) from None
            except transient as e:
                raise ConnectionError(f"{type(e).__name__}: {e}") from None
            except Exception as e:
                if type(e).__module__.startswith("urllib3"):
                    raise ConnectionError(f"{type(e).__name__}: {e}") from None
                raise
        return _retrying(once, self.retry_secs, retry_403)

    def list(self, prefix):
        out, token = [], None
        while True:
            kw = dict(Bucket=self.bucket, Prefix=prefix, MaxKeys=1000)
            if token:
                kw["ContinuationToken"] = token
            r = self._call(lambda: self.c.list_objects_v2(**kw))
            out += [(o["Key"], o["Size"]) for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                break
            token = r.get("NextContinuationToken")
            if not token:
                die("listing truncated without a continuation token")
        out.sort()
        return out

    def get(self, key):
        return self._call(lambda: self.c.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key, data):
        self._call(lambda: self.c.put_object(Bucket=self.bucket, Key=key, Body=data))

    def delete(self, keys):
        keys = list(keys)
        for i in range(0, len(keys), 1000):
            objs = [{"Key": k} for k in keys[i:i + 1000]]
            r = self._call(lambda: self.c.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objs, "Quiet": True}))
            if r.get("Errors"):
                die(f"DeleteObjects reported errors: {r['Errors'][:3]}")

    def mb(self, bucket):
        try:
            self._call(lambda: self.c.create_bucket(Bucket=bucket), retry_403=True)
        except S3Error as e:
            if e.status == 409 and e.code == "BucketAlreadyOwnedByYou":
                return
            raise


def import_boto3():
    """boto3 if importable; on Debian's own python3 try apt once."""
    try:
        import boto3
        return boto3
    except ImportError:
        pass
    if (os.environ.get("S3ADMIN_NO_INSTALL") != "1" and os.geteuid() == 0
            and os.path.realpath(sys.executable).startswith("/usr/bin/python3")
            and shutil.which("apt-get")):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "python3-boto3"]
        print("s3admin: installing python3-boto3 with apt-get", file=sys.stderr)
        ok = subprocess.call(cmd, env=env, stdout=sys.stderr, timeout=600) == 0
        if not ok:
            subprocess.call(["apt-get", "update", "-q"], env=env, stdout=sys.stderr, timeout=600)
            subprocess.call(cmd, env=env, stdout=sys.stderr, timeout=600)
        try:
            import boto3
            return boto3
        except ImportError:
            pass
    return None


def make_store(args):
    if args.local:
        return LocalStore(args.local)
    env = os.environ
    missing = [v for v in ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY") if not env.get(v)]
    if missing:
        die(f"set {' '.join(missing)} (eval \"$(tests/s3/rgw-start.sh)\") or use --local DIR", 2)
    bucket = args.bucket or env.get("S3_BUCKET", "")
    region = env.get("S3_REGION") or "us-east-1"
    boto3 = None if args.stdlib else import_boto3()
    if boto3 is not None:
        return Boto3S3(boto3, env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"],
                       region, bucket, args.retry_secs)
    return StdlibS3(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"],
                    region, bucket, args.retry_secs)


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

def volume_prefix(p):
    p = p.rstrip("/")
    if not p:
        die("empty volume prefix", 2)
    return p + "/"


def cmd_ls(st, args):
    for k, size in st.list(args.prefix):
        print(f"{size:12d} {k}")
    return 0


def cmd_cat_volume(st, args):
    vp = volume_prefix(args.prefix)
    objs = st.list(vp)
    blocks = [k for k, _ in objs if BLOCK_RE.match(k[len(vp):])]
    other = [k for k, _ in objs if not BLOCK_RE.match(k[len(vp):])]
    if other:
        print(f"s3admin: warning: {len(other)} non-block keys under {vp} ignored, "
              f"first: {other[0]}", file=sys.stderr)
    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    n = 0
    try:
        for k in blocks:
            data = st.get(k)
            out.write(data)
            n += len(data)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    print(f"s3admin: wrote {n} bytes from {len(blocks)} blocks", file=sys.stderr)
    return 0


def check_layout(objs, vp, bs):
    """Return (ok, message) for the objects [(key, size)] under vp."""
    blocks = []
    for k, size in objs:
        rest = k[len(vp):]
        if not BLOCK_RE.match(rest):
            return False, f"object {k!r} is not a block key (only {vp}<10 digits> may exist)"
        blocks.append((int(rest), k, size))
    blocks.sort()
    if not blocks:
        return True, "empty volume (no objects)"
    for i, (n, k, _) in enumerate(blocks):
        if n != i:
            return False, (f"blocks are not contiguous: block {i:010d} is missing "
                           f"(next present is {k!r}, {len(blocks)} blocks in all)")
    nblk = len(blocks)
    if bs is None:
        bs = blocks[0][2] if nblk >= 2 else None
        how = "inferred from block 0"
    else:
        how = "given"
    if bs is not None and bs <= 0:
        return False, f"block 0 is empty ({bs} bytes); a block must hold >= 1 byte"
    for n, k, size in blocks[:-1]:
        if size != bs:
            return False, (f"block {k!r} is {size} bytes but is not the last block; every "
                           f"block but the last must be exactly the block size {bs} ({how})")
    n, k, size = blocks[-1]
    if size < 1:
        return False, f"last block {k!r} is empty; the last block must hold 1..block size bytes"
    if bs is not None and size > bs:
        return False, f"last block {k!r} is {size} bytes, more than the block size {bs} ({how})"
    total = (nblk - 1) * (bs or 0) + size
    bstxt = f"block size {bs} ({how})" if bs is not None else "block size unknown (1 block)"
    return True, f"{nblk} blocks, {bstxt}, size {total} bytes"


def cmd_check_layout(st, args):
    vp = volume_prefix(args.prefix)
    if args.block_size is not None and args.block_size <= 0:
        die("--block-size must be positive", 2)
    ok, msg = check_layout(st.list(vp), vp, args.block_size)
    where = f"{args.local}:" if args.local else ""
    print(f"{'OK' if ok else 'FAIL'} {where}{vp}: {msg}")
    return 0 if ok else 1


def cmd_put_volume(st, args):
    bs = args.block_size
    if bs <= 0:
        die("--block-size must be positive", 2)
    vp = volume_prefix(args.prefix)
    if args.replace:
        old = [k for k, _ in st.list(vp)]
        if old:
            st.delete(old)
    n = 0
    with open(args.file, "rb") as f:
        while True:
            chunk = f.read(bs)
            if not chunk:
                break
            # a short read before EOF (pipes) must not produce a short block
            while len(chunk) < bs:
                more = f.read(bs - len(chunk))
                if not more:
                    break
                chunk += more
            st.put(f"{vp}{n:010d}", chunk)
            n += 1
    print(f"s3admin: wrote {n} blocks of {bs} bytes under {vp}", file=sys.stderr)
    return 0


def cmd_mb(st, args):
    st.mb(args.bucket_name)
    print(f"s3admin: bucket {args.bucket_name} ready ({st.name})", file=sys.stderr)
    return 0


def cmd_rm_prefix(st, args):
    if not args.prefix:
        die("refusing an empty prefix (would delete the whole bucket)", 2)
    keys = [k for k, _ in st.list(args.prefix)]
    st.delete(keys)
    print(f"s3admin: deleted {len(keys)} objects", file=sys.stderr)
    return 0


def main():
    ap = argparse.ArgumentParser(prog="s3admin.py", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    ap.add_argument("--local", metavar="DIR")
    ap.add_argument("--bucket")
    ap.add_argument("--stdlib", action="store_true")
    ap.add_argument("--retry-secs", type=float, default=10.0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ls")
    p.add_argument("prefix")
    p.set_defaults(fn=cmd_ls)
    p = sub.add_parser("cat-volume")
    p.add_argument("prefix")
    p.add_argument("out")
    p.set_defaults(fn=cmd_cat_volume)
    p = sub.add_parser("check-layout")
    p.add_argument("prefix")
    p.add_argument("--block-size", type=int)
    p.add_argument("--local", dest="local_sub", metavar="DIR")
    p.set_defaults(fn=cmd_check_layout)
    p = sub.add_parser("put-volume")
    p.add_argument("file")
    p.add_argument("prefix")
    p.add_argument("--block-size", type=int, required=True)
    p.add_argument("--replace", action="store_true")
    p.set_defaults(fn=cmd_put_volume)
    p = sub.add_parser("mb")
    p.add_argument("bucket_name")
    p.set_defaults(fn=cmd_mb)
    p = sub.add_parser("rm-prefix")
    p.add_argument("prefix")
    p.set_defaults(fn=cmd_rm_prefix)
    args = ap.parse_args()
    if getattr(args, "local_sub", None):
        args.local = args.local_sub
    try:
        st = make_store(args)
        return args.fn(st, args)
    except (S3Error, OSError, http.client.HTTPException, ValueError) as e:
        die(f"{args.cmd}: {e}")
    except Exception as e:  # boto3's own errors (endpoint, credentials)
        die(f"{args.cmd}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main())
