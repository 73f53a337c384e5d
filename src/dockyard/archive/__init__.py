"""Safe layer archives: apply a layer tar to a directory, write one from a diff, compress.

The public surface (see each module for the why):

- ``apply_layer(stream, target, *, whiteout_mode, parents, limits, ...) -> ApplyResult``
- ``write_diff(lower, upper, out, *, mode) -> DiffResult``
- ``changes(lower, upper, *, mode) -> list[Change]``
- ``compress(stream, compression, out) -> CompressResult``, ``CompressingWriter``,
  ``DecompressingReader``, ``detect_compression``
- values and kinds: ``Limits``, ``WhiteoutMode``, ``DiffMode``, ``ChangeKind``,
  ``Compression``, ``TarEntry``, ``EntryType``

Layer application is a security boundary: see ``safety`` for the rules.
"""

from dockyard.archive.apply import ApplyResult, apply_layer
from dockyard.archive.changes import Change, ChangeKind, DiffMode, changes
from dockyard.archive.compression import (
    CompressingWriter,
    Compression,
    CompressResult,
    DecompressingReader,
    compress,
    detect_compression,
)
from dockyard.archive.diff import DiffResult, write_diff
from dockyard.archive.safety import Limits
from dockyard.archive.tarformat import EntryType, TarEntry
from dockyard.archive.whiteouts import WhiteoutMode

__all__ = [
    "ApplyResult",
    "Change",
    "ChangeKind",
    "CompressResult",
    "CompressingWriter",
    "Compression",
    "DecompressingReader",
    "DiffMode",
    "DiffResult",
    "EntryType",
    "Limits",
    "TarEntry",
    "WhiteoutMode",
    "apply_layer",
    "changes",
    "compress",
    "detect_compression",
    "write_diff",
]
