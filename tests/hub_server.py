"""A small, faithful Hub-API server for tests (127.0.0.1 only).

It implements what huggingface_hub's create_repo / upload_folder (regular and LFS files)
/ hf_hub_download / create_branch / create_tag and datasets' load_dataset call, with the
Hub's status codes and ``X-Error-Code`` headers, private repos and per-namespace tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

TYPES = {"datasets": "dataset", "models": "model", "spaces": "space"}


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Entry:
    data: bytes
    lfs: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    def blob_oid(self) -> str:
        return git_blob_oid(self.pointer() if self.lfs else self.data)


@dataclass
class Repo:
    owner: str
    private: bool
    commits: dict[str, dict[str, Entry]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branches and tags -> commit oid
    log: list[str] = field(default_factory=list)

    def resolve(self, rev: str) -> str | None:
        if rev in self.refs:
            return self.refs[rev]
        if rev in self.commits:
            return rev
        return None


class HubState:
    def __init__(self, tokens: dict[str, str]):
        self.tokens = tokens  # token -> user name
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.file_bytes_sent = 0  # bytes of repo files sent (full or ranged downloads)
        self.fail_commits = 0  # > 0: drop the connection on that many commit calls


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState
    endpoint: str

    def log_message(self, *args):  # quiet
        pass

    # ----------------------------------------------------------------- helpers

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None, ctype: str = "application/json"):
        self._send(status, json.dumps(obj).encode(), headers, ctype)

    def _error(self, status: int, message: str, code: str | None = None):
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _user(self) -> str | None | bool:
        """User of the bearer token; None without one; False for an invalid one."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        return self.state.tokens.get(auth[len("Bearer ") :], False)

    def _repo(self, rtype: str, repo_id: str, write: bool = False) -> Repo | None:
        user = self._user()
        if user is False:
            self._error(401, "Invalid credentials in Authorization header")
            return None
        repo = self.state.repos.get((rtype, repo_id))
        if repo is None or (repo.private and user != repo.owner):
            self._error(404, "Repository not found", "RepoNotFound")
            return None
        if write and user is None:
            self._error(401, "You must be authenticated to write")
            return None
        if write and user != repo.owner:
            self._error(403, f"You don't have the rights to write to {repo_id}")
            return None
        return repo

    def _files_at(self, rtype: str, repo_id: str, rev: str) -> tuple[Repo, str, dict[str, Entry]] | None:
        """(repo, commit oid, files) of a readable repo at ``rev``; None after sending the error."""
        repo = self._repo(rtype, repo_id)
        if repo is None:
            return None
        oid = repo.resolve(rev)
        if oid is None:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return None
        return repo, oid, repo.commits[oid]

    def _entry_json(self, path: str, e: Entry) -> dict:
        out = {"type": "file", "path": path, "size": len(e.data), "oid": e.blob_oid()}
        if e.lfs:
            out["lfs"] = {"oid": e.sha256, "size": len(e.data), "pointerSize": len(e.pointer())}
        return out

    # ----------------------------------------------------------------- routing

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.state.requests.append(f"{self.command} {self.path}")
        url = urlparse(self.path)
        path = url.path
        if path == "/api/whoami-v2":
            user = self._user()
            if not user:
                return self._error(401, "Invalid credentials in Authorization header")
            return self._json(200, {"type": "user", "name": user, "auth": {"type": "access_token"}})
        m = re.fullmatch(r"/api/(datasets|models|spaces)/([^/]+/[^/]+)(?:/revision/(.+))?", path)
        if m:
            return self._repo_info(TYPES[m[1]], m[2], unquote(m[3] or "main"))
        m = re.fullmatch(r"/api/(datasets|models|spaces)/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
        if m:
            return self._tree(TYPES[m[1]], m[2], unquote(m[3]), unquote(m[4] or ""), parse_qs(url.query))
        m = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            rtype = {"datasets/": "dataset", "spaces/": "space"}.get(m[1] or "", "model")
            return self._resolve(rtype, m[2], unquote(m[3]), unquote(m[4]))
        self._error(404, "Not found")

    def do_POST(self):
        self.state.requests.append(f"POST {self.path}")
        path = urlparse(self.path).path
        if path == "/api/repos/create":
            return self._create(json.loads(self._body() or b"{}"))
        if path == "/api/validate-yaml":
            self._body()
            return self._json(200, {"errors": [], "warnings": []})
        m = re.fullmatch(
            r"/api/(datasets|models|spaces)/([^/]+/[^/]+)/(preupload|commit|paths-info|branch|tag)/(.+)", path
        )
        if m:
            rtype, repo_id, action, rev = TYPES[m[1]], m[2], m[3], unquote(m[4])
            return getattr(self, "_" + action.replace("-", "_"))(rtype, repo_id, rev)
        m = re.fullmatch(r"/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        if m:
            rtype = {"datasets/": "dataset", "spaces/": "space"}.get(m[1] or "", "model")
            return self._lfs_batch(rtype, m[2])
        m = re.fullmatch(r"/lfs-verify/([0-9a-f]{64})", path)
        if m:
            self._body()
            ok = m[1] in self.state.lfs
            return self._json(200 if ok else 404, {"ok": ok})
        self._error(404, "Not found")

    def do_DELETE(self):
        self.state.requests.append(f"DELETE {self.path}")
        if urlparse(self.path).path != "/api/repos/delete":
            return self._error(404, "Not found")
        payload = json.loads(self._body() or b"{}")
        user = self._user()
        if not user:
            return self._error(401, "Invalid credentials in Authorization header")
        namespace = payload.get("organization") or user
        if namespace != user:
            return self._error(403, f"You don't have the rights to delete a repo under {namespace}")
        key = (payload.get("type") or "model", f"{namespace}/{payload['name']}")
        with self.state.lock:
            if key not in self.state.repos:
                return self._error(404, "Repository not found", "RepoNotFound")
            del self.state.repos[key]
        self._json(200, {})

    def do_PUT(self):
        m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", urlparse(self.path).path)
        if not m:
            return self._error(404, "Not found")
        data = self._body()
        if hashlib.sha256(data).hexdigest() != m[1]:
            return self._error(400, "sha256 mismatch")
        self.state.lfs[m[1]] = data
        self._send(200)

    # ----------------------------------------------------------------- endpoints

    def _create(self, payload: dict):
        user = self._user()
        if user is False or user is None:
            return self._error(401, "Invalid credentials in Authorization header")
        namespace = payload.get("organization") or user
        if namespace != user:
            return self._error(403, f"You don't have the rights to create a repo under {namespace}")
        rtype = payload.get("type") or "model"
        repo_id = f"{namespace}/{payload['name']}"
        prefix = "" if rtype == "model" else f"{rtype}s/"
        url = f"{self.endpoint}/{prefix}{repo_id}"
        with self.state.lock:
            if (rtype, repo_id) in self.state.repos:
                # like the Hub, a conflict still names the repo's url
                return self._json(
                    409,
                    {"error": "You already created this repo", "url": url},
                    {"X-Error-Message": "You already created this repo"},
                )
            private = payload.get("private") or payload.get("visibility") == "private"
            repo = Repo(owner=user, private=bool(private))
            files = {".gitattributes": Entry(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n")}
            oid = hashlib.sha1(f"{repo_id}{time.time_ns()}".encode()).hexdigest()
            repo.commits[oid] = files
            repo.refs["main"] = oid
            repo.log.append(oid)
            self.state.repos[(rtype, repo_id)] = repo
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _repo_info(self, rtype: str, repo_id: str, rev: str):
        found = self._files_at(rtype, repo_id, rev)
        if found is None:
            return
        repo, oid, files = found
        siblings = [
            {
                "rfilename": p,
                "size": len(e.data),
                "blobId": e.blob_oid(),
                **(
                    {"lfs": {"sha256": e.sha256, "size": len(e.data), "pointerSize": len(e.pointer())}} if e.lfs else {}
                ),
            }
            for p, e in sorted(files.items())
        ]
        self._json(
            200,
            {
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": oid,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "tags": [],
                "siblings": siblings,
                "lastModified": "2026-01-01T00:00:00.000Z",
                "createdAt": "2026-01-01T00:00:00.000Z",
            },
        )

    def _tree(self, rtype, repo_id, rev, prefix, query):
        found = self._files_at(rtype, repo_id, rev)
        if found is None:
            return
        _, _, files = found
        recursive = query.get("recursive", ["false"])[0] == "true"
        prefix = prefix.strip("/")
        base = prefix + "/" if prefix else ""
        if prefix and prefix not in {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}:
            return self._error(404, f"{prefix} does not exist", "EntryNotFound")
        out, dirs = [], set()
        for p, e in sorted(files.items()):
            if not p.startswith(base):
                continue
            rest = p[len(base) :].split("/")
            for i in range(1, len(rest)):
                d = base + "/".join(rest[:i])
                if d not in dirs and (recursive or i == 1):
                    dirs.add(d)
                    out.append({"type": "directory", "path": d, "oid": git_blob_oid(d.encode()), "size": 0})
            if recursive or len(rest) == 1:
                out.append(self._entry_json(p, e))
        self._json(200, out)

    def _paths_info(self, rtype, repo_id, rev):
        form = parse_qs(self._body().decode())
        found = self._files_at(rtype, repo_id, rev)
        if found is None:
            return
        _, _, files = found
        out = []
        for p in form.get("paths", []):
            p = p.strip("/")
            if p in files:
                out.append(self._entry_json(p, files[p]))
            elif any(f.startswith(p + "/") for f in files):
                out.append({"type": "directory", "path": p, "oid": git_blob_oid(p.encode()), "size": 0})
        self._json(200, out)

    def _resolve(self, rtype, repo_id, rev, path):
        found = self._files_at(rtype, repo_id, rev)
        if found is None:
            return
        _, oid, files = found
        e = files.get(path)
        if e is None:
            return self._error(404, f"Entry not found: {path}", "EntryNotFound")
        headers = {"X-Repo-Commit": oid, "ETag": f'"{e.blob_oid()}"', "Accept-Ranges": "bytes"}
        if e.lfs:
            headers.update({"X-Linked-Etag": f'"{e.sha256}"', "X-Linked-Size": str(len(e.data))})
        data = e.data
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[len("bytes=") :].partition("-")
            start = int(start_s) if start_s else max(0, len(data) - int(end_s))
            end = min(int(end_s), len(data) - 1) if (end_s and start_s) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            if self.command == "GET":
                self.state.file_bytes_sent += end + 1 - start
            return self._send(206, data[start : end + 1], headers, "application/octet-stream")
        if self.command == "GET":
            self.state.file_bytes_sent += len(data)
        self._send(200, data, headers, "application/octet-stream")

    def _preupload(self, rtype, repo_id, rev):
        payload = json.loads(self._body())
        repo = self._repo(rtype, repo_id, write=True)
        if repo is None:
            return
        existing = repo.commits[repo.resolve(rev)] if repo.resolve(rev) else {}
        files = []
        for f in payload["files"]:
            lfs = f["path"].endswith((".safetensors", ".parquet", ".bin")) or f["size"] > 10_000
            entry = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if f["path"] in existing and not existing[f["path"]].lfs:
                entry["oid"] = existing[f["path"]].blob_oid()
            files.append(entry)
        self._json(200, {"files": files, "commitOid": repo.resolve(rev)})

    def _lfs_batch(self, rtype, repo_id):
        payload = json.loads(self._body())
        repo = self._repo(rtype, repo_id, write=True)
        if repo is None:
            return
        objects = []
        for o in payload["objects"]:
            obj = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in self.state.lfs:  # objects the server has get no actions (git-lfs spec)
                obj["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{o['oid']}", "header": {}},
                    "verify": {"href": f"{self.endpoint}/lfs-verify/{o['oid']}", "header": {}},
                }
            objects.append(obj)
        self._json(200, {"transfer": "basic", "objects": objects}, ctype="application/vnd.git-lfs+json")

    def _commit(self, rtype, repo_id, rev):
        body = self._body()
        if self.state.fail_commits > 0:
            self.state.fail_commits -= 1
            self.close_connection = True
            self.connection.shutdown(2)  # the server "goes away" mid-push
            return
        repo = self._repo(rtype, repo_id, write=True)
        if repo is None:
            return
        create_pr = parse_qs(urlparse(self.path).query).get("create_pr") == ["1"]
        with self.state.lock:
            parent = repo.resolve(rev)
            if parent is None or rev not in repo.refs:  # commits go to branches only
                return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            pr_num = None
            if create_pr:  # like the Hub: the commit goes to a new refs/pr/N branch, the base is untouched
                pr_num = 1 + sum(ref.startswith("refs/pr/") for ref in repo.refs)
                rev = f"refs/pr/{pr_num}"
            files = dict(repo.commits[parent])
            summary = ""
            for line in body.decode().splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    summary = value.get("summary", "")
                elif key == "file":
                    files[value["path"]] = Entry(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    data = self.state.lfs.get(value["oid"])
                    if data is None:
                        return self._error(422, f"LFS object {value['oid']} was not uploaded")
                    files[value["path"]] = Entry(data, lfs=True)
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    for p in [p for p in files if p.startswith(value["path"].rstrip("/") + "/")]:
                        files.pop(p)
            oid = hashlib.sha1(f"{parent}{summary}{time.time_ns()}".encode()).hexdigest()
            repo.commits[oid] = files
            repo.refs[rev] = oid
            repo.log.append(oid)
        prefix = "" if rtype == "model" else f"{rtype}s/"
        self._json(
            200,
            {
                "success": True,
                "commitOid": oid,
                "commitUrl": f"{self.endpoint}/{prefix}{repo_id}/commit/{oid}",
                "pullRequestUrl": None if pr_num is None else f"{self.endpoint}/{prefix}{repo_id}/discussions/{pr_num}",
            },
        )

    def _branch(self, rtype, repo_id, branch):
        payload = json.loads(self._body() or b"{}")
        repo = self._repo(rtype, repo_id, write=True)
        if repo is None:
            return
        if branch in repo.refs:
            return self._error(409, f"Branch {branch} already exists")
        start = repo.resolve(payload.get("startingPoint") or "main")
        repo.refs[branch] = start
        self._json(200, {})

    def _tag(self, rtype, repo_id, rev):
        payload = json.loads(self._body() or b"{}")
        repo = self._repo(rtype, repo_id, write=True)
        if repo is None:
            return
        oid = repo.resolve(rev)
        if oid is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        if payload["tag"] in repo.refs:
            return self._error(409, f"Tag {payload['tag']} already exists")
        repo.refs[payload["tag"]] = oid
        self._json(200, {})


class HubServer:
    """Runs the server in a thread: ``with HubServer(port, tokens) as hub: ...``."""

    def __init__(self, port: int, tokens: dict[str, str]):
        self.state = HubState(tokens)
        self.endpoint = f"http://127.0.0.1:{port}"
        handler = type("BoundHandler", (Handler,), {"state": self.state, "endpoint": self.endpoint})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def files(self, repo_id: str, rev: str = "main", rtype: str = "dataset") -> dict[str, bytes]:
        repo = self.state.repos[(rtype, repo_id)]
        return {p: e.data for p, e in repo.commits[repo.resolve(rev)].items()}
