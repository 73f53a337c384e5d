"""Manifests, indexes and image configs: parsing real-world shaped documents (bytes kept,
digests of the bytes received), validation errors, canonical builders, chain IDs."""

from __future__ import annotations

import hashlib
import json

import pytest

from dockyard.errors import InvalidArgument, NotImplementedByDockyard
from dockyard.oci import mediatypes as mt
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, digest_bytes, parse_digest
from dockyard.oci.manifest import (
    ContainerConfig,
    HealthConfig,
    HistoryEntry,
    ImageConfig,
    Index,
    Manifest,
    canonical_json,
    chain_id,
    chain_ids,
    detect_media_type,
    new_image_config,
    new_index,
    new_manifest,
    parse_image_config,
    parse_index,
    parse_manifest,
    parse_manifest_or_index,
)
from dockyard.oci.platform import Platform, best_match

# What Docker Hub serves for busybox:1.36 (amd64), indented as registries serve it.
DOCKER_SCHEMA2 = b"""{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1457,
      "digest": "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2591575,
         "digest": "sha256:3f4d90098f5b5a6f6a76e9d217da85aa39b2081e30fa1f7d287138d6e7bf0ad7"
      }
   ]
}"""

DOCKER_LIST = b"""{
   "manifests": [
      {
         "digest": "sha256:907ca53d7e2947e849b839b1cd258c98fd3916c60f2e6e70c30edbf741ab6754",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "amd64", "os": "linux"},
         "size": 528
      },
      {
         "digest": "sha256:1b7d6e4dc6c8f0e3a1e4c1e9b9e1e5c1b7d6e4dc6c8f0e3a1e4c1e9b9e1e5c1b",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
         "size": 528
      },
      {
         "digest": "sha256:2c7d6e4dc6c8f0e3a1e4c1e9b9e1e5c1b7d6e4dc6c8f0e3a1e4c1e9b9e1e5c1c",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
         "size": 528
      }
   ],
   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
   "schemaVersion": 2
}"""

# A BuildKit-pushed OCI index: two images and their attestation manifests.
OCI_INDEX = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "size": 1234,
         "digest": "sha256:" + "1" * 64,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": mt.OCI_MANIFEST, "size": 1234,
         "digest": "sha256:" + "2" * 64,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {"mediaType": mt.OCI_MANIFEST, "size": 566,
         "digest": "sha256:" + "3" * 64,
         "annotations": {"vnd.docker.reference.digest": "sha256:" + "1" * 64,
                         "vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"architecture": "unknown", "os": "unknown"}},
        {"mediaType": mt.OCI_INDEX, "size": 300, "digest": "sha256:" + "4" * 64},
    ],
    "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
}, indent=2).encode()

OCI_MANIFEST = b"""{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
    "size": 7023
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
      "size": 32654
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
      "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
      "size": 16724
    }
  ],
  "subject": {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
    "size": 7682
  },
  "annotations": {
    "com.example.key1": "value1",
    "com.example.key2": "value2"
  }
}"""

# A Docker (dockerd 20.10 style) config, with the fields Docker adds beyond OCI.
DOCKER_CONFIG = b"""{"architecture":"amd64","config":{"Hostname":"","Domainname":"","User":"",\
"AttachStdin":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],\
"Cmd":["sh"],"Image":"sha256:abc","Volumes":null,"WorkingDir":"","Entrypoint":null,\
"OnBuild":null,"Labels":{},"ExposedPorts":{"80/tcp":{},"53/udp":{}},\
"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3}},\
"container":"f1b2","container_config":{"Cmd":["/bin/sh","-c","#(nop) ","CMD [\\"sh\\"]"]},\
"created":"2023-05-19T20:19:27.475813876Z","docker_version":"20.10.23","history":[\
{"created":"2023-05-19T20:19:27.2Z","created_by":"/bin/sh -c #(nop) ADD file:1a2b in / "},\
{"created":"2023-05-19T20:19:27.4Z","created_by":"/bin/sh -c #(nop)  CMD [\\"sh\\"]",\
"empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":\
["sha256:9547b4c33213e630a0ca602a989ecc094e042146ae8afa502e1e65af6473db03"]}}"""


def test_docker_schema2_manifest() -> None:
    m = parse_manifest(DOCKER_SCHEMA2)
    assert isinstance(m, Manifest)
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.config.media_type == mt.DOCKER_CONFIG and m.config.size == 1457
    assert len(m.layers) == 1 and mt.layer_compression(m.layers[0].media_type) == "gzip"
    assert m.raw == DOCKER_SCHEMA2
    assert m.digest == Digest("sha256", hashlib.sha256(DOCKER_SCHEMA2).hexdigest())
    assert m.descriptor().size == len(DOCKER_SCHEMA2)


def test_oci_manifest_with_subject_and_annotations() -> None:
    m = parse_manifest(OCI_MANIFEST, mt.OCI_MANIFEST)
    assert m.media_type == mt.OCI_MANIFEST
    assert [d.media_type for d in m.layers] == [mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD]
    assert m.subject is not None and m.subject.size == 7682
    assert m.annotations == {"com.example.key1": "value1", "com.example.key2": "value2"}
    assert m.digest == digest_bytes(OCI_MANIFEST)


def test_manifest_without_media_type_field_is_oci_or_as_served() -> None:
    doc = json.loads(OCI_MANIFEST)
    del doc["mediaType"]
    raw = json.dumps(doc).encode()
    assert parse_manifest(raw).media_type == mt.OCI_MANIFEST
    # Served with a Content-Type: that is its type (the registry must echo it back).
    assert parse_manifest(raw, mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST


def test_docker_manifest_list_and_platform_pick() -> None:
    idx = parse_index(DOCKER_LIST)
    assert idx.media_type == mt.DOCKER_MANIFEST_LIST
    platforms = [d.platform for d in idx.manifests]
    assert platforms[1] == Platform("linux", "arm", "v7")
    assert best_match(Platform("linux", "arm64"), platforms) == 2
    assert best_match(Platform("linux", "amd64"), platforms) == 0
    assert idx.digest == digest_bytes(DOCKER_LIST)


def test_oci_index_with_attestations_and_nested_index() -> None:
    idx = parse_index(OCI_INDEX, mt.OCI_INDEX)
    assert len(idx.manifests) == 4
    assert idx.manifests[3].media_type == mt.OCI_INDEX and idx.manifests[3].platform is None
    assert best_match(Platform("linux", "amd64"), [d.platform for d in idx.manifests]) == 0
    assert idx.annotations["org.opencontainers.image.created"] == "2024-01-01T00:00:00Z"


def test_parse_either() -> None:
    assert isinstance(parse_manifest_or_index(OCI_INDEX), Index)
    assert isinstance(parse_manifest_or_index(DOCKER_SCHEMA2), Manifest)
    assert isinstance(parse_manifest_or_index(DOCKER_LIST, mt.DOCKER_MANIFEST_LIST), Index)
    assert detect_media_type(b'{"schemaVersion":2,"manifests":[]}') == mt.OCI_INDEX
    assert detect_media_type(b'{"schemaVersion":2,"config":{}}') == mt.OCI_MANIFEST
    with pytest.raises(InvalidArgument, match="neither a manifest nor an index"):
        parse_manifest_or_index(b'{"schemaVersion":2}')
    with pytest.raises(InvalidArgument, match="neither a manifest nor an index"):
        parse_manifest_or_index(DOCKER_SCHEMA2, mt.OCI_CONFIG)


def test_schema1_refused() -> None:
    doc = b'{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[]}'
    with pytest.raises(NotImplementedByDockyard, match="schema 1"):
        parse_manifest(doc)
    with pytest.raises(NotImplementedByDockyard, match="schema 1"):
        parse_manifest_or_index(doc)
    with pytest.raises(NotImplementedByDockyard, match="schema 1"):
        parse_manifest_or_index(doc, mt.DOCKER_MANIFEST_V1_SIGNED)


@pytest.mark.parametrize(("raw", "served", "message"), [
    (b"not json", None, "not valid JSON"),
    (b"[]", None, "expected a JSON object"),
    (b"\xff\xfe", None, "not valid JSON"),
    (b'{"schemaVersion":3,"config":{}}', None, "schemaVersion: must be 2"),
    (b'{"schemaVersion":true,"config":{}}', None, "schemaVersion: must be 2"),
    (b'{"schemaVersion":2}', None, "manifest.config: required"),
    (b'{"schemaVersion":2,"manifests":[]}', None, "this is an index"),
    (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{}}',
     None, "unexpected 'application/vnd.oci.image.index.v1\\+json'"),
    (DOCKER_SCHEMA2, mt.OCI_MANIFEST, "served as"),
    (b'{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:00","size":1}}', None,
     r"manifest.config.digest: invalid digest"),
    (b'{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:' + b"0" * 64
     + b'","size":1},"layers":{}}', None, "layers: expected an array"),
    (b'{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:' + b"0" * 64
     + b'","size":1},"layers":[{"mediaType":"a/b","size":-1,"digest":"sha256:' + b"0" * 64
     + b'"}]}', None, r"manifest.layers\[0\].size: must not be negative"),
    (b'{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json",'
     b'"digest":"sha256:' + b"0" * 64 + b'","size":2},"layers":[]}', None,
     "artifactType: required"),
])
def test_manifest_invalid(raw: bytes, served: str | None, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_manifest(raw, served)


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"schemaVersion":2}', "index.manifests: required"),
    (b'{"schemaVersion":2,"config":{}}', "this is a manifest"),
    (b'{"schemaVersion":2,"manifests":{}}', "expected an array"),
    (b'{"schemaVersion":2,"manifests":[{"mediaType":"a/b","size":1}]}',
     r"index.manifests\[0\].digest: required"),
    (b'{"schemaVersion":2,"manifests":[],"annotations":{"a":1}}', "annotations.a"),
])
def test_index_invalid(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_index(raw)


def test_docker_image_config() -> None:
    c = parse_image_config(DOCKER_CONFIG)
    assert c.id == digest_bytes(DOCKER_CONFIG) and c.raw == DOCKER_CONFIG
    assert c.platform == Platform("linux", "amd64")
    assert c.config.cmd == ("sh",) and c.config.entrypoint is None
    assert c.config.env[0].startswith("PATH=")
    assert c.config.exposed_ports == ("53/udp", "80/tcp")
    assert c.config.volumes == () and c.config.labels == {}
    assert c.config.healthcheck == HealthConfig(("CMD-SHELL", "true"), interval=30_000_000_000,
                                                retries=3)
    assert c.diff_ids == (parse_digest(
        "sha256:9547b4c33213e630a0ca602a989ecc094e042146ae8afa502e1e65af6473db03"),)
    assert [h.empty_layer for h in c.history] == [False, True]
    assert c.created == "2023-05-19T20:19:27.475813876Z"
    assert c.chain_id() == c.diff_ids[0]


def test_oci_spec_example_config() -> None:
    raw = json.dumps({
        "created": "2015-10-31T22:22:56.015925234Z",
        "author": "Alyssa P. Hacker <alyspdev@example.com>",
        "architecture": "amd64", "os": "linux",
        "config": {"User": "alice", "ExposedPorts": {"8080/tcp": {}},
                   "Env": ["PATH=/usr/bin", "FOO=oci_is_a"], "Entrypoint": ["/bin/my-app-binary"],
                   "Cmd": ["--foreground"], "Volumes": {"/var/job-result-data": {}},
                   "WorkingDir": "/home/alice", "StopSignal": "SIGRTMIN+3",
                   "Labels": {"com.example.project.git.url": "https://example.com/project.git"}},
        "rootfs": {"diff_ids": [
            "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
            "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"],
            "type": "layers"},
    }, indent=4).encode()
    c = parse_image_config(raw)
    assert c.author.startswith("Alyssa") and c.config.user == "alice"
    assert c.config.entrypoint == ("/bin/my-app-binary",) and c.config.stop_signal == "SIGRTMIN+3"
    assert c.config.working_dir == "/home/alice" and c.config.volumes == ("/var/job-result-data",)
    assert c.chain_id() == Digest(
        "sha256", "c3191d32a37d7159b2e30830937d2e30268ad6c375a773a8994911a3aba9b93f")


def test_config_entrypoint_string_is_one_element() -> None:
    raw = (b'{"architecture":"amd64","os":"linux","config":{"Entrypoint":"/bin/sh","Cmd":[]},'
           b'"rootfs":{"type":"layers","diff_ids":[]}}')
    c = parse_image_config(raw)
    assert c.config.entrypoint == ("/bin/sh",) and c.config.cmd == ()
    assert c.chain_id() is None


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"os":"linux","rootfs":{"type":"layers"}}', "architecture: required"),
    (b'{"architecture":"amd64","os":"linux"}', "rootfs: required"),
    (b'{"architecture":"amd64","os":"linux","rootfs":{"type":"tarsum"}}',
     'rootfs.type: must be "layers"'),
    (b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["x"]}}',
     r"diff_ids\[0\]: invalid digest"),
    (b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"config":{"Env":"A=1"}}',
     "config.Env: expected an array of strings"),
    (b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"history":[1]}',
     r"history\[0\]: expected an object"),
    (b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},'
     b'"config":{"Healthcheck":{"Retries":"3"}}}', "Healthcheck.Retries: expected an integer"),
])
def test_config_invalid(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_image_config(raw)


def test_canonical_json_matches_go() -> None:
    assert canonical_json({"b": 1, "a": ["<x>&", "é"]}) == (
        b'{"b":1,"a":["\\u003cx\\u003e\\u0026","\xc3\xa9"]}')


def test_new_manifest_and_index_are_canonical_and_round_trip() -> None:
    config = new_image_config(architecture="amd64", os="linux", diff_ids=[digest_bytes(b"l")])
    layer = parse_manifest(DOCKER_SCHEMA2).layers[0]._replace(media_type=mt.OCI_LAYER_GZIP)
    m = new_manifest(config=config_descriptor(config), layers=[layer],
                     annotations={"z": "1", "a": "2"})
    assert m.raw.startswith(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.'
                            b'manifest.v1+json","config":{')
    assert b" " not in m.raw and b'"annotations":{"a":"2","z":"1"}' in m.raw
    assert parse_manifest(m.raw) == m
    idx = new_index([m.descriptor(Platform("linux", "amd64"))])
    assert parse_index(idx.raw).manifests[0].platform == Platform("linux", "amd64")
    docker = new_manifest(config_descriptor(config), [layer], media_type=mt.DOCKER_MANIFEST)
    assert docker.media_type == mt.DOCKER_MANIFEST
    with pytest.raises(InvalidArgument, match="not a manifest media type"):
        new_manifest(config_descriptor(config), [], media_type=mt.OCI_INDEX)


def config_descriptor(config: ImageConfig) -> Descriptor:
    return Descriptor(mt.OCI_CONFIG, config.digest, len(config.raw))


def test_new_image_config_canonical_bytes() -> None:
    c = new_image_config(
        architecture="amd64", os="linux", created="2024-01-01T00:00:00Z",
        diff_ids=[parse_digest("sha256:" + "a" * 64)],
        config=ContainerConfig(env=("PATH=/bin",), cmd=("sh",), exposed_ports=("80/tcp",),
                               labels={"b": "1", "a": "2"}, entrypoint=()),
        history=[HistoryEntry(created="2024-01-01T00:00:00Z", created_by="import")])
    assert c.raw == (
        b'{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux",'
        b'"config":{"ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin"],"Entrypoint":[],'
        b'"Cmd":["sh"],"Labels":{"a":"2","b":"1"}},"rootfs":{"type":"layers","diff_ids":'
        b'["sha256:' + b"a" * 64 + b'"]},"history":[{"created":"2024-01-01T00:00:00Z",'
        b'"created_by":"import"}]}')
    assert c.config.entrypoint == () and c.config.labels == {"a": "2", "b": "1"}
    # Building again gives the same bytes, so the same image ID.
    again = new_image_config(architecture="amd64", os="linux", created="2024-01-01T00:00:00Z",
                             diff_ids=c.diff_ids, config=c.config, history=c.history)
    assert again.id == c.id


def test_container_config_round_trip() -> None:
    cc = ContainerConfig(user="1000:1000", env=("A=1",), entrypoint=("/init",), cmd=None,
                         volumes=("/data",), working_dir="/srv", stop_signal="SIGTERM",
                         healthcheck=HealthConfig(("NONE",)), on_build=("RUN x",),
                         shell=("/bin/bash", "-c"), args_escaped=True)
    assert ContainerConfig.from_json(cc.to_json()) == cc


# --------------------------------------------------------------------------- chain IDs

A = parse_digest("sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1")
B = parse_digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")


def test_chain_id_known_values() -> None:
    # Computed independently: printf 'sha256:c6f9... sha256:5f70...' | sha256sum
    ab = Digest("sha256", "c3191d32a37d7159b2e30830937d2e30268ad6c375a773a8994911a3aba9b93f")
    aba = Digest("sha256", "ce60e381e7c2941cc3c11bc7a60b267bb56a3be80df231da8c523c53af72518b")
    assert chain_id([A]) == A
    assert chain_id([A, B]) == ab
    assert chain_ids([A, B, A]) == (A, ab, aba)
    assert chain_id([B, A]) != ab  # order matters


def test_chain_id_empty() -> None:
    with pytest.raises(InvalidArgument, match="empty layer stack"):
        chain_id([])
    assert chain_ids([]) == ()
