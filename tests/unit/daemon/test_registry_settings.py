"""The daemon's registry settings: flags and config-file keys into ``DaemonConfig`` and
the ``RegistryConfig`` pulls get, dockerd's checks of mirrors and insecure registries,
and ``/info``'s ``RegistryConfig``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.apitypes.distribution import registry_info_json
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.registries import normalize_mirror, registry_info
from dockyard.distribution import DEFAULT_CERTS_DIR, RegistryConfig
from dockyard.entrypoints.dockyardd import parse_args
from dockyard.errors import InvalidArgument

BASE = ["--data-root", "/tmp/x/data", "--exec-root", "/tmp/x/run"]


def test_flags() -> None:
    config = parse_args([*BASE, "--insecure-registry", "reg.local:5000",
                         "--insecure-registry", "10.0.0.0/8",
                         "--registry-mirror", "http://127.0.0.1:5001",
                         "--certs-dir", "/srv/certs.d"])
    assert config.insecure_registries == ("reg.local:5000", "10.0.0.0/8")
    assert config.registry == RegistryConfig(
        insecure_registries=("reg.local:5000", "10.0.0.0/8"), certs_dir="/srv/certs.d",
        mirrors=("http://127.0.0.1:5001/",))
    assert parse_args(BASE).registry == RegistryConfig(certs_dir=DEFAULT_CERTS_DIR)


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"insecure-registries": ["a:1"],
                                "registry-mirrors": ["https://mirror.example.com"],
                                "certs-dir": "/etc/x"}))
    config = parse_args([*BASE, "--config-file", str(path)])
    assert config.registry.mirrors == ("https://mirror.example.com/",)
    assert config.insecure_registries == ("a:1",)
    assert config.certs_dir == "/etc/x"
    with pytest.raises(InvalidArgument, match="both as a flag and in the configuration"):
        parse_args([*BASE, "--config-file", str(path), "--insecure-registry", "b:2"])
    path.write_text(json.dumps({"insecure-registries": "a:1"}))  # one string is a list
    assert parse_args([*BASE, "--config-file", str(path)]).insecure_registries == ("a:1",)
    path.write_text(json.dumps({"registry-mirrors": [5]}))
    with pytest.raises(InvalidArgument, match="expected a list of strings"):
        parse_args([*BASE, "--config-file", str(path)])


@pytest.mark.parametrize("bad", ["ftp://m", "https://u:p@m", "https://m/path", "https://m?q",
                                 "m.example.com"])
def test_bad_mirrors(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid mirror"):
        DaemonConfig(registry_mirrors=(bad,))


def test_mirrors_and_insecure_registries() -> None:
    assert normalize_mirror("https://m.example.com:5000/") == "https://m.example.com:5000/"
    with pytest.raises(InvalidArgument, match="should not contain '://'"):
        DaemonConfig(insecure_registries=("http://x:5000",))
    for bad in ("a b", "", "x/notacidr"):
        with pytest.raises(InvalidArgument):
            DaemonConfig(insecure_registries=(bad,))
    with pytest.raises(InvalidArgument, match="certs-dir"):
        DaemonConfig(certs_dir="relative")


def test_info_registry_config() -> None:
    info = registry_info(RegistryConfig(insecure_registries=("reg:5000", "10.1.0.0/16",
                                                             "127.0.0.0/8"),
                                        mirrors=("http://127.0.0.1:5001/",)))
    assert registry_info_json(info) == {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8", "10.1.0.0/16"],
        "IndexConfigs": {
            "docker.io": {"Name": "docker.io", "Mirrors": ["http://127.0.0.1:5001/"],
                          "Secure": True, "Official": True},
            "reg:5000": {"Name": "reg:5000", "Mirrors": [], "Secure": False,
                         "Official": False}},
        "Mirrors": ["http://127.0.0.1:5001/"]}
