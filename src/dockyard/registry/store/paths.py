"""The registry's storage layout: every driver path the stores use, built in one place.

Schema version 1 (``/VERSION`` holds ``dockyard-registry-storage 1``)::

    /VERSION
    /blobs/<alg>/<hex[0:2]>/<hex>/data        content-addressed bytes, shared by every
                                              repository; written only by an atomic move
                                              of a verified upload (or put_content of a
                                              verified manifest); mtime = last use (GC)
    /repositories/<name>/                     <name> per names.NAME_PATTERN (a/b/c)
        _layers/<alg>/<hex>/link              "<alg>:<hex>": the blob is in this repository
        _manifests/revisions/<alg>/<hex>/
            link                              "<alg>:<hex>": the manifest is in this repo
                                              (written last: the commit point)
            mediatype                         Content-Type it was pushed with
        _manifests/tags/<tag>/current/link    "<alg>:<hex>" of the tagged manifest
        _referrers/<alg>/<subject hex>/<alg>/<hex>/descriptor
                                              JSON descriptor of a manifest whose
                                              ``subject`` is that digest
    /uploads/<id>/                            one upload session; <id> is a uuid4 hex
        repo                                  the repository it was started in
        startedat                             ISO time, mtime = last activity (purging)
        data                                  the bytes received so far

It follows distribution's ``registry/storage/paths.go`` (blobs shared, repositories made
of links) with two changes: uploads are not under a repository (a cross-repository
mount never has to find one), and referrers are indexed at push time. Components
starting with ``_`` cannot be repository names, so the store's directories never clash
with a repository nested in another (``a`` and ``a/b``).

Every builder takes validated values (``RepoName``, ``Tag``, ``Digest``, an upload id
checked by ``validate_upload_id``); the driver validates the resulting path again.
"""

from __future__ import annotations

import re

from dockyard.oci.digest import Digest
from dockyard.registry.errors import UploadUnknown
from dockyard.registry.names import RepoName, Tag

SCHEMA_VERSION = 1
VERSION_PATH = "/VERSION"
VERSION_TEXT = f"dockyard-registry-storage {SCHEMA_VERSION}\n"

BLOBS = "/blobs"
REPOSITORIES = "/repositories"
UPLOADS = "/uploads"

_UPLOAD_ID = re.compile(r"[a-f0-9]{32}", re.ASCII)


def validate_upload_id(upload_id: str) -> str:
    """Upload ids are ours (uuid4 hex): anything else is an unknown upload."""
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise UploadUnknown(f"blob upload {upload_id[:100]!r} unknown")
    return upload_id


def blob_dir(d: Digest) -> str:
    return f"{BLOBS}/{d.algorithm}/{d.hex[:2]}/{d.hex}"


def blob_data(d: Digest) -> str:
    return blob_dir(d) + "/data"


def repo_dir(name: RepoName) -> str:
    return f"{REPOSITORIES}/{name}"


def layer_link(name: RepoName, d: Digest) -> str:
    return f"{repo_dir(name)}/_layers/{d.algorithm}/{d.hex}/link"


def layers_dir(name: RepoName) -> str:
    return f"{repo_dir(name)}/_layers"


def revisions_dir(name: RepoName) -> str:
    return f"{repo_dir(name)}/_manifests/revisions"


def revision_dir(name: RepoName, d: Digest) -> str:
    return f"{revisions_dir(name)}/{d.algorithm}/{d.hex}"


def revision_link(name: RepoName, d: Digest) -> str:
    return revision_dir(name, d) + "/link"


def revision_mediatype(name: RepoName, d: Digest) -> str:
    return revision_dir(name, d) + "/mediatype"


def tags_dir(name: RepoName) -> str:
    return f"{repo_dir(name)}/_manifests/tags"


def tag_dir(name: RepoName, tag: Tag) -> str:
    return f"{tags_dir(name)}/{tag}"


def tag_link(name: RepoName, tag: Tag) -> str:
    return tag_dir(name, tag) + "/current/link"


def referrers_dir(name: RepoName, subject: Digest) -> str:
    return f"{repo_dir(name)}/_referrers/{subject.algorithm}/{subject.hex}"


def referrer_entry(name: RepoName, subject: Digest, d: Digest) -> str:
    return f"{referrers_dir(name, subject)}/{d.algorithm}/{d.hex}/descriptor"


def referrer_dir(name: RepoName, subject: Digest, d: Digest) -> str:
    return f"{referrers_dir(name, subject)}/{d.algorithm}/{d.hex}"


def upload_dir(upload_id: str) -> str:
    return f"{UPLOADS}/{validate_upload_id(upload_id)}"


def upload_data(upload_id: str) -> str:
    return upload_dir(upload_id) + "/data"


def upload_repo(upload_id: str) -> str:
    return upload_dir(upload_id) + "/repo"


def upload_startedat(upload_id: str) -> str:
    return upload_dir(upload_id) + "/startedat"
