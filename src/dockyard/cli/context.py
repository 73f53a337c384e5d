"""What every command gets: the daemon's client (made on first use), the streams and
the global flags.

A command is ``def cmd(ctx: Context, argv: list[str]) -> int``: it parses ``argv`` with
its :class:`dockyard.cli.args.Spec` (``ctx.parse``), talks to the daemon through
``ctx.client()`` and writes to ``ctx.out``/``ctx.err``. It returns the exit status or
raises :class:`StatusError` (a message and a status), ``UsageError`` (printed with the
usage, 125) or a client error (``Error response from daemon: ...``, 1); ``main``
prints them the docker CLI's way.
"""

from __future__ import annotations

import sys

from dockyard.cli.args import Options, Spec

TYPE_CHECKING = False  # not `typing`'s: importing typing costs milliseconds of start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import BinaryIO, TextIO

    from dockyard.client.http import Client

PROG = "dockyard"


class StatusError(Exception):
    """End the command with ``status`` after printing ``message`` (if any) on stderr; the
    docker CLI's ``cli.StatusError``. It never leaves ``dockyard.cli``."""

    def __init__(self, message: str = "", status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Context:
    """The global state of one ``dockyard`` invocation (no globals elsewhere)."""

    def __init__(self, host: str, *, debug: bool = False, log_level: str = "info",
                 environ: Mapping[str, str] | None = None,
                 stdin: TextIO | None = None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.host = host
        self.debug = debug
        self.log_level = log_level
        self.environ = environ if environ is not None else {}
        self.stdin = stdin if stdin is not None else sys.stdin
        self.out = stdout if stdout is not None else sys.stdout
        self.err = stderr if stderr is not None else sys.stderr
        self._client: Client | None = None

    def client(self) -> Client:
        """The Engine API client for ``host`` (made on the first call)."""
        if self._client is None:
            from dockyard.client.http import Client

            trace = None
            if self.debug:
                def trace(line: str) -> None:
                    self.err.write(f"DEBU[dockyard] {line}\n")

            self._client = Client(self.host, trace=trace)
        return self._client

    def use_client(self, client: Client) -> None:
        """Share an existing client (a command running another command's code)."""
        self._client = client

    @property
    def out_bytes(self) -> BinaryIO:
        """stdout as bytes (container output, tar archives): text written before is
        flushed first so the two stay in order."""
        self.out.flush()
        buffer: BinaryIO = getattr(self.out, "buffer", None) or sys.stdout.buffer
        return buffer

    @property
    def err_bytes(self) -> BinaryIO:
        self.err.flush()
        buffer: BinaryIO = getattr(self.err, "buffer", None) or sys.stderr.buffer
        return buffer

    def parse(self, spec: Spec, argv: Sequence[str]) -> Options:
        """``spec.parse(argv)``; ``--help`` prints the help and ends with 0."""
        opts = spec.parse(argv)
        if opts.flag("help"):
            self.out.write(spec.help())
            raise StatusError("", 0)
        return opts

    def each(self, names: Sequence[str], action: Callable[[str], object], *,
             summary: str = "") -> int:
        """Run ``action`` on every name, printing the name when it worked; the errors
        (Docker's ``Error response from daemon: ...``) are gathered and end the command
        with status 1 after all names were tried, as the docker CLI does for ``stop``,
        ``rm``, ``pause``... ``summary`` is a last line such as ``Error: failed to start
        containers: a, b``. An action returning False is skipped silently (it reported
        on its own)."""
        from dockyard.errors import DockyardError

        errors: list[str] = []
        failed: list[str] = []
        for name in names:
            try:
                if action(name) is False:
                    continue
            except DockyardError as exc:
                errors.append(error_text(exc))
                failed.append(name)
                continue
            self.out.write(name + "\n")
        if errors:
            if summary:
                errors.append(f"{summary}: {', '.join(failed)}")
            raise StatusError("\n".join(errors), 1)
        return 0

    def write(self, text: str) -> None:
        self.out.write(text)

    def warn(self, text: str) -> None:
        self.err.write(text if text.endswith("\n") else text + "\n")


def error_text(exc: Exception) -> str:
    """How the docker CLI prints an error: the daemon's with ``Error response from
    daemon:``, the others as they are."""
    from dockyard.client.errors import APIError

    if isinstance(exc, APIError):
        return f"Error response from daemon: {exc.message}"
    return str(exc)
