"""Image operations over a temp data root: import, unpack, tag/rmi, list, inspect,
history, prune, and the leases containers hold."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.image import DeleteItem, Image, ImageService
from dockyard.image.naming import ImageUser
from dockyard.oci.manifest import chain_ids
from dockyard.oci.platform import Platform, host_platform


def snapshot_dir(svc: ImageService, name: str) -> Path:
    """The tree of a committed snapshot of the native snapshotter (a read-only bind)."""
    key = f"look-{name[-8:]}-{os.urandom(3).hex()}"
    mounts = svc.stores.snapshotter.view(key, name)
    svc.stores.snapshotter.remove(key)
    return Path(mounts[0].source)


def test_import_inspect_history(svc: ImageService, tarball: Callable[..., bytes]) -> None:
    tar = tarball({"etc/": None, "etc/hostname": b"box\n", "bin/": None,
                    "bin/sh": b"#!fake\n"})
    image = svc.import_image(io.BytesIO(tar), repository="example.com/team/app", tag="v1",
                             changes=["CMD [\"sh\"]", "ENV A=1", "WORKDIR /srv",
                                      "USER 1000", "EXPOSE 8080", "LABEL l=v",
                                      "VOLUME /data", "STOPSIGNAL SIGINT",
                                      'ENTRYPOINT ["/bin/sh"]', 'CMD ["-c", "true"]'],
                             message="hello", platform=Platform("linux", "arm64", "v8"))
    info = svc.inspect("example.com/team/app:v1")
    assert info["Id"] == str(image.id) == "sha256:" + hashlib.sha256(image.config.raw).hexdigest()
    assert info["RepoTags"] == ["example.com/team/app:v1"] and info["RepoDigests"] == []
    assert info["Comment"] == "hello" and info["Parent"] == ""
    assert info["Architecture"] == "arm64" and info["Os"] == "linux"
    assert info["RootFS"] == {"Type": "layers",
                              "Layers": ["sha256:" + hashlib.sha256(tar).hexdigest()]}
    cfg = info["Config"]
    assert cfg["Cmd"] == ["-c", "true"] and cfg["Entrypoint"] == ["/bin/sh"]
    assert cfg["Env"] == ["A=1"] and cfg["WorkingDir"] == "/srv" and cfg["User"] == "1000"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}} and cfg["Labels"] == {"l": "v"}
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGINT"
    assert cfg["Hostname"] == "" and cfg["AttachStdin"] is False
    assert info["Size"] == len(b"box\n") + len(b"#!fake\n")
    assert info["GraphDriver"]["Name"] == "native"
    assert info["Metadata"]["LastTagTime"].endswith("Z")
    hist = svc.history(str(image.id))
    assert len(hist) == 1 and hist[0]["Id"] == str(image.id)
    assert hist[0]["Comment"] == "hello" and hist[0]["Tags"] == ["example.com/team/app:v1"]
    # Found by ID, short ID and sha256: prefix as well.
    for text in (str(image.id), image.id.hex, image.id.hex[:12], "sha256:" + image.id.hex[:8]):
        assert svc.get(text).id == image.id


def test_unpack_makes_chain_snapshots_and_skips_present(svc: ImageService,
                                                        imp: Callable[..., Image]) -> None:
    image = imp({"a/": None, "a/file": b"content", "link": ("link", "a/file")}, "x")
    top = chain_ids(image.config.diff_ids)[-1]
    assert svc.is_unpacked("x")
    tree = snapshot_dir(svc, str(top))
    assert (tree / "a" / "file").read_bytes() == b"content"
    assert os.readlink(tree / "link") == "a/file"
    again = svc.unpack("x")
    assert (again.unpacked, again.skipped, again.chain_id) == (0, 1, top)
    row = svc.stores.meta.layers.get("native", top)
    assert row.blob_digest == image.manifest.layers[0].digest and row.unpacked_size == 7


def test_import_refuses_a_malicious_tar_and_keeps_nothing(
        svc: ImageService, tarball: Callable[..., bytes]) -> None:
    bad = tarball({"../escape": b"x"})
    with pytest.raises(InvalidArgument, match="escape"):
        svc.import_image(io.BytesIO(bad), repository="bad")
    assert svc.images() == []
    svc.collect()
    assert list(svc.stores.content.walk()) == []
    assert list(svc.stores.snapshotter.walk()) == []


def test_tag_and_rmi_rules(svc: ImageService, imp: Callable[..., Image]) -> None:
    image = imp({"f": b"1"}, "busybox")
    svc.tag("busybox", "busybox", "2")
    svc.tag(image.id.hex[:12], "other/repo")
    assert svc.get("busybox:2").id == image.id
    assert sorted(svc.get("busybox").repo_tags) == ["busybox:2", "busybox:latest",
                                                     "other/repo:latest"]
    # By ID with names in two repositories: must be forced.
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        svc.remove(str(image.id))
    # A name: untag only, the image stays.
    assert svc.remove("other/repo") == [DeleteItem(untagged="other/repo:latest")]
    assert svc.remove("busybox:2") == [DeleteItem(untagged="busybox:2")]
    # The last name: untagged and deleted, and the GC frees its content.
    items = svc.remove("busybox")
    chain = str(image.config.chain_id())
    assert items == [DeleteItem(untagged="busybox:latest"), DeleteItem(deleted=str(image.id)),
                     DeleteItem(deleted=chain)]
    with pytest.raises(NotFound):
        svc.get(str(image.id))
    assert list(svc.stores.content.walk()) == []
    assert list(svc.stores.snapshotter.walk()) == []
    with pytest.raises(NotFound):
        svc.remove("busybox")


def test_rmi_by_id_forced_and_digest_references(svc: ImageService, imp: Callable[..., Image]) -> None:
    image = imp({"f": b"2"}, "a")
    svc.tag("a", "b")
    digest_name = f"docker.io/library/a@{image.target.digest}"
    svc.stores.meta.images.set_names([digest_name], image.id, image.target)
    assert svc.get("a").repo_digests == [f"a@{image.target.digest}"]
    # Untagging a repository's last tag takes its digest references along.
    assert svc.remove("a:latest") == [DeleteItem(untagged="a:latest"),
                                      DeleteItem(untagged=f"a@{image.target.digest}")]
    svc.tag("b", "c")
    items = svc.remove(image.id.hex, force=True)
    assert items == [DeleteItem(untagged="b:latest"), DeleteItem(untagged="c:latest"),
                     DeleteItem(deleted=str(image.id)),
                     DeleteItem(deleted=str(image.config.chain_id()))]


def test_containers_lease_their_image(svc: ImageService, imp: Callable[..., Image]) -> None:
    image = imp({"f": b"3"}, "used")
    svc.hold("container-1", "used", labels={"dockyard.container": "c1" * 32})
    with pytest.raises(Conflict, match="must be forced") as e:
        svc.remove(str(image.id))
    assert str(e.value) == (f"conflict: unable to delete {image.id.short()} (must be forced) - "
                            f"image is being used by stopped container {'c1' * 6}")
    # Its only name is not removed without force (the image would be left dangling)...
    with pytest.raises(Conflict) as e:
        svc.remove("used")
    assert str(e.value) == ('conflict: unable to remove repository reference "used" (must '
                            f"force) - container {'c1' * 6} is using its referenced image "
                            f"{image.id.short()}")
    # ... but with a second name it is; forced, the last name goes and the image with it
    # (a stopped container does not stop a forced removal); the container's lease still
    # protects the content and snapshots.
    svc.tag("used", "second")
    assert svc.images()[0].containers == 1
    assert svc.prune(all_unused=True).deleted == ()
    assert svc.remove("used") == [DeleteItem(untagged="used:latest")]
    assert svc.remove("second", force=True) == [DeleteItem(untagged="second:latest"),
                                                DeleteItem(deleted=str(image.id))]
    assert image.manifest.layers[0].digest in {i.digest for i in svc.stores.content.walk()}
    assert list(svc.stores.snapshotter.walk())
    svc.release("container-1")
    svc.collect()
    assert list(svc.stores.content.walk()) == []
    # A running container's (hard) lease cannot be forced.
    again = imp({"f": b"4"}, "running")
    svc.hold("container-2", "running", hard=True)
    with pytest.raises(Conflict, match="cannot be forced"):
        svc.remove(str(again.id), force=True)
    # The daemon's view of its containers is used (the leases still count).
    svc.release("container-2")
    third = imp({"f": b"5"}, "third")
    def running(image_id: object) -> list[ImageUser]:
        return [ImageUser("abcdef" * 10, True)] if image_id == third.id else []

    with pytest.raises(Conflict, match="image is being used by running container abcdef"):
        svc.remove(third.id.hex[:7], force=True, users_of=running)
    # By name, forced: moby untags and quietly keeps the image a running container uses.
    svc.tag("third", "fourth")
    assert svc.remove("third", force=True, users_of=running) == [
        DeleteItem(untagged="third:latest")]
    assert svc.remove("fourth", force=True, users_of=running) == [
        DeleteItem(untagged="fourth:latest")]
    assert svc.get(str(third.id)).dangling
    assert svc.remove(str(third.id), users_of=lambda i: []) == [
        DeleteItem(deleted=str(third.id)), DeleteItem(deleted=str(third.config.chain_id()))]


def test_missing_and_invalid_names(svc: ImageService) -> None:
    with pytest.raises(NotFound, match=r"^No such image: busybox:latest$"):
        svc.remove("busybox")
    with pytest.raises(NotFound, match=r"^No such image: example\.com/a/b:v1$"):
        svc.get("example.com/a/b:v1")
    with pytest.raises(NotFound, match=r"^No such image: 0123abc$"):
        svc.get("0123abc")
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        svc.get("UPPER")


def test_list_filters(svc: ImageService, imp: Callable[..., Image]) -> None:
    old = imp({"f": b"old"}, "alpha", "1", created="2020-01-01T00:00:00Z")
    mid = imp({"f": b"mid"}, "beta/one", "2", changes=("LABEL team=x",))
    new = imp({"f": b"new"}, "", created="2030-01-01T00:00:00Z")
    ids = lambda **f: [s.id for s in svc.images({k: [v] for k, v in f.items()})]  # noqa: E731
    assert ids() == [new.id, mid.id, old.id]
    assert ids(dangling="true") == [new.id]
    assert ids(dangling="false") == [mid.id, old.id]
    assert ids(reference="alpha") == [old.id]
    assert ids(reference="beta/*") == [mid.id]
    assert ids(reference="*:2") == [mid.id]
    assert ids(label="team") == [mid.id] and ids(label="team=y") == []
    assert ids(before="beta/one:2") == [old.id]
    assert ids(since="alpha:1") == [new.id, mid.id]
    row = svc.images({"reference": ["alpha"]})[0].to_json()
    assert row["RepoTags"] == ["alpha:1"] and row["Id"] == str(old.id)
    with pytest.raises(InvalidArgument):
        svc.images({"nope": ["x"]})
    assert ids(until="2020-06-01T00:00:00Z") == [old.id]
    assert ids(until="1000h") == [old.id]
    # Shared sizes: no layer is shared here; -1 unless asked for.
    assert {r.shared_size for r in svc.images()} == {-1}
    assert {r.shared_size for r in svc.images(shared_size=True)} == {0}
    twin = imp({"f": b"mid"}, "twin", changes=("LABEL twin=1",))
    rows = {r.id: r for r in svc.images(shared_size=True)}
    assert rows[twin.id].shared_size == rows[mid.id].shared_size == rows[mid.id].size > 0
    assert rows[old.id].shared_size == 0


def test_prune_dangling_all_and_filters(svc: ImageService, imp: Callable[..., Image]) -> None:
    dangling = imp({"f": b"d"})
    old = imp({"f": b"o"}, "old", created="2001-01-01T00:00:00Z", changes=("LABEL keep=no",))
    kept = imp({"f": b"k"}, "kept", changes=("LABEL keep=yes",))
    report = svc.prune()
    assert report.deleted == (DeleteItem(deleted=str(dangling.id)),
                              DeleteItem(deleted=str(dangling.config.chain_id())))
    assert report.space_reclaimed > 0
    report = svc.prune(all_unused=True, filters={"until": ["2010-01-01T00:00:00Z"]})
    assert report.deleted == (DeleteItem(untagged="old:latest"),
                              DeleteItem(deleted=str(old.id)),
                              DeleteItem(deleted=str(old.config.chain_id())))
    assert svc.prune(all_unused=True, filters={"label!": ["keep=yes"]}).deleted == ()
    report = svc.prune(all_unused=True, filters={"label": ["keep=yes"]})
    assert report.to_json()["ImagesDeleted"][-2] == {"Deleted": str(kept.id)}
    assert svc.images() == []


def test_reusing_a_name_leaves_the_old_image_dangling(svc: ImageService,
                                                      imp: Callable[..., Image]) -> None:
    first = imp({"f": b"first"}, "app")
    second = imp({"f": b"second"}, "app")
    assert svc.get("app").id == second.id
    assert svc.get(str(first.id)).dangling
    assert [s.id for s in svc.images({"dangling": ["true"]})] == [first.id]


def test_busybox_image_is_offline_and_reproducible(svc: ImageService, tmp_path: Path) -> None:
    image = svc.make_busybox()
    cfg = image.config
    assert cfg.config.cmd == ("sh",)
    assert cfg.config.env == ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    assert cfg.os == "linux" and cfg.architecture == host_platform().architecture
    assert len(cfg.history) == 1 and "busybox" in cfg.history[0].created_by.lower()
    assert svc.get("busybox:latest").id == image.id
    tree = snapshot_dir(svc, str(chain_ids(cfg.diff_ids)[-1]))
    assert os.readlink(tree / "bin" / "ls") == "/bin/busybox"
    assert (tree / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (tree / "etc" / "group").read_text().startswith("root:x:0:")
    with ImageService.open(str(tmp_path / "again"), "native") as other:
        assert other.make_busybox().id == image.id
