"""``attach``, and the attached session shared with ``run`` and ``start -a``.

The call sequence is the docker CLI's: the attach is hijacked first (so no output is
lost), the wait is registered before the start (its response head has arrived when
:meth:`Client.post` returns, so the daemon knows of the waiter), then the start, then a
resize when there is a terminal, then the copy (:mod:`.interactive`); the exit status
is the wait's ``StatusCode``.
"""

from __future__ import annotations

import os

from dockyard.cli.args import BOOL, STRING, Flag, Spec
from dockyard.cli.commands.containers import cpath
from dockyard.cli.commands.interactive import DETACHED, detach_keys, session
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.client.http import Client, Hijacked, Response

ATTACH = Spec(f"{PROG} attach", f"{PROG} attach [OPTIONS] CONTAINER",
              "Attach local standard input, output, and error streams to a running container",
              [
                  Flag("detach-keys", STRING, "Override the key sequence for detaching a "
                       "container"),
                  Flag("no-stdin", BOOL, "Do not attach STDIN"),
                  Flag("sig-proxy", BOOL, "Proxy all received signals to the process",
                       default=True),
              ], min_args=1, max_args=1,
              aliases=[f"{PROG} container attach", f"{PROG} attach"])


class Session:
    """One attached container: what to copy and how (see :func:`Session.run`)."""

    def __init__(self, client: Client, cid: str, *, tty: bool, stdin: bool, stdout: bool,
                 stderr: bool, keys_spec: str = "", sig_proxy: bool = True) -> None:
        self.client = client
        self.cid = cid
        self.tty = tty
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.keys_spec = keys_spec
        self.keys = detach_keys(keys_spec)
        self.sig_proxy = sig_proxy

    def hijack(self) -> Hijacked:
        query: dict[str, str | bool] = {"stream": True, "stdin": self.stdin,
                                        "stdout": self.stdout, "stderr": self.stderr}
        if self.keys_spec:
            query["detachKeys"] = self.keys_spec
        return self.client.hijack("POST", cpath(self.cid, "attach"), query=query)

    def resize(self, rows: int, cols: int) -> None:
        self.client.post(cpath(self.cid, "resize"), {"h": rows, "w": cols}).close()

    def run(self, conn: Hijacked) -> str:
        """Copy until the stream ends: ``ENDED`` or ``DETACHED``."""
        return session(conn, stdin=self.stdin, tty=self.tty, keys=self.keys,
                       resize=self.resize, kill=self._kill if self.sig_proxy else None)

    def _kill(self, signum: int) -> None:
        self.client.post(cpath(self.cid, "kill"), {"signal": str(signum)}).close()


def wait_status(resp: Response) -> int:
    """The exit status in a wait response (``{"StatusCode": n, "Error": ...}``)."""
    body = resp.json()
    if not isinstance(body, dict):
        return 125
    err = body.get("Error")
    if isinstance(err, dict) and err.get("Message"):
        raise StatusError(str(err["Message"]), 125)
    code = body.get("StatusCode", 0)
    return code if isinstance(code, int) else 125


def check_input_tty(tty: bool, stdin: bool) -> None:
    if tty and stdin and not os.isatty(0):
        raise StatusError("the input device is not a TTY", 1)


def attach(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(ATTACH, argv)
    client = ctx.client()
    name = opts.args[0]
    info = client.get(cpath(name, "json")).json()
    state = info.get("State") or {}
    config = info.get("Config") or {}
    if not state.get("Running"):
        raise StatusError("You cannot attach to a stopped container, start it first", 1)
    if state.get("Paused"):
        raise StatusError("You cannot attach to a paused container, unpause it first", 1)
    if state.get("Restarting"):
        raise StatusError("You cannot attach to a restarting container, wait until it is "
                          "running", 1)
    tty = bool(config.get("Tty"))
    stdin = not opts.flag("no-stdin") and bool(config.get("OpenStdin"))
    check_input_tty(tty, stdin)
    session = Session(client, info.get("Id", name), tty=tty, stdin=stdin, stdout=True,
                      stderr=True, keys_spec=opts.text("detach-keys"),
                      sig_proxy=opts.flag("sig-proxy"))
    conn = session.hijack()
    waiter = client.post(cpath(session.cid, "wait"))
    try:
        if session.run(conn) == DETACHED:
            # docker's attach (and exec) report the detach as an error; run and start don't
            raise StatusError("read escape sequence", 1)
        return wait_status(waiter)
    finally:
        waiter.close()


def start_attached(ctx: Context, name: str, *, stdin: bool, detach_keys: str) -> int:
    """``start -a [-i]``: attach, wait, start, copy; the container's exit status."""
    client = ctx.client()
    info = client.get(cpath(name, "json")).json()
    config = info.get("Config") or {}
    cid = info.get("Id", name)
    tty = bool(config.get("Tty"))
    stdin = stdin and bool(config.get("OpenStdin"))
    check_input_tty(tty, stdin)
    session = Session(client, cid, tty=tty, stdin=stdin, stdout=True, stderr=True,
                      keys_spec=detach_keys)
    auto_remove = bool((info.get("HostConfig") or {}).get("AutoRemove"))
    conn = session.hijack()
    try:
        waiter = client.post(cpath(cid, "wait"),
                             {"condition": "removed" if auto_remove else "next-exit"})
    except BaseException:
        conn.close()
        raise
    try:
        try:
            client.post(cpath(cid, "start")).close()
        except BaseException:
            conn.close()
            raise
        if session.run(conn) == DETACHED:
            return 0
        return wait_status(waiter)
    finally:
        waiter.close()
