"""Browser tests: the unpacked extension in Debian's chromium (and firefox-esr), the real
native host installed for that browser profile, the real companion with the demo model, and
a test site served over HTTPS under a production name (www.instagram.com) on loopback.

The browsers are driven by driver.mjs (playwright-core / puppeteer-core from npm, neither
downloading a browser); each test sends it small JavaScript snippets and checks, in Python,
what the test site received.
"""

from __future__ import annotations

import datetime
import email.parser
import email.policy
import hashlib
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.server.conftest import RealServer, private_config

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
EXTENSION = ROOT / "extension"
CHROMIUM = Path("/usr/bin/chromium")
FIREFOX = Path("/usr/bin/firefox-esr")
#: where the tests write the screenshots the README shows
SCREENSHOTS = ROOT / "docs" / "screenshots"


def _require(ok: bool, what: str) -> None:
    """Skip where the browsers were not installed, except under the README's test command
    (scripts/test.sh sets IMAGEPROTECTOR_REQUIRE_BROWSERS=1, and CI runs that), where a
    missing browser fails."""
    if ok:
        return
    if os.environ.get("IMAGEPROTECTOR_REQUIRE_BROWSERS"):
        pytest.fail(f"{what} is missing: scripts/test.sh installs it")
    pytest.skip(f"{what} is missing (scripts/test.sh installs it)")


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    yield from private_config(tmp_path / "config", monkeypatch)


# -- the test site ----------------------------------------------------------------------
class TestSite:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for `hosts`, serving
    site/index.html and recording every upload: [{path, files: [{name, type, data, sha256}]}]."""

    def __init__(self, cert_dir: Path, hosts: list[str]) -> None:
        self.uploads: list[dict] = []
        self.original = b""  # what GET /original answers
        self._cond = threading.Condition()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = urlparse(self.path).path
                if path == "/original":
                    self._send(200, site.original, "image/jpeg")
                else:
                    self._send(200, (HERE / "site" / "index.html").read_bytes(), "text/html; charset=utf-8")

            def do_POST(self):
                query = parse_qs(urlparse(self.path).query)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                files = _parse_multipart(self.headers.get("Content-Type", ""), body)
                with site._cond:
                    site.uploads.append({"path": query.get("path", ["?"])[0], "files": files})
                    site._cond.notify_all()
                self._send(200, b"{}", "application/json")

            def _send(self, status, data, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        cert, key = _self_signed(cert_dir, hosts)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_upload(self, path: str, timeout: float = 120, after: int = 0) -> dict:
        """The first upload to `path` among those after the first `after` uploads."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for upload in self.uploads[after:]:
                    if upload["path"] == path:
                        return upload
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no upload to {path} in {timeout} s; got {[u['path'] for u in self.uploads]}")
                self._cond.wait(left)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _parse_multipart(content_type: str, body: bytes) -> list[dict]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    files = []
    for part in message.iter_parts() if message.is_multipart() else []:
        data = part.get_payload(decode=True) or b""
        files.append({"name": part.get_filename(), "type": part.get_content_type(), "data": data,
                      "sha256": hashlib.sha256(data).hexdigest()})
    return files


def _self_signed(folder: Path, hosts: list[str]) -> tuple[Path, Path]:
    """A throwaway certificate and key for `hosts` (the browser runs with
    --ignore-certificate-errors; the name only has to be a name)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


#: the production name the extension protects by default, and a site that is not a default one
DEFAULT_HOST = "www.instagram.com"
ADDED_HOST = "social.example"


@pytest.fixture(scope="module")
def _site_server(tmp_path_factory):
    served = TestSite(tmp_path_factory.mktemp("cert"), [DEFAULT_HOST, ADDED_HOST])
    yield served
    served.stop()


@pytest.fixture
def site(_site_server):
    """The test site, with no uploads recorded yet."""
    with _site_server._cond:
        _site_server.uploads.clear()
    _site_server.original = b""
    return _site_server


@pytest.fixture(scope="module")
def companion(tmp_path_factory):
    """The real companion with the demo model, on loopback."""
    real = RealServer(tmp_path_factory.mktemp("companion") / "config")
    yield real
    real.stop()


# -- the browser --------------------------------------------------------------------------
class Driver:
    """One browser run by driver.mjs; `run(js, **args)` evaluates a snippet there."""

    def __init__(self, browser: str, config: dict, log: Path) -> None:
        _require((HERE / "node_modules" / "playwright-core").is_dir(), "tests/extension/node_modules")
        self.log = log
        self.proc = subprocess.Popen(["node", str(HERE / "driver.mjs"), browser, json.dumps(config)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("wb"),
                                     text=True, bufsize=1)
        self._next = 0
        self._expect("ready", 60)

    def _expect(self, request_id: str, timeout: float):
        answers: list[str] = []

        def read():
            answers.append(self.proc.stdout.readline())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not answers or not answers[0]:
            self.close()
            raise AssertionError(f"the browser driver gave no answer in {timeout} s:\n{self.log.read_text()[-3000:]}")
        answer = json.loads(answers[0])
        assert answer["id"] == request_id, answer
        if not answer["ok"]:
            raise AssertionError(f"in the browser: {answer['error']}")
        return answer["value"]

    def run(self, js: str, timeout: float = 120, **args):
        self._next += 1
        request_id = f"c{self._next}"
        self.proc.stdin.write(json.dumps({"id": request_id, "js": js, "args": args}) + "\n")
        self.proc.stdin.flush()
        return self._expect(request_id, timeout)

    def host_log(self) -> str:
        """What the native host this browser started has logged (its results' sha256 among it)."""
        path = Path(self.env["IMAGEPROTECTOR_LOG_DIR"]) / "native-host.log"
        return path.read_text() if path.exists() else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def install_host(browser: str, env: dict, user_data_dir: Path | None = None) -> None:
    """`imageprotector install-host` for `browser`, as a user runs it."""
    args = [sys.executable, "-m", "companion.cli", "install-host", "--browser", browser]
    if user_data_dir is not None:
        args += ["--user-data-dir", str(user_data_dir)]
    subprocess.run(args, check=True, env=env, capture_output=True, timeout=60)


def browser_env(config_dir: Path, port: int, autostart: bool = False, token: str | None = None) -> dict:
    """The environment the browser (and so the native host it starts) runs in: a private
    config folder whose config points at the companion's port."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({"port": port, "autostart": autostart}))
    if token:
        (config_dir / "token").write_text(token + "\n")
    return {"IMAGEPROTECTOR_CONFIG_DIR": str(config_dir), "IMAGEPROTECTOR_LOG_DIR": str(config_dir / "logs"),
            "HF_HUB_OFFLINE": "1", "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


class Chromium(Driver):
    """Debian's chromium with the unpacked extension, a fresh profile folder holding the
    native host's manifest (install-host --user-data-dir), and the test site reached under
    its production names through --host-resolver-rules."""

    def __init__(self, tmp: Path, site: TestSite, env: dict) -> None:
        _require(CHROMIUM.exists(), "Debian's chromium (/usr/bin/chromium)")
        self.user_data_dir = tmp / "chromium-profile"
        self.user_data_dir.mkdir(parents=True)
        self.env = env
        install_host("chromium", {**os.environ, **env}, self.user_data_dir)
        rules = ", ".join(f"MAP {h} 127.0.0.1:{site.port}" for h in (DEFAULT_HOST, ADDED_HOST))
        config = {"userDataDir": str(self.user_data_dir), "extension": str(EXTENSION), "env": env,
                  "args": [f"--host-resolver-rules={rules}", "--ignore-certificate-errors"]}
        super().__init__("chromium", config, tmp / "chromium.log")
        self.run("ctx.worker = ctx.context.serviceWorkers()[0] ?? await ctx.context.waitForEvent('serviceworker');")


@pytest.fixture
def chromium_for(tmp_path, site):
    """A factory for browsers bound to a companion port (closed after the test)."""
    browsers: list[Chromium] = []

    def make(port: int, token: str | None = None, autostart: bool = False) -> Chromium:
        env = browser_env(tmp_path / f"browser-config-{len(browsers)}", port, autostart, token)
        browser = Chromium(tmp_path / f"b{len(browsers)}", site, env)
        browsers.append(browser)
        return browser

    yield make
    for browser in browsers:
        browser.close()


@pytest.fixture
def chromium(chromium_for, companion):
    return chromium_for(companion.port, companion.token)


class Firefox(Driver):
    """Debian's firefox-esr driven over WebDriver BiDi (puppeteer-core), the extension
    installed as a temporary add-on, the native host installed for Firefox in a private
    HOME. Firefox has no --host-resolver-rules: `network.dns.localDomains` sends the
    production names to 127.0.0.1, so the site is https://www.instagram.com:PORT/ (the
    extension's host permissions match any port)."""

    def __init__(self, tmp: Path, site: TestSite, env: dict) -> None:
        _require(FIREFOX.exists(), "Debian's firefox-esr (/usr/bin/firefox-esr)")
        home = tmp / "home"
        home.mkdir(parents=True)
        self.env = {**env, "HOME": str(home)}
        install_host("firefox", {**os.environ, **self.env})
        prefs = {"network.dns.localDomains": f"{DEFAULT_HOST},{ADDED_HOST}"}
        config = {"profileDir": str(tmp / "firefox-profile"), "extension": str(EXTENSION), "env": self.env,
                  "prefs": prefs}
        (tmp / "firefox-profile").mkdir()
        super().__init__("firefox", config, tmp / "firefox.log")
        self.port = site.port


@pytest.fixture
def firefox(tmp_path, site, companion):
    env = browser_env(tmp_path / "browser-config", companion.port, False, companion.token)
    browser = Firefox(tmp_path / "ff", site, env)
    yield browser
    browser.close()


def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

