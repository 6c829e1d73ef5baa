"""A stand-in cnvrg API + object store for the dataset-upload tests (there is no cnvrg server here).

It answers exactly the requests that the real ``cnvrgv2`` 1.1.8 SDK sends for what
``connector.publish`` does, in the JSON:API shapes cnvrgv2 parses (``cnvrgv2.utils.json_api_format``),
and nothing else (any other request gets 501, so an unexpected call shows up in the test):

    Cnvrg()  (env: CNVRG_URL, CNVRG_TOKEN, CNVRG_EMAIL, CNVRG_ORGANIZATION)
        GET  /api/v2/version                      -> data.attributes.sso_version ("v2": "Authorization: CAPI <jwt>")
        POST /api/v2/users/sign_in                {username, password: "", token} -> meta.jwt, meta.organization,
                                                   meta.sso_enabled (false: cnvrgv2 then uses the jwt), meta.digest
        GET  /api/v2/<org>                        (Context.ensure_organization_exist; 404 -> "does not exist")
    datasets.get(slug).reload()
        GET  /api/v2/<org>/datasets/<slug>        -> data.attributes {slug, title, last_commit, ...}; 404 if missing
    datasets.create(name=...)
        POST /api/v2/<org>/datasets               {data: {type: dataset, attributes: {title, category}}} -> slug
    Dataset.put_files(paths=[...], message=...)
        POST /api/v2/<org>/datasets/<slug>/commits                        {message, parent_sha1, ...} -> sha1
        GET  /api/v2/<org>/datasets/<slug>/storage_client                 -> meta.storage: "minio" storage,
                                                                             AES-CBC encrypted endpoint/bucket/keys
        GET  /sts                                                          -> "<aes key>\\n<base64 iv>" (no auth)
        POST /api/v2/<org>/datasets/<slug>/commits/<sha1>/upload_files   {files: {fullpath: meta}} -> the files
                                                                             to upload with their object_path
        PUT  /<bucket>/<object_path>              S3 PutObject, sent by boto3 (cnvrgv2's MinioStorage) to the
                                                  decrypted endpoint = this server; the bytes are kept
        POST /api/v2/<org>/datasets/<slug>/commits/<sha1>/upload_files_save  {file_ids} -> files enter the commit
        GET  /api/v2/<org>/datasets/<slug>        (put_files reads dataset.last_commit for end_commit)
        PUT  /api/v2/<org>/datasets/<slug>/commits/<sha1>/end_commit      -> data.attributes.sha1

cnvrgv2 picks its storage client from ``storage_client``'s ``storage`` field. "minio" (boto3 with the
endpoint_url the server sends) is the one type that reaches plain HTTP on 127.0.0.1 through the
server's answer alone: "s3" has no endpoint field (AWS, or AWS_ENDPOINT_URL from the environment),
"azure" and "gcs" build their cloud URLs. Only single-part PutObject is served: boto3
switches to multipart at 8 MiB, which the tests never reach (a multipart request gets 501).

Every request is recorded (``requests``); ``fail(route, status)`` makes a route answer an error
(for ``times`` requests, or always). Routes are named: version, sign_in, organization, dataset,
create_dataset, start_commit, storage_client, sts, upload_files, put_object, upload_files_save,
end_commit. ``end_commit_empty = True`` makes end_commit answer without a commit (cnvrgv2's comments
say cnvrg deletes a commit that changed nothing). Needs pycryptodome (a cnvrgv2 dependency) for the AES answers.

    with FakeCnvrg() as cnvrg:
        os.environ.update(cnvrg.env())
        ...
        cnvrg.dataset("my-plant-data").files["data.csv"].data  # the uploaded bytes
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BUCKET = "cnvrg-datasets"
REGION = "us-east-1"
ACCESS_KEY = "FAKEACCESSKEY0001"
SECRET_KEY = "fake-secret-key-0001"


def title_slug(title: str) -> str:
    """The slug cnvrg gives a dataset title: lower case, runs of other characters as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


@dataclass
class Recorded:
    method: str
    path: str  # without the query
    route: str  # one of the names above, or "unknown"
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class StoredFile:
    fullpath: str
    sha1: str
    size: int
    object_path: str
    data: bytes | None  # None: cnvrg has the record but the object store never got the bytes
    commit: str


@dataclass
class Commit:
    sha1: str
    dataset: str
    message: str
    parent_sha1: str | None
    pending: dict[str, dict] = field(default_factory=dict)  # file id -> upload_files record
    saved: dict[str, StoredFile] = field(default_factory=dict)  # fullpath -> file, after upload_files_save
    ended: bool = False


@dataclass
class Dataset:
    org: str
    slug: str
    title: str
    last_commit: str | None = None
    commits: list[str] = field(default_factory=list)  # ended commits, oldest first
    files: dict[str, StoredFile] = field(default_factory=dict)  # fullpath -> file at last_commit


@dataclass
class _Failure:
    status: int
    times: int | None
    body: bytes | None
    content_type: str


class FakeCnvrg:
    """The cnvrg API and its object store on one ThreadingHTTPServer at 127.0.0.1:<free port>."""

    def __init__(self, org: str = "acme", email: str = "data.scientist@example.com",
                 token: str = "cnvrg-api-token-SEKRET", login_org: str | None = None,
                 digest: str | None = "sha1") -> None:
        self.org = org
        self.email = email
        self.token = token
        self.login_org = login_org or org  # the organization sign_in answers with (the user's default)
        self.organizations = {org, self.login_org}
        self.digest = digest
        self.jwt = "jwt-" + secrets.token_hex(16)
        self.aes_key = secrets.token_hex(16)  # 32 characters: AES-256
        self.aes_iv = secrets.token_bytes(16)
        self.datasets: dict[str, Dataset] = {}  # "<org>/<slug>" -> dataset
        self.commits: dict[str, Commit] = {}
        self.objects: dict[str, bytes] = {}  # "<bucket>/<key>" -> bytes
        self.requests: list[Recorded] = []
        self.end_commit_empty = False
        self._failures: dict[str, _Failure] = {}
        self._lock = threading.RLock()
        self._ids = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeCnvrg:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-cnvrg", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeCnvrg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment cnvrg sets in a job, for cnvrgv2's Cnvrg() login."""
        return {"CNVRG_URL": self.url, "CNVRG_TOKEN": self.token, "CNVRG_EMAIL": self.email,
                "CNVRG_ORGANIZATION": self.org}

    # ------------------------------------------------------------------ test controls

    def add_dataset(self, title: str, org: str | None = None) -> Dataset:
        with self._lock:
            return self._new_dataset(org or self.org, title)

    def dataset(self, slug: str, org: str | None = None) -> Dataset:
        return self.datasets[f"{org or self.org}/{slug}"]

    def fail(self, route: str, status: int, times: int | None = None, body: bytes | str | dict | None = None,
             content_type: str = "application/json") -> None:
        """Answer ``status`` on ``route`` (the next ``times`` requests, or all); body: JSON dict or raw."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        with self._lock:
            self._failures[route] = _Failure(status, times, body, content_type)

    def calls(self, route: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if route is None or r.route == route]

    def routes(self) -> list[str]:
        """The route names in the order they were requested."""
        return [r.route for r in self.calls()]

    # ------------------------------------------------------------------ internals

    def _next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def _new_dataset(self, org: str, title: str) -> Dataset:
        dataset = Dataset(org=org, slug=title_slug(title), title=title)
        self.datasets[f"{org}/{dataset.slug}"] = dataset
        return dataset

    def _encrypt(self, text: str) -> str:
        from Crypto.Cipher import AES  # pycryptodome: what cnvrgv2 decrypts with

        raw = text.encode()
        pad = 16 - len(raw) % 16
        cipher = AES.new(self.aes_key.encode(), AES.MODE_CBC, self.aes_iv)
        return base64.b64encode(cipher.encrypt(raw + bytes([pad]) * pad)).decode()

    def _dataset_json(self, d: Dataset) -> dict:
        return {"data": {"id": d.slug, "type": "dataset", "attributes": {
            "slug": d.slug, "title": d.title, "category": "general", "description": "", "members": [],
            "datatype": "general", "is_public": False, "num_files": len(d.files),
            "size": sum(f.size for f in d.files.values()), "last_commit": d.last_commit}}}


def _jsonapi_error(title: str, detail: str) -> dict:
    return {"errors": [{"title": title, "detail": detail}]}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeCnvrg
    protocol_version = "HTTP/1.1"  # keep-alive, and boto3's "Expect: 100-continue" is honoured
    timeout = 30
    server_version = "fake-cnvrg"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -------------------------------------------------------------- plumbing

    def _dispatch(self) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route, args = self._route(self.command, path, parse_qs(parts.query))
        record = Recorded(self.command, path, route, parse_qs(parts.query), dict(self.headers.items()), body)
        with fake._lock:
            fake.requests.append(record)
            failure = fake._failures.get(route)
            if failure is not None:
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        del fake._failures[route]
        if failure is not None:
            error = failure.body if failure.body is not None else json.dumps(
                _jsonapi_error("Injected", f"fake cnvrg answers {failure.status} on {route}")).encode()
            return self._send(record, failure.status, error, failure.content_type)
        try:
            handler = getattr(self, f"_r_{route}", None)
            if handler is None:
                return self._send_json(record, 501, _jsonapi_error("Not served", f"{self.command} {path}"))
            if route not in ("version", "sign_in", "sts", "put_object") and not self._authorized():
                return self._send_json(record, 401, _jsonapi_error("Unauthorized", "bad Authorization"))
            with fake._lock:
                status, answer = handler(record, *args)
            if isinstance(answer, (bytes, str)):
                data = answer.encode() if isinstance(answer, str) else answer
                self._send(record, status, data, "text/plain" if route == "sts" else "application/xml")
            else:
                self._send_json(record, status, answer)
        except Exception as exc:  # a bug in the fake: make it loud in the test
            self._send_json(record, 599, _jsonapi_error("fake crashed", repr(exc)))
            raise

    def _route(self, method: str, path: str, query: dict) -> tuple[str, tuple]:
        api = re.fullmatch(r"/api/v2/(.*?)/?", path)
        if api:
            p = api.group(1).split("/")
            n = len(p)
            if method == "GET" and p == ["version"]:
                return "version", ()
            if method == "POST" and p == ["users", "sign_in"]:
                return "sign_in", ()
            if method == "GET" and n == 1:
                return "organization", (p[0],)
            if n >= 2 and p[1] == "datasets":
                if method == "POST" and n == 2:
                    return "create_dataset", (p[0],)
                if method == "GET" and n == 3:
                    return "dataset", (p[0], p[2])
                if method == "GET" and n == 4 and p[3] == "storage_client":
                    return "storage_client", (p[0], p[2])
                if method == "POST" and n == 4 and p[3] == "commits":
                    return "start_commit", (p[0], p[2])
                if n == 6 and p[3] == "commits":
                    name = {("POST", "upload_files"): "upload_files",
                            ("POST", "upload_files_save"): "upload_files_save",
                            ("PUT", "end_commit"): "end_commit"}.get((method, p[5]))
                    if name:
                        return name, (p[0], p[2], p[4])
            return "unknown", ()
        if method == "GET" and path == "/sts":
            return "sts", ()
        if method == "PUT" and path.startswith(f"/{BUCKET}/") and not query:
            return "put_object", (path[len(BUCKET) + 2:],)
        return "unknown", ()

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"CAPI {self.owner.jwt}"

    def _send_json(self, record: Recorded, status: int, payload: Any) -> None:
        self._send(record, status, json.dumps(payload).encode(), "application/json")

    def _send(self, record: Recorded, status: int, data: bytes, content_type: str) -> None:
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == 200 and record.route == "put_object":
            self.send_header("ETag", '"%s"' % hashlib.md5(record.body).hexdigest())
        self.end_headers()
        self.wfile.write(data)

    # -------------------------------------------------------------- the cnvrg API

    def _r_version(self, record: Recorded):
        return 200, {"data": {"id": "version", "type": "version", "attributes": {"sso_version": "v2"}}}

    def _r_sign_in(self, record: Recorded):
        fake = self.owner
        body = record.json or {}
        if body.get("username") != fake.email or body.get("token") != fake.token:
            return 401, _jsonapi_error("Unauthorized", "Invalid credentials")
        return 200, {"meta": {"jwt": fake.jwt, "organization": fake.login_org, "sso_enabled": False,
                              "digest": fake.digest}}

    def _r_organization(self, record: Recorded, org: str):
        if org not in self.owner.organizations:
            return 404, _jsonapi_error("Not found", f"organization {org}")
        return 200, {"data": {"id": org, "type": "organization", "attributes": {"slug": org, "name": org}}}

    def _dataset_or_404(self, org: str, slug: str) -> Dataset | None:
        return self.owner.datasets.get(f"{org}/{slug}")

    def _r_dataset(self, record: Recorded, org: str, slug: str):
        dataset = self._dataset_or_404(org, slug)
        if dataset is None:
            return 404, _jsonapi_error("Not found", f"dataset {slug}")
        return 200, self.owner._dataset_json(dataset)

    def _r_create_dataset(self, record: Recorded, org: str):
        if org not in self.owner.organizations:
            return 404, _jsonapi_error("Not found", f"organization {org}")
        data = (record.json or {}).get("data", {})
        title = (data.get("attributes") or {}).get("title") or ""
        if data.get("type") != "dataset" or not title.strip():
            return 422, _jsonapi_error("Invalid", "title can't be blank")
        if f"{org}/{title_slug(title)}" in self.owner.datasets:
            return 422, _jsonapi_error("Invalid", "title has already been taken")
        return 200, self.owner._dataset_json(self.owner._new_dataset(org, title))

    def _r_start_commit(self, record: Recorded, org: str, slug: str):
        dataset = self._dataset_or_404(org, slug)
        if dataset is None:
            return 404, _jsonapi_error("Not found", f"dataset {slug}")
        body = record.json or {}
        sha1 = hashlib.sha1(secrets.token_bytes(16)).hexdigest()
        self.owner.commits[sha1] = Commit(sha1=sha1, dataset=f"{org}/{slug}", message=body.get("message", ""),
                                          parent_sha1=body.get("parent_sha1"))
        return 200, {"data": {"id": sha1, "type": "commit", "attributes": {"sha1": sha1,
                                                                           "message": body.get("message", "")}}}

    def _r_storage_client(self, record: Recorded, org: str, slug: str):
        fake = self.owner
        if self._dataset_or_404(org, slug) is None:
            return 404, _jsonapi_error("Not found", f"dataset {slug}")
        storage = {"storage": "minio", "sts_url": f"{fake.url}/sts",
                   **{key: fake._encrypt(value) for key, value in {
                       "endpoint": fake.url, "bucket": BUCKET, "region": REGION,
                       "sts_a": ACCESS_KEY, "sts_s": SECRET_KEY}.items()}}
        return 200, {"meta": {"storage": storage}}

    def _r_sts(self, record: Recorded):
        fake = self.owner
        return 200, f"{fake.aes_key}\n{base64.b64encode(fake.aes_iv).decode()}\n"

    def _commit_or_404(self, org: str, slug: str, sha1: str) -> Commit | None:
        commit = self.owner.commits.get(sha1)
        return commit if commit is not None and commit.dataset == f"{org}/{slug}" and not commit.ended else None

    def _r_upload_files(self, record: Recorded, org: str, slug: str, sha1: str):
        commit = self._commit_or_404(org, slug, sha1)
        if commit is None:
            return 404, _jsonapi_error("Not found", f"commit {sha1}")
        items = []
        for fullpath, meta in ((record.json or {}).get("files") or {}).items():
            if meta is None:  # a folder
                continue
            file_id = self.owner._next_id()
            object_path = f"{org}/datasets/{slug}/{meta['sha1']}/{meta['file_name']}"
            commit.pending[file_id] = {"fullpath": fullpath, "object_path": object_path, **meta}
            items.append({"id": file_id, "type": "file", "attributes": {
                "fullpath": fullpath, "object_path": object_path, "local_path": meta["local_path"],
                "file_name": meta["file_name"], "file_size": meta["file_size"], "sha1": meta["sha1"]}})
        return 200, {"data": items, "meta": {"total": len(items)}}

    def _r_put_object(self, record: Recorded, key: str):
        # No SigV4 check; the access key (decrypted by cnvrgv2 from our storage_client answer) must be ours.
        if f"Credential={ACCESS_KEY}/" not in (record.header("Authorization") or ""):
            return 403, "<Error><Code>InvalidAccessKeyId</Code></Error>"
        crc = record.header("x-amz-checksum-crc32")
        if crc is not None:
            expected = base64.b64encode(zlib.crc32(record.body).to_bytes(4, "big")).decode()
            if crc != expected:
                return 400, "<Error><Code>BadDigest</Code></Error>"
        sha256 = record.header("X-Amz-Content-SHA256")
        if sha256 not in (None, "UNSIGNED-PAYLOAD") and sha256 != hashlib.sha256(record.body).hexdigest():
            return 400, "<Error><Code>XAmzContentSHA256Mismatch</Code></Error>"
        md5 = record.header("Content-MD5")
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(record.body).digest()).decode():
            return 400, "<Error><Code>BadDigest</Code></Error>"
        self.owner.objects[f"{BUCKET}/{key}"] = record.body
        return 200, b""

    def _r_upload_files_save(self, record: Recorded, org: str, slug: str, sha1: str):
        commit = self._commit_or_404(org, slug, sha1)
        if commit is None:
            return 404, _jsonapi_error("Not found", f"commit {sha1}")
        for file_id in (record.json or {}).get("file_ids") or []:
            meta = commit.pending.pop(str(file_id), None)
            if meta is None:
                return 422, _jsonapi_error("Invalid", f"unknown file id {file_id}")
            commit.saved[meta["fullpath"]] = StoredFile(
                fullpath=meta["fullpath"], sha1=meta["sha1"], size=meta["file_size"],
                object_path=meta["object_path"], data=self.owner.objects.get(f"{BUCKET}/{meta['object_path']}"),
                commit=sha1)
        return 200, {"meta": {"saved": len(commit.saved)}}

    def _r_end_commit(self, record: Recorded, org: str, slug: str, sha1: str):
        commit = self._commit_or_404(org, slug, sha1)
        if commit is None:
            return 404, _jsonapi_error("Not found", f"commit {sha1}")
        commit.ended = True
        if self.owner.end_commit_empty:  # cnvrg drops a commit that changed nothing
            del self.owner.commits[sha1]
            return 200, {"data": {}}
        dataset = self.owner.datasets[commit.dataset]
        dataset.files.update(commit.saved)
        dataset.commits.append(sha1)
        dataset.last_commit = sha1
        return 200, {"data": {"id": sha1, "type": "commit", "attributes": {"sha1": sha1}}}


__all__ = ["FakeCnvrg", "Dataset", "Commit", "StoredFile", "Recorded", "title_slug", "BUCKET",
           "ACCESS_KEY", "SECRET_KEY"]
