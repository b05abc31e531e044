"""A small Hub-compatible HTTP server for push tests, on 127.0.0.1.

It implements just what the real ``huggingface_hub`` client calls to create a repo, a branch or a
pull request and to upload a folder (``/api/repos/create``, ``/api/validate-yaml``, ``preupload``,
``commit`` with inline NDJSON files, ``branch``, ``discussions``, and repo info), keeps the repos in
memory and records every request. Every file is answered as a "regular" upload, so file contents
travel inline in the commit and the server sees them all.

    with FakeHub(user="me", token="hf_…") as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        ...
        hub.fail("POST", "/commit/", status=503, times=1)   # inject a transient failure
        hub.repos["me/x"].files("main")                    # path → bytes
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str  # as sent (revisions stay URL-quoted), without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    commits: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)

    def files(self, revision: str = "main") -> dict[str, bytes]:
        return self.branches[revision]


@dataclass
class _Failure:
    method: str
    pattern: str
    status: int
    times: int
    body: dict[str, Any]


_REPO_OP = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit|branch)/(?P<rev>.+)$")
_DISCUSSIONS = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/discussions(?:/(?P<num>\d+))?$")
_REPO_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>.+))?$")


class FakeHub:
    def __init__(self, user: str = "me", token: str = "hf_fake", orgs: tuple[str, ...] = ()):
        self.user, self.token, self.namespaces = user, token, {user, *orgs}
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, method: str, pattern: str, status: int, times: int = 1, message: str = "injected failure") -> None:
        """Answer the next ``times`` requests whose path contains ``pattern`` (a regex) with ``status``."""
        self._failures.append(_Failure(method, pattern, status, times, {"error": message}))

    def calls(self, method: str | None = None, pattern: str = "") -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method) and re.search(pattern, r.path)]

    # ------------------------------------------------------------ dispatch

    def _handle(self, req: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(req)
            for failure in self._failures:
                if failure.times > 0 and failure.method == req.method and re.search(failure.pattern, req.path):
                    failure.times -= 1
                    return failure.status, failure.body, {}
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Invalid credentials in Authorization header"}, {}
        if req.method == "POST" and req.path == "/api/repos/create":
            return self._create_repo(req.json())
        if req.method == "POST" and req.path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}, {}
        if m := _REPO_OP.match(req.path):
            return self._repo_op(req, m["repo"], m["op"], m["rev"])
        if m := _DISCUSSIONS.match(req.path):
            return self._discussion(req, m["repo"], m["num"])
        if req.method == "GET" and (m := _REPO_INFO.match(req.path)):
            repo = self._readable(m["repo"])
            if repo is None:
                return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
            return (
                200,
                {"id": repo.repo_id, "modelId": repo.repo_id, "sha": self._sha(repo), "private": repo.private},
                {},
            )
        return 404, {"error": f"not implemented by the fake Hub: {req.method} {req.path}"}, {}

    def _readable(self, repo_id: str) -> Repo | None:
        repo = self.repos.get(repo_id)
        return repo if repo and repo_id.split("/")[0] in self.namespaces else None

    def _create_repo(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        namespace = payload.get("organization") or self.user
        repo_id = f"{namespace}/{payload['name']}"
        if namespace not in self.namespaces:
            return 403, {"error": f'You don\'t have the rights to create a model under the namespace "{namespace}"'}, {}
        if repo_id in self.repos:
            return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}, {}
        self.repos[repo_id] = Repo(repo_id, private=payload.get("visibility") == "private")
        return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id}, {}

    def _repo_op(self, req: Request, repo_id: str, op: str, rev: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        rev = unquote(rev)
        if repo_id.split("/")[0] not in self.namespaces:
            return 403, {"error": "You don't have the rights to write to this repo"}, {}
        repo = self.repos.get(repo_id)
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        if op == "branch":
            if rev in repo.branches:
                return 409, {"error": "Reference already exists"}, {}
            repo.branches[rev] = dict(repo.branches["main"])
            return 200, {}, {}
        if rev not in repo.branches:
            return 404, {"error": f"Invalid rev id: {rev}"}, {"X-Error-Code": "RevisionNotFound"}
        if op == "preupload":
            files = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                for f in req.json()["files"]
            ]
            return 200, {"files": files, "commitOid": self._sha(repo)}, {}
        lines = [json.loads(line) for line in req.body.splitlines() if line.strip()]
        header = next(x["value"] for x in lines if x["key"] == "header")
        added = {x["value"]["path"]: base64.b64decode(x["value"]["content"]) for x in lines if x["key"] == "file"}
        repo.branches[rev].update(added)
        repo.commits.append({"revision": rev, "summary": header.get("summary"), "files": added})
        oid = self._sha(repo)
        return 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}, {}

    def _discussion(self, req: Request, repo_id: str, num: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        repo = self._readable(repo_id)
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        if num is None and req.method == "POST":
            body = req.json()
            pr = {"num": len(repo.pulls) + 1, "title": body.get("title"), "pullRequest": body.get("pullRequest")}
            repo.pulls.append(pr)
            repo.branches[f"refs/pr/{pr['num']}"] = dict(repo.branches["main"])
            return 200, {"num": pr["num"], "url": f"{self.url}/{repo_id}/discussions/{pr['num']}"}, {}
        if num is not None and req.method == "GET" and int(num) <= len(repo.pulls):
            pr = repo.pulls[int(num) - 1]
            return (
                200,
                {
                    "title": pr["title"],
                    "num": pr["num"],
                    "author": {"name": self.user},
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "status": "draft",
                    "repo": {"name": repo_id, "type": "model"},
                    "isPullRequest": bool(pr["pullRequest"]),
                    "events": [],
                    "changes": {"base": "refs/heads/main"},
                    "filesWithConflicts": [],
                },
                {},
            )
        return 404, {"error": "Discussion not found"}, {}

    @staticmethod
    def _sha(repo: Repo) -> str:
        return hashlib.sha1(f"{repo.repo_id}:{len(repo.commits)}".encode()).hexdigest()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = Request(self.command, url.path, parse_qs(url.query), headers, body)
                status, payload, headers = hub._handle(req)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler
