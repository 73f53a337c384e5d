"""The OCI error table and the one mapping from exceptions to statuses."""

from __future__ import annotations

import json

import pytest

from dockyard import errors as dy
from dockyard.registry import errors as e
from dockyard.registry.names import DigestInvalid, NameInvalid, TagInvalid

SPEC_STATUSES = {
    "BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400, "MANIFEST_BLOB_UNKNOWN": 400, "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404, "NAME_INVALID": 400, "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403, "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
}


def test_every_spec_code_is_in_the_table_with_its_status() -> None:
    for name, status in SPEC_STATUSES.items():
        assert e.ErrorCode[name].status == status


def body(reply: e.ErrorReply) -> dict[str, object]:
    doc = json.loads(reply.body)
    assert isinstance(doc, dict) and len(doc["errors"]) == 1
    return dict(doc["errors"][0])


@pytest.mark.parametrize(("exc", "code", "status"), [
    (e.BlobUnknown("b"), "BLOB_UNKNOWN", 404),
    (e.BlobUploadInvalid("b"), "BLOB_UPLOAD_INVALID", 400),
    (e.UploadUnknown("u"), "BLOB_UPLOAD_UNKNOWN", 404),
    (e.DigestMismatch("d"), "DIGEST_INVALID", 400),
    (DigestInvalid("d"), "DIGEST_INVALID", 400),
    (e.ManifestBlobUnknown("m", "sha256:x"), "MANIFEST_BLOB_UNKNOWN", 400),
    (e.ManifestInvalid("m"), "MANIFEST_INVALID", 400),
    (e.ManifestUnknown("m"), "MANIFEST_UNKNOWN", 404),
    (NameInvalid("n"), "NAME_INVALID", 400),
    (TagInvalid("t"), "TAG_INVALID", 400),
    (e.NameUnknown("n"), "NAME_UNKNOWN", 404),
    (e.SizeInvalid("s"), "SIZE_INVALID", 400),
    (e.TooLarge("s"), "SIZE_INVALID", 413),
    (e.Denied("d"), "DENIED", 403),
    (e.Unsupported("u"), "UNSUPPORTED", 405),
    (e.RangeInvalid("r"), "RANGE_INVALID", 416),
    (e.PaginationInvalid("p"), "PAGINATION_NUMBER_INVALID", 400),
    # The generic taxonomy (errors from dockyard.oci or a driver).
    (dy.NotFound("x"), "NAME_UNKNOWN", 404),
    (dy.InvalidArgument("x"), "MANIFEST_INVALID", 400),
    (dy.NotImplementedByDockyard("x"), "UNSUPPORTED", 405),
    (dy.PermissionDenied("x"), "DENIED", 403),
    (dy.Unavailable("x"), "UNAVAILABLE", 503),
])
def test_error_reply(exc: BaseException, code: str, status: int) -> None:
    reply = e.error_reply(exc)
    assert reply.status == status
    entry = body(reply)
    assert entry["code"] == code
    assert entry["message"] == str(exc)


def test_unknown_exceptions_are_500_without_their_message() -> None:
    reply = e.error_reply(RuntimeError("secret /path/inside"))
    assert reply.status == 500
    assert body(reply) == {"code": "UNKNOWN", "message": "unknown error"}


def test_unauthorized_carries_challenge_and_detail() -> None:
    exc = e.Unauthorized("need", 'Bearer realm="r"', [{"Type": "repository"}])
    reply = e.error_reply(exc)
    assert reply.status == 401
    assert ("WWW-Authenticate", 'Bearer realm="r"') in reply.headers
    assert body(reply)["detail"] == [{"Type": "repository"}]


def test_range_invalid_tells_the_size() -> None:
    reply = e.error_reply(e.RangeInvalid("r", size=10))
    assert ("Content-Range", "bytes */10") in reply.headers


def test_manifest_blob_unknown_names_the_digest() -> None:
    assert body(e.error_reply(e.ManifestBlobUnknown("m", "sha256:ab")))["detail"] == {
        "digest": "sha256:ab"}


def test_registry_errors_are_the_one_taxonomy() -> None:
    for cls in (e.BlobUnknown, e.ManifestUnknown, e.NameUnknown, e.UploadUnknown):
        assert issubclass(cls, dy.NotFound)
    for cls in (e.ManifestInvalid, e.SizeInvalid, e.DigestMismatch, e.RangeInvalid):
        assert issubclass(cls, dy.InvalidArgument)
    assert issubclass(e.Unauthorized, dy.PermissionDenied)
