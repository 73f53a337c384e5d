"""Registry credentials kept as the docker CLI keeps them: ``~/.docker/config.json``
(``$DOCKER_CONFIG/config.json``), so ``docker`` and ``dockyard`` share their logins.

The file (other keys are kept as they are)::

    {
      "auths": {"127.0.0.1:5000": {"auth": "<base64 user:password>"},
                "https://index.docker.io/v1/": {"auth": "...", "identitytoken": "..."}},
      "credsStore": "pass",                      # optional: a helper for every registry
      "credHelpers": {"registry.example.com": "ecr-login"}   # optional: per registry
    }

When a helper is named (``credHelpers`` for the registry, else ``credsStore``), the
secret goes to ``docker-credential-<helper>`` (``store``/``get``/``erase``, JSON on
stdin and stdout, as docker's credential helpers speak) and only an empty ``auths``
entry stays in the file; a helper that is not installed falls back to the file, with a
warning. Docker Hub's key is ``https://index.docker.io/v1/``; every other registry's is
its ``host[:port]``.

The daemon never reads this file: each pull and push sends the credentials for the
registry of its reference in ``X-Registry-Auth`` (base64url of the ``AuthConfig`` JSON).
"""

from __future__ import annotations

import base64
import json
import os

TYPE_CHECKING = False  # not `typing`'s: importing typing costs milliseconds of start-up
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

INDEX_SERVER = "https://index.docker.io/v1/"
INDEX_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
TOKEN_USERNAME = "<token>"
"""What a helper stores as the username of an identity token (docker's convention)."""
HELPER_TIMEOUT = 30


class CredentialsError(Exception):
    """The config file or a credential helper failed."""


class Credentials:
    """One registry's credentials (Docker's ``AuthConfig`` fields)."""

    __slots__ = ("identity_token", "password", "server", "username")

    def __init__(self, server: str, username: str = "", password: str = "",
                 identity_token: str = "") -> None:
        self.server = server
        self.username = username
        self.password = password
        self.identity_token = identity_token

    def header(self) -> str:
        """``X-Registry-Auth``: base64url of the ``AuthConfig`` JSON."""
        doc = {"username": self.username, "password": self.password,
               "serveraddress": self.server}
        if self.identity_token:
            doc["identitytoken"] = self.identity_token
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def config_dir(environ: Mapping[str, str]) -> str:
    return environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker")


def hostname(server: str) -> str:
    """docker's ``ConvertToHostname``: ``https://host:5000/v2/`` → ``host:5000``."""
    for scheme in ("http://", "https://"):
        if server.startswith(scheme):
            server = server[len(scheme):]
            break
    return server.split("/", 1)[0]


def server_key(server: str) -> str:
    """The ``auths`` key of a registry: Docker Hub's URL, else ``host[:port]``."""
    if not server:
        return INDEX_SERVER
    host = hostname(server)
    return INDEX_SERVER if host in INDEX_NAMES else host


class ConfigFile:
    """``config.json``, read at creation, written back atomically (mode 0600)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, "config.json")
        self.doc: dict[str, Any] = {}
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CredentialsError(f"loading config file {self.path}: "
                                   f"{exc.strerror or exc}") from None
        if raw.strip():
            try:
                doc = json.loads(raw)
            except ValueError as exc:
                raise CredentialsError(f"loading config file {self.path}: {exc}") from None
            if not isinstance(doc, dict):
                raise CredentialsError(f"loading config file {self.path}: not a JSON object")
            self.doc = doc

    @property
    def auths(self) -> dict[str, Any]:
        auths = self.doc.get("auths")
        if not isinstance(auths, dict):
            auths = self.doc["auths"] = {}
        return auths

    def helper(self, key: str) -> str:
        """The credential helper for ``key`` (``credHelpers``, else ``credsStore``)."""
        helpers = self.doc.get("credHelpers")
        if isinstance(helpers, dict) and isinstance(helpers.get(hostname(key)), str):
            return str(helpers[hostname(key)])
        store = self.doc.get("credsStore")
        return store if isinstance(store, str) else ""

    def save(self) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        tmp = f"{self.path}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.doc, f, indent="\t")
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # ------------------------------------------------------------------ credentials

    def get(self, server: str) -> Credentials:
        """The stored credentials for ``server`` (empty ones when there are none)."""
        key = server_key(server)
        helper = self.helper(key)
        if helper and _helper_path(helper):
            found = _helper_get(helper, key)
            if found is not None:
                return found
        entry = self._entry(key)
        if entry is None:
            return Credentials(key)
        creds = Credentials(key, str(entry.get("username") or ""),
                            str(entry.get("password") or ""),
                            str(entry.get("identitytoken") or ""))
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                user, _, password = base64.b64decode(encoded + "=" * (-len(encoded) % 4)
                                                     ).decode("utf-8").partition(":")
            except ValueError:
                raise CredentialsError(f"{self.path}: invalid auth for {key}") from None
            creds.username, creds.password = user, password
        return creds

    def _entry(self, key: str) -> dict[str, Any] | None:
        auths = self.auths
        if isinstance(auths.get(key), dict):
            return dict(auths[key])
        for name, entry in auths.items():  # "http://host:5000", "host:5000/v1/"...
            if isinstance(entry, dict) and server_key(name) == key:
                return dict(entry)
        return None

    def store(self, creds: Credentials) -> str:
        """Keep ``creds``; where they went: ``""`` (this file) or the helper's name."""
        key = server_key(creds.server)
        helper = self.helper(key)
        for name in [n for n in self.auths if n != key and server_key(n) == key]:
            del self.auths[name]
        if helper and _helper_path(helper):
            secret = creds.identity_token or creds.password
            user = TOKEN_USERNAME if creds.identity_token else creds.username
            _helper_run(helper, "store", json.dumps({"ServerURL": key, "Username": user,
                                                    "Secret": secret}))
            self.auths[key] = {}
            self.save()
            return helper
        password = "" if creds.identity_token else creds.password
        entry: dict[str, str] = {"auth": base64.b64encode(
            f"{creds.username}:{password}".encode()).decode()}
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
        self.auths[key] = entry
        self.save()
        return ""

    def erase(self, server: str) -> bool:
        """Forget ``server``'s credentials; whether there were any."""
        key = server_key(server)
        names = [n for n in self.auths if server_key(n) == key]
        helper = self.helper(key)
        erased = False
        if helper and _helper_path(helper):
            erased = _helper_run(helper, "erase", key, check=False)
        for name in names:
            del self.auths[name]
        if names:
            self.save()
        return erased or bool(names)


# --------------------------------------------------------------------------- helpers


def _helper_path(helper: str) -> str | None:
    import shutil

    return shutil.which(f"docker-credential-{helper}")


def _helper_run(helper: str, action: str, stdin: str, *, check: bool = True) -> bool:
    import subprocess

    binary = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([binary, action], input=stdin.encode(), capture_output=True,
                              timeout=HELPER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialsError(f"error {action} credentials with {binary}: {exc}") from None
    if proc.returncode != 0:
        if not check:
            return False
        text = (proc.stdout or proc.stderr).decode(errors="replace").strip()
        raise CredentialsError(f"error {action} credentials - err: exit status "
                               f"{proc.returncode}, out: `{text}`")
    return True


def _helper_get(helper: str, key: str) -> Credentials | None:
    import subprocess

    try:
        proc = subprocess.run([f"docker-credential-{helper}", "get"], input=key.encode(),
                              capture_output=True, timeout=HELPER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:  # "credentials not found in native keychain"
        return None
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    user, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    if user == TOKEN_USERNAME:
        return Credentials(key, "", "", secret)
    return Credentials(key, user, secret)
