"""``dockyard manifest inspect``: a manifest or an index as the registry serves it.

As ``docker manifest inspect``, this talks to the registry itself (the daemon is not
asked), with the credentials ``dockyard login`` stored for the registry
(:mod:`dockyard.cli.credentials`). Without ``-v`` it prints the document the registry
holds: a manifest indented with tabs (Go's ``json.Indent``), an index with three spaces
(as the docker CLI prints a manifest list). With ``-v``: for a manifest, ``Ref``,
``Descriptor`` (with the platform of its config), ``Raw`` (base64) and the parsed
document (``SchemaV2Manifest`` or ``OCIManifest``); for an index, a list of those, one
per child.

``--insecure`` allows plain HTTP and unverified TLS for the registry (loopback registries
always are); CA certificates are read from ``/etc/docker/certs.d/<host:port>/``.
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, Flag, Spec
from dockyard.cli.context import PROG, Context, StatusError

TYPE_CHECKING = False  # not `typing`'s: importing typing costs milliseconds of start-up
if TYPE_CHECKING:
    from typing import Any

    from dockyard.distribution.client import Repository
    from dockyard.oci.descriptor import Descriptor
    from dockyard.oci.reference import Reference

P = PROG
CERTS_DIR = "/etc/docker/certs.d"

INSPECT = Spec(f"{P} manifest inspect", f"{P} manifest inspect [OPTIONS] [MANIFEST_LIST] "
               "MANIFEST", "Display an image manifest, or manifest list", [
                   Flag("insecure", BOOL, "Allow communication with an insecure registry"),
                   Flag("verbose", BOOL, "Output additional info including layers and "
                        "platform", short="v"),
               ], min_args=1, max_args=2)


def inspect(ctx: Context, argv: list[str]) -> int:
    import json

    from dockyard.cli.commands.distribution import _config, _reference
    from dockyard.distribution import RegistryAuth, RegistryConfig
    from dockyard.distribution.client import Repository
    from dockyard.errors import DockyardError
    from dockyard.oci import mediatypes as mt
    from dockyard.oci import reference

    opts = ctx.parse(INSPECT, argv)
    if len(opts.args) == 2:
        raise StatusError("manifest lists made locally (docker manifest create) are not "
                          "kept by dockyard: inspect the registry's copy by its name", 1)
    ref, _ = _reference(opts.args[0], all_tags=False)
    creds = _config(ctx).get(ref.domain)
    auth = RegistryAuth(username=creds.username, password=creds.password,
                        identity_token=creds.identity_token)
    config = RegistryConfig(insecure_registries=(ref.domain,) if opts.flag("insecure")
                            else (), certs_dir=CERTS_DIR)
    want = str(ref.digest) if ref.digest is not None else ref.tag
    try:
        with Repository.open(ref.domain, ref.path, auth, config) as repo:
            desc, raw = repo.fetch_manifest(want)
            doc = json.loads(raw)
            if not opts.flag("verbose"):
                indent = "   " if mt.is_index(desc.media_type) else "\t"
                ctx.write(json.dumps(doc, indent=indent, ensure_ascii=False) + "\n")
                return 0
            if mt.is_index(desc.media_type):
                out: Any = [_verbose(repo, reference.with_digest(
                    reference.trim_named(ref), child.digest), child, None)
                    for child in _children(doc)]
            else:
                out = _verbose(repo, ref, desc, raw)
    except DockyardError as exc:
        raise StatusError(str(exc), 1) from None
    ctx.write(json.dumps(out, indent="\t", ensure_ascii=False) + "\n")
    return 0


def _children(doc: dict[str, Any]) -> list[Descriptor]:
    from dockyard.oci.descriptor import Descriptor
    from dockyard.oci.digest import parse_digest

    out = []
    for m in doc.get("manifests") or []:
        if isinstance(m, dict):
            out.append(Descriptor(str(m.get("mediaType", "")), parse_digest(str(m["digest"])),
                                  int(m.get("size", 0))))
    return out


def _verbose(repo: Repository, ref: Reference, desc: Descriptor, raw: bytes | None
             ) -> dict[str, Any]:
    """docker's ``types.ImageManifest``: Ref, Descriptor (platform from the config), Raw
    and the parsed manifest."""
    import base64
    import json

    from dockyard.oci import mediatypes as mt

    if raw is None:
        desc, raw = repo.fetch_manifest(str(desc.digest))
    doc = json.loads(raw)
    descriptor: dict[str, Any] = {"mediaType": desc.media_type, "digest": str(desc.digest),
                                  "size": desc.size}
    config = doc.get("config") if isinstance(doc, dict) else None
    if isinstance(config, dict) and config.get("digest"):
        from dockyard.oci.descriptor import Descriptor
        from dockyard.oci.digest import parse_digest

        blob = repo.fetch_blob(Descriptor(str(config.get("mediaType", "")),
                                          parse_digest(str(config["digest"])),
                                          int(config.get("size", 0))))
        image = json.loads(blob)
        if isinstance(image, dict):
            platform = {"architecture": image.get("architecture", ""),
                        "os": image.get("os", "")}
            if image.get("variant"):
                platform["variant"] = image["variant"]
            descriptor["platform"] = platform
    key = "SchemaV2Manifest" if desc.media_type == mt.DOCKER_MANIFEST else "OCIManifest"
    return {"Ref": str(ref), "Descriptor": descriptor,
            "Raw": base64.b64encode(raw).decode(), key: doc}
