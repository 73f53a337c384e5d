"""Pieces under the snapshotters: overlay feature detection, mount options, layer_dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.archive import DiffMode, WhiteoutMode
from dockyard.errors import InvalidArgument
from dockyard.linux import syscalls as sc
from dockyard.snapshots import Mount, layer_dirs
from dockyard.snapshots.mount import compact_overlay_data, parse_options
from dockyard.snapshots.overlay import detect_features


def _params(tmp_path: Path, **values: str) -> str:
    d = tmp_path / "params"
    d.mkdir()
    for k, v in values.items():
        (d / k).write_text(v + "\n")
    return str(d)


@pytest.mark.parametrize(("params", "options", "valid"), [
    ({"redirect_dir": "N", "metacopy": "N", "index": "N"}, [], True),
    ({"redirect_dir": "Y", "metacopy": "N", "index": "N"}, [], False),
    ({"redirect_dir": "Y", "metacopy": "N", "index": "N"}, ["redirect_dir=off"], True),
    ({"redirect_dir": "N", "metacopy": "Y", "index": "N"}, [], False),
    ({"redirect_dir": "N", "metacopy": "N", "index": "Y"}, ["index=off"], True),
    ({"redirect_dir": "N", "metacopy": "N", "index": "N"}, ["metacopy=on"], False),
    ({"redirect_dir": "N", "metacopy": "N", "index": "N"}, ["redirect_dir=follow"], True),
    ({}, [], True),  # no module parameters: the kernel defaults (all off)
])
def test_upper_diff_validity(tmp_path: Path, params: dict[str, str], options: list[str],
                             valid: bool) -> None:
    f = detect_features(options, _params(tmp_path, **params))
    assert f.upper_diff_valid is valid


def test_the_host_overlay_is_read() -> None:
    f = detect_features(["index=off"])
    assert not f.index
    assert isinstance(f.upper_diff_valid, bool)


def test_parse_options() -> None:
    flags, prop, data = parse_options(["ro", "nosuid", "rbind", "rprivate", "size=64m", "rw",
                                       "lowerdir=/a:/b"])
    assert flags == sc.MS_NOSUID | sc.MS_BIND | sc.MS_REC  # rw clears ro
    assert prop == sc.MS_PRIVATE | sc.MS_REC
    assert data == ["size=64m", "lowerdir=/a:/b"]


def test_compact_overlay_data() -> None:
    root = "/var/lib/dockyard/snapshots/overlay/snapshots"
    lowers = ":".join(f"{root}/{i}/fs" for i in range(200, 0, -1))
    data = ["index=off", f"workdir={root}/201/work", f"upperdir={root}/201/fs",
            f"lowerdir={lowers}"]
    common, rel = compact_overlay_data(data)
    assert common == root
    assert rel[:3] == ["index=off", "workdir=201/work", "upperdir=201/fs"]
    assert rel[3].startswith("lowerdir=200/fs:199/fs:") and rel[3].endswith(":1/fs")
    assert len(",".join(rel)) < 4096 < len(",".join(data))
    with pytest.raises(InvalidArgument):
        compact_overlay_data(["lowerdir=rel/a:rel/b"])


def test_layer_dirs() -> None:
    ov = Mount("overlay", "overlay", options=("index=off", "workdir=/s/3/work",
                                              "upperdir=/s/3/fs", "lowerdir=/s/2/fs:/s/1/fs"))
    d = layer_dirs([ov])
    assert (d.upper, d.lowers, d.whiteout_mode) == ("/s/3/fs", ("/s/2/fs", "/s/1/fs"),
                                                     WhiteoutMode.OVERLAY)
    d = layer_dirs([Mount("bind", "/s/1/fs", options=("rw", "rbind"))])
    assert (d.upper, d.lowers, d.whiteout_mode) == ("/s/1/fs", (), WhiteoutMode.NATIVE)
    for bad in ([Mount("bind", "/x", options=("ro", "rbind"))],
                [Mount("overlay", "overlay", options=("lowerdir=/a:/b",))],
                [Mount("tmpfs", "tmpfs")], []):
        with pytest.raises(InvalidArgument):
            layer_dirs(bad)
    assert DiffMode("overlay") is DiffMode.OVERLAY
