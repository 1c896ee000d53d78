"""A loopback HTTP front for the in-process ClickHouse engine of the
`chdb-core` wheel (26.9), speaking the subset of ClickHouse's HTTP interface
that hive's ClickHouse store uses, so the store's tests run against the
current engine as well as against Debian's 18.16 server.

    python chdb_server.py --path DIR [--port 0] [--user U --password P]

prints `listening on http://127.0.0.1:PORT` once it serves. The subset:

- `POST /` with the statement as the body, or with `?query=` (an INSERT)
  and its data as the body;
- a `multipart/form-data` body (ClickHouse's external data): its field
  `query` is the statement, and each file is a table the statement reads
  by the file's field name, with the columns of `?NAME_structure=` in the
  format of `?NAME_format=` (`TabSeparated` by default);
- `?database=` (the current database of the statement), and any other
  parameter as a setting (`output_format_json_quote_64bit_integers=0`);
- HTTP basic authentication when `--user` is given;
- answers 200 with the result, or an error status with ClickHouse's
  `Code: N. DB::Exception: ...` text (401 bad credentials, 404 unknown
  database or table, 400 syntax, 500 otherwise).

One engine, one statement at a time (a lock): the engine's session has one
current database and one set of settings.
"""

import argparse
import base64
import email.parser
import email.policy
import re
import sys
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from chdb import session as chdb_session

# Parameters that are not settings.
NOT_SETTINGS = {"database", "query", "user", "password", "query_id", "session_id", "default_format"}
# CHDB_SLOW_MS=N logs statements that take N ms or more.
SLOW = int(os.environ["CHDB_SLOW_MS"]) if os.environ.get("CHDB_SLOW_MS") else None
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STRUCTURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]* [A-Za-z0-9()]+(, ?[A-Za-z_][A-Za-z0-9_]* [A-Za-z0-9()]+)*$")


def form_parts(content_type, body):
    """The fields and files of a multipart/form-data body: ({name: text},
    {name: bytes})."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_param("filename", header="content-disposition") is None:
            fields[name] = data.decode("utf-8")
        else:
            files[name] = data
    return fields, files


def status_of(message):
    m = re.search(r"Code: (\d+)", message)
    code = int(m.group(1)) if m else 0
    if code in (192, 193, 194, 516):
        return 401
    if code in (60, 81):
        return 404
    if code in (62,):
        return 400
    return 500


class Engine:
    def __init__(self, path):
        self.session = chdb_session.Session(path)
        self.lock = threading.Lock()
        self.database = None
        self.settings = {}

    def run(self, sql, database, settings, tables=()):
        """Run `sql`; `tables` are (name, structure, format, data) that it
        reads, made for it and dropped after (ClickHouse's external data)."""
        with self.lock:
            db = database or "default"
            if db != self.database:
                if not NAME.match(db):
                    raise ValueError("Code: 81. DB::Exception: bad database name")
                self.session.query(f"USE {db}")
                self.database = db
            for k, v in settings.items():
                if self.settings.get(k) == v:
                    continue
                if not NAME.match(k):
                    raise ValueError(f"Code: 115. DB::Exception: Unknown setting {k!r}")
                value = v if re.match(r"^-?[0-9.]+$", v) else "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
                self.session.query(f"SET {k} = {value}")
                self.settings[k] = v
            started = time.monotonic()
            made = []
            try:
                for name, structure, fmt, data in tables:
                    if not NAME.match(name) or not NAME.match(fmt) or not STRUCTURE.match(structure):
                        raise ValueError(f"Code: 36. DB::Exception: bad external table {name!r}")
                    self.session.query(f"DROP TABLE IF EXISTS {name}")
                    self.session.query(f"CREATE TABLE {name} ({structure}) ENGINE = Memory")
                    made.append(name)
                    if data:
                        # Through a file, which any format (RowBinary too)
                        # is read from as bytes.
                        with tempfile.NamedTemporaryFile(suffix=".data") as f:
                            f.write(data)
                            f.flush()
                            self.session.query(
                                f"INSERT INTO {name} SELECT * FROM file('{f.name}', '{fmt}', '{structure}')"
                            )
                result = self.session.query(sql, "TabSeparated")
            finally:
                for name in made:
                    self.session.query(f"DROP TABLE IF EXISTS {name}")
            took = time.monotonic() - started
            if SLOW is not None and took * 1000 >= SLOW:
                print(f"slow: {took * 1000:.0f} ms: {sql[:300]!r}", file=sys.stderr, flush=True)
            return result.bytes() if result is not None else b""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go in two writes: without this, Nagle's algorithm
    # and the client's delayed ACK hold every answer up by 40 ms.
    disable_nagle_algorithm = True
    engine = None
    credentials = None

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self, params):
        if self.credentials is None:
            return True
        user, password = params.get("user"), params.get("password", "")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                return False
        return (user, password) == self.credentials

    def do_GET(self):
        # `GET /` and `/ping` answer "Ok." as ClickHouse does.
        self.answer(200, b"Ok.\n")

    def do_POST(self):
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        if not self.authorized(params):
            self.answer(401, b"Code: 516. DB::Exception: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)\n")
            return
        tables = []
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            fields, files = form_parts(content_type, body)
            sql = fields.get("query", params.get("query", ""))
            for name, data in files.items():
                structure = params.pop(f"{name}_structure", "")
                fmt = params.pop(f"{name}_format", "TabSeparated")
                tables.append((name, structure, fmt, data))
        elif "query" in params:
            sql = params["query"] + "\n" + body.decode("utf-8")
        else:
            sql = body.decode("utf-8")
        settings = {k: v for k, v in params.items() if k not in NOT_SETTINGS}
        try:
            out = self.engine.run(sql, params.get("database"), settings, tables)
        except Exception as e:  # the engine's errors carry ClickHouse's text
            message = str(e).strip() + "\n"
            self.answer(status_of(message), message.encode())
            return
        self.answer(200, out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--path", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user")
    p.add_argument("--password", default="")
    a = p.parse_args()
    Handler.engine = Engine(a.path)
    Handler.credentials = (a.user, a.password) if a.user else None
    version = Handler.engine.run("SELECT version()", None, {}).decode().strip()
    print(f"engine: ClickHouse {version} (chdb-core)", flush=True)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
