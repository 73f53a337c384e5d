"""A pull or push as Docker's JSON progress stream.

moby writes the status only with the stream's first line (``ioutils.WriteFlusher``): an
error before anything was said (a manifest unknown, a refused login, a registry not
reached) is an ordinary error response with its status, so ``docker pull`` prints
``Error response from daemon: ...`` and docker-py raises the matching exception; after
the first line the status was 200 and an error is the stream's last line
(``{"errorDetail": {"message": ...}, "error": ...}``), which the docker CLI prints before
exiting 1.

A client that goes away (a write fails, or the connection closes while the transfer is
quiet) cancels the transfer: it stops at its next chunk and keeps what it finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from aiohttp import web

from dockyard.api.errors import error_body, http_status
from dockyard.api.errors import error_message as exception_message
from dockyard.apitypes.distribution import progress_json, push_aux_json
from dockyard.apitypes.images import error_message, json_line
from dockyard.errors import DockyardError, Internal
from dockyard.image.progress import Progress, PushResult

log = logging.getLogger(__name__)

POLL = 1.0
"""Seconds between two looks at the connection while a transfer says nothing."""


class TransferStream(Protocol):
    """A running pull or push (``daemon.pulls.Transfer``)."""

    @property
    def finished(self) -> bool:
        """Every item was handed out (``next`` answers ``None`` from then on)."""
        ...

    async def next(self, timeout: float | None = None) -> Progress | PushResult | None:
        """The next item; ``None`` when ``timeout`` passed first or the transfer ended."""
        ...

    async def wait(self) -> object:
        """The outcome: raises the transfer's error."""
        ...

    def cancel(self) -> None: ...


def render(item: Progress | PushResult) -> dict[str, Any]:
    if isinstance(item, PushResult):
        return push_aux_json(item)
    return progress_json(item)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def stream_transfer(request: web.Request, transfer: TransferStream,
                          what: str) -> web.StreamResponse:
    """Answer ``request`` with ``transfer``'s progress (see the module docstring)."""
    try:
        first = await _first_item(request, transfer)
    except BaseException:
        transfer.cancel()
        raise
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    if first is None:  # the client left before the first line
        log.info("%s: the client went away; cancelling", what)
        transfer.cancel()
        return response
    if transfer.finished and all(_held_back(said) for said in first):
        try:
            await transfer.wait()  # nothing said yet: an error is the response's status
        except DockyardError as exc:
            if isinstance(exc, Internal):
                raise  # a bug: logged with its traceback by the error middleware
            _log_failure(what, exc)
            return web.Response(status=http_status(exc), body=error_body(str(exc)),
                                content_type="application/json")
    try:
        await response.prepare(request)
        for said in first:
            await response.write(json_line(render(said)))
        while not transfer.finished:
            item = await transfer.next(POLL)
            if item is not None:
                await response.write(json_line(render(item)))
            elif not transfer.finished and _gone(request):
                log.info("%s: the client went away; cancelling", what)
                transfer.cancel()
                return response
    except ConnectionError:
        log.info("%s: the client went away; cancelling", what)
        transfer.cancel()
        return response
    except asyncio.CancelledError:
        transfer.cancel()
        raise
    try:
        await transfer.wait()
    except Exception as exc:
        _log_failure(what, exc)
        with contextlib.suppress(ConnectionError):
            await response.write(json_line(error_message(exception_message(exc))))
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def _log_failure(what: str, exc: BaseException) -> None:
    """A registry that cannot be reached or refuses is the user's news, not a bug of
    the daemon (WARNING); anything else is logged with its traceback."""
    if isinstance(exc, DockyardError) and not isinstance(exc, Internal):
        log.warning("%s failed: %s", what, exc)
    else:
        log.error("%s failed: %s", what, exc, exc_info=exc)


def _held_back(item: Progress | PushResult) -> bool:
    return isinstance(item, Progress) and item.status.startswith("Pulling from ")


async def _first_item(request: web.Request, transfer: TransferStream
                      ) -> list[Progress | PushResult] | None:
    """The items to write first: the first one, or a held back ``Pulling from`` with the
    one after it (moby says it once the manifest is known, so a manifest that is not
    there is a plain 404; held back, it is so whenever the image service says it).
    ``[]``: the transfer ended first; ``None``: the client left."""
    held: list[Progress | PushResult] = []
    while not transfer.finished:
        item = await transfer.next(POLL)
        if item is not None:
            held.append(item)
            if not _held_back(item):
                return held
        elif not transfer.finished and _gone(request):
            return None
    return held
