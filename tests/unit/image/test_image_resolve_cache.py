"""``ImageService.get`` keeps the parsed documents of the images it resolved
(``resolve.Parsed``): the content store is read once per image, while names are still
looked up on every call."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.image import Image, ImageService
from dockyard.image import resolve as resolve_mod


def test_documents_parsed_once_and_names_looked_up_each_time(
        svc: ImageService, imp: Callable[..., Image], monkeypatch: pytest.MonkeyPatch) -> None:
    first = imp({"a": b"1"}, "app", "v1")
    second = imp({"b": b"2"}, "other", "v1")
    reads: list[str] = []
    real = resolve_mod.read_document

    def counting(content: object, digest: object, what: str) -> bytes:
        reads.append(what)
        return real(content, digest, what)  # type: ignore[arg-type]

    monkeypatch.setattr(resolve_mod, "read_document", counting)
    got = svc.get("app:v1")
    assert got.id == first.id and reads == ["manifest", "image config"]
    again = svc.get("app:v1")
    assert again == got and reads == ["manifest", "image config"]
    assert svc.get(str(first.id)).id == first.id and len(reads) == 2  # by ID: cached too
    # A moved tag is seen at once; the other image's documents are read once.
    svc.tag("other:v1", "app", "v1")
    reads.clear()
    assert svc.get("app:v1").id == second.id and reads == ["manifest", "image config"]
    assert svc.get("other:v1").id == second.id and len(reads) == 2
    assert svc.get(str(first.id)).dangling
    svc.remove("app:v1", force=True)
    with pytest.raises(Exception, match="No such image"):
        svc.get("app:v1")


def test_parsed_keeps_at_most_size() -> None:
    from dockyard.oci.descriptor import Descriptor
    from dockyard.oci.digest import parse_digest

    parsed = resolve_mod.Parsed(size=2)
    ds = [Descriptor("application/vnd.oci.image.manifest.v1+json",
                     parse_digest("sha256:" + f"{i:064x}"), 1) for i in range(3)]
    values: list[object] = [(i, i) for i in range(3)]
    for d, v in zip(ds, values, strict=True):
        parsed.put(d, v)  # type: ignore[arg-type]
    assert parsed.get(ds[0]) is None
    assert parsed.get(ds[1]) is values[1] and parsed.get(ds[2]) is values[2]
