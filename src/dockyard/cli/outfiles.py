"""An archive a command writes to ``-o FILE`` (``save``, ``export``), as the docker CLI's
``command.CopyToFile`` writes it: into a temp file beside the target (``.docker_temp_*``),
renamed over it once complete, removed if the copy fails, so that an interrupted copy
never leaves a half-written file under the target's name."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def check_output_path(output: str) -> str | None:
    """docker's ``validateOutputPath``: why ``-o output`` cannot be written, or None."""
    directory = os.path.dirname(os.path.normpath(output))
    if directory not in ("", "."):
        try:
            os.stat(directory)
        except OSError as exc:
            return f"invalid output path: stat {directory}: {(exc.strerror or str(exc)).lower()}"
    if os.path.isdir(output):
        return "cannot write to a directory"
    return None


def copy_to_file(chunks: Iterable[bytes], output: str) -> None:
    """docker's ``CopyToFile``: ``chunks`` written to ``output`` whole or not at all."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".docker_temp_", dir=os.path.dirname(os.path.abspath(output)))
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.rename(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise
