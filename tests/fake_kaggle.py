"""A fake Kaggle API on 127.0.0.1 for running the real `kaggle` client offline.

The client (kaggle 2.2 / kagglesdk) sends every call as a JSON POST to
/api/v1/<pkg>.<Service>/<Method>; with KAGGLE_API_ENVIRONMENT=LOCALHOST it addresses
http://localhost/..., and HTTP_PROXY points that at this server (a proxy request line carries the
full URL). HTTPS_PROXY points here too and CONNECT is refused, so nothing can reach kaggle.com.
The fixture `fake_kaggle` also gives every test its own HOME, KAGGLE_CONFIG_DIR and TMPDIR and fake
credentials, so the user's real ones are never read.

Tests script the server (`kernel_statuses`, `kernel_status_lag`, `dataset_statuses`, `output_files`, `fail`,
`replies`) and assert on what it received (`calls`, `uploads`, `datasets`, `kernels`, `submissions`).

Like Kaggle, `kernels status` names no version: with `kernel_status_lag = N` the first N polls after a push
still answer the previous version's final state. `kernels output` lists the newest version's files; by
default the inference kernel's (submission.csv, and inference_report.json carrying the push id that
push-kernel wrote into the script, as the real kernel does).
"""

from __future__ import annotations

import ast
import io
import json
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

FAKE_USER = "fakeuser"
FAKE_KEY = "fake-key-0123456789abcdef"
ZIP_URL = "http://localhost/files/lmsys-chatbot-arena.zip"


class FakeKaggle:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []  # (method name, request json)
        self.blobs = {}  # token -> {"name", "bytes"}
        self.datasets = {}  # "owner/slug" -> list of versions, each {"request", "files": {name: bytes}}
        self.kernels = {}  # "owner/slug" -> list of SaveKernel requests (one per version)
        self.submissions = []  # CreateCodeSubmission requests (+ "polls")
        self.kernel_statuses = ["RUNNING", "COMPLETE"]  # returned in order, the last one repeats
        self.kernel_status_lag = 0  # polls after a push that still report the previous version's final state
        self.previous_kernel_status = "COMPLETE"  # that final state (for a kernel with earlier versions)
        self.kernel_failure = None
        self.output_files = None  # {name: bytes} the kernel output lists; None: the pushed inference kernel's
        self.dataset_statuses = ["READY"]  # GetDatasetStatus after each new version, in order, the last repeats
        self._dataset_polls = {}
        self.submission_statuses = ["PENDING", "COMPLETE"]
        self.public_score = "0.98765"
        self.competition_zip = b""
        self.fail = {}  # method -> HTTP status (a bare error page) or (status, JSON error reply)
        self.auth_headers = []  # Authorization header of every API call
        self.replies = {}  # method -> JSON reply used instead of the normal one
        self.violations = []  # anything that tried to leave (CONNECT, non-localhost hosts)
        self._status_polls = 0
        self.served = {}

    # -- helpers for tests
    def set_competition_files(self, files: dict) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            for name, content in files.items():
                archive.writestr(name, content)
        self.competition_zip = buf.getvalue()

    def methods(self) -> list:
        return [name for name, _ in self.calls]

    def requests_for(self, method: str) -> list:
        return [body for name, body in self.calls if name == method]

    # -- API
    def handle(self, method: str, body: dict):
        """Return (status, json reply) for one API call."""
        with self.lock:
            self.calls.append((method, body))
            if method in self.fail:
                failure = self.fail[method]
                return failure if isinstance(failure, tuple) else (failure, None)
            if method in self.replies:
                return 200, self.replies[method]
            handler = getattr(self, "api_" + method, None)
            if handler is None:
                return 404, {"code": 404, "message": f"fake Kaggle: no handler for {method}"}
            return handler(body)

    def api_StartBlobUpload(self, body):
        token = f"blob-{len(self.blobs) + 1}"
        self.blobs[token] = {"name": body.get("name"), "bytes": None, "contentLength": body.get("contentLength")}
        return 200, {"token": token, "createUrl": f"http://localhost/upload/{token}"}

    def _files(self, file_list):
        return {self.blobs[f["token"]]["name"]: self.blobs[f["token"]]["bytes"] for f in file_list}

    def api_GetDatasetStatus(self, body):
        ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug')}"
        if ref not in self.datasets:
            return 404, {"code": 404, "message": f"Dataset {ref} not found"}
        polls = self._dataset_polls.get(ref)
        if polls is None:  # created outside the API (a test's setup): ready
            return 200, {"status": "READY"}
        self._dataset_polls[ref] = polls + 1
        return 200, {"status": self.dataset_statuses[min(polls, len(self.dataset_statuses) - 1)]}

    def api_CreateDataset(self, body):
        ref = f"{body['ownerSlug']}/{body['slug']}"
        if ref in self.datasets:
            return 200, {"status": "Error", "error": f"Dataset {ref} already exists"}
        self.datasets[ref] = [{"request": body, "files": self._files(body.get("files", []))}]
        self._dataset_polls[ref] = 0
        return 200, {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "Ok"}

    def api_CreateDatasetVersion(self, body):
        ref = f"{body['ownerSlug']}/{body['datasetSlug']}"
        if ref not in self.datasets:
            return 404, {"code": 404, "message": f"Dataset {ref} not found"}
        self.datasets[ref].append({"request": body, "files": self._files(body["body"].get("files", []))})
        self._dataset_polls[ref] = 0
        return 200, {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "Ok"}

    def api_SaveKernel(self, body):
        ref = body["slug"]
        self.kernels.setdefault(ref, []).append(body)
        self._status_polls = 0
        version = len(self.kernels[ref])
        return 200, {"ref": f"/code/{ref}", "url": f"https://www.kaggle.com/code/{ref}", "versionNumber": version}

    def api_GetKernelSessionStatus(self, body):
        polls, self._status_polls = self._status_polls, self._status_polls + 1
        versions = len(self.kernels.get(f"{body.get('userName')}/{body.get('kernelSlug')}", []))
        if polls < self.kernel_status_lag and versions > 1:
            return 200, {"status": self.previous_kernel_status}
        if versions > 1:
            polls -= self.kernel_status_lag
        status = self.kernel_statuses[min(polls, len(self.kernel_statuses) - 1)]
        reply = {"status": status}
        if status == "ERROR" and self.kernel_failure:
            reply["failureMessage"] = self.kernel_failure
        return 200, reply

    def kernel_output(self, ref: str) -> dict:
        """{name: bytes} of the newest version's output: `output_files`, else what the inference kernel writes."""
        if self.output_files is not None:
            return self.output_files
        text = (self.kernels.get(ref) or [{}])[-1].get("text") or ""
        match = re.search(r"^PUSH_SETTINGS = (\{.*\})", text, re.MULTILINE)
        settings = ast.literal_eval(match.group(1)) if match else {}
        return {"submission.csv": b"id,winner_model_a,winner_model_b,winner_tie\n136060,0.3,0.3,0.4\n",
                "inference_report.json": json.dumps({"push_id": settings.get("push_id"), "rows": 1,
                                                     "skipped_rows": 0, "nonfinite_reruns": 0}).encode()}

    def api_ListKernelSessionOutput(self, body):
        ref = f"{body.get('userName')}/{body.get('kernelSlug')}"
        if ref not in self.kernels:
            return 404, {"code": 404, "message": f"Kernel {ref} not found"}
        self.served = {f"/kernel-output/{name}": data for name, data in self.kernel_output(ref).items()}
        files = [{"fileName": name, "url": f"http://localhost/kernel-output/{name}"} for name in self.kernel_output(ref)]
        return 200, {"files": files, "log": "[{\"data\": \"kernel log\"}]"}

    def api_DownloadDataFiles(self, body):
        return 302, None

    def api_CreateCodeSubmission(self, body):
        self.submissions.append({**body, "polls": 0})
        return 200, {"message": "Your submission was successfully saved", "ref": len(self.submissions)}

    def api_ListSubmissions(self, body):
        rows = []
        for i, sub in enumerate(self.submissions, 1):
            status = self.submission_statuses[min(sub["polls"], len(self.submission_statuses) - 1)]
            sub["polls"] += 1
            row = {"ref": i, "description": sub.get("submissionDescription"), "status": status,
                   "fileName": sub.get("fileName"), "date": "2026-01-01T00:00:00Z"}
            if status == "COMPLETE":
                row["publicScore"] = self.public_score
            rows.append(row)
        return 200, {"submissions": rows[::-1]}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKaggle = None

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, status, payload=None, content_type="application/json", headers=None):
        data = payload if isinstance(payload, bytes) else json.dumps(payload if payload is not None else {}).encode()
        if payload is None and status >= 400:
            data, content_type = b"<html>Internal Server Error</html>", "text/html"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _target(self):
        url = urlsplit(self.path)
        if url.hostname not in (None, "localhost"):
            self.fake.violations.append(self.path)
        return url.path

    def do_CONNECT(self):  # an https request via HTTPS_PROXY: never let it out
        self.fake.violations.append(f"CONNECT {self.path}")
        self._reply(403, {"code": 403, "message": "fake Kaggle: no https"})

    def do_POST(self):
        path = self._target()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not path.startswith("/api/v1/"):
            return self._reply(404, {"code": 404, "message": f"fake Kaggle: {path}"})
        method = path.rsplit("/", 1)[-1]
        self.fake.auth_headers.append(self.headers.get("Authorization"))
        status, payload = self.fake.handle(method, json.loads(body or b"{}"))
        if status == 302:  # DownloadDataFiles: the client follows the redirect to the zip
            return self._reply(302, {}, headers={"Location": ZIP_URL})
        self._reply(status, payload)

    def do_GET(self):
        path = self._target()
        if path in self.fake.served:
            return self._reply(200, self.fake.served[path], content_type="application/octet-stream")
        if path == urlsplit(ZIP_URL).path:
            data = self.fake.competition_zip
            return self._reply(200, data, content_type="application/zip")
        self._reply(404, {"code": 404, "message": f"fake Kaggle: GET {path}"})

    def do_PUT(self):
        path = self._target()
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = path.rsplit("/", 1)[-1]
        with self.fake.lock:
            self.fake.calls.append(("PUT", {"token": token, "size": len(data)}))
            if token not in self.fake.blobs:
                return self._reply(404, {"code": 404, "message": "unknown upload"})
            self.fake.blobs[token]["bytes"] = data
        self._reply(200, {})


@pytest.fixture
def fake_kaggle(tmp_path, monkeypatch):
    """Start the fake server and point the `kaggle` client (and everything else) at it."""
    fake = FakeKaggle()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    for name in list(__import__("os").environ):
        if name.startswith("KAGGLE_") or name.lower() in ("no_proxy", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
    home, config, tmp = tmp_path / "home", tmp_path / "kaggle-config", tmp_path / "tmp"
    for d in (home, config, tmp):
        d.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("KAGGLE_USERNAME", FAKE_USER)
    monkeypatch.setenv("KAGGLE_KEY", FAKE_KEY)
    fake.proxy = proxy
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        assert not fake.violations, f"requests tried to leave the fake server: {fake.violations}"
