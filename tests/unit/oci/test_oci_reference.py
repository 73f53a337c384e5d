"""References: the cases of distribution/reference's reference_test.go and
normalize_test.go, ported, plus Docker's user-facing examples."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, parse_digest
from dockyard.oci.reference import (
    Reference,
    familiar_name,
    familiar_string,
    is_valid_domain,
    parse,
    parse_any_reference,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
    split_docker_domain,
    trim_named,
    with_default_tag,
    with_digest,
    with_name,
    with_tag,
)

F64 = "f" * 64
F128 = "f" * 128

# ----------------------------------------------------------------- TestReferenceParse
# (input, repository name, domain, tag, digest); an error case has its message instead.
PARSE_OK = [
    ("test_com", "test_com", "", "", ""),
    ("test.com:tag", "test.com", "", "tag", ""),
    ("test.com:5000", "test.com", "", "5000", ""),
    ("test.com/repo:tag", "test.com/repo", "test.com", "tag", ""),
    ("test:5000/repo", "test:5000/repo", "test:5000", "", ""),
    ("test:5000/repo:tag", "test:5000/repo", "test:5000", "tag", ""),
    (f"test:5000/repo@sha256:{F64}", "test:5000/repo", "test:5000", "", f"sha256:{F64}"),
    (f"test:5000/repo:tag@sha256:{F64}", "test:5000/repo", "test:5000", "tag",
     f"sha256:{F64}"),
    ("lowercase:Uppercase", "lowercase", "", "Uppercase", ""),
    ("a/" * 127 + "a:tag-puts-this-over-max", "a/" * 127 + "a", "a", "tag-puts-this-over-max",
     ""),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "",
     ""),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux",
     "sub-dom1.foo.com", "some-long-tag", ""),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app",
     "b.gcr.io", "test.example.com", ""),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", "xn--n3h.com",
     ""),
    (f"xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F128}", "xn--7o8h.com/myimage",
     "xn--7o8h.com", "xn--7o8h.com", f"sha512:{F128}"),
    ("foo_bar.com:8080", "foo_bar.com", "", "8080", ""),
    ("foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", "8080", ""),
    ("192.168.1.1", "192.168.1.1", "", "", ""),
    ("192.168.1.1:tag", "192.168.1.1", "", "tag", ""),
    ("192.168.1.1:5000", "192.168.1.1", "", "5000", ""),
    ("192.168.1.1/repo", "192.168.1.1/repo", "192.168.1.1", "", ""),
    ("192.168.1.1:5000/repo", "192.168.1.1:5000/repo", "192.168.1.1:5000", "", ""),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", ""),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo", "[2001:db8::1]", "", ""),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo",
     "[2001:db8:1:2:3:4:5:6]", "tag", ""),
    ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", ""),
    ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "tag", ""),
    (f"[2001:db8::1]:5000/repo@sha256:{F64}", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000",
     "", f"sha256:{F64}"),
    (f"[2001:db8::1]:5000/repo:tag@sha256:{F64}", "[2001:db8::1]:5000/repo",
     "[2001:db8::1]:5000", "tag", f"sha256:{F64}"),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo", "[2001:db8::]:5000", "", ""),
    ("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000", "", ""),
]

PARSE_ERR = [
    ("", "at least one component"),
    (":justtag", "invalid reference format"),
    (f"@sha256:{F64}", "invalid reference format"),
    ("repo@sha256:" + "f" * 34, "needs 64 hex digits"),
    (f"validname@invaliddigest:{F64}", "unsupported algorithm"),
    ("Uppercase:tag", "must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
    ("a/" * 128 + "a:tag", "must not be more than 255 characters"),
    ("aa/asdf$$^/aa", "invalid reference format"),
    ("[2001:db8::1]", "invalid reference format"),
    ("[2001:db8::1]:5000", "invalid reference format"),
    ("[2001:db8::1]:tag", "invalid reference format"),
    ("[fe80::1%eth0]:5000/repo", "invalid reference format"),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid reference format"),
    # Not upstream: Python's '$' would accept a trailing newline; fullmatch must not.
    ("busybox\n", "invalid reference format"),
    ("busybox:" + "t" * 129, "invalid reference format"),
]


@pytest.mark.parametrize(("s", "name", "domain", "tag", "digest"), PARSE_OK)
def test_parse(s: str, name: str, domain: str, tag: str, digest: str) -> None:
    ref = parse(s)
    assert str(ref) == s
    assert ref.name == name
    assert ref.domain == domain
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else "") == digest


@pytest.mark.parametrize(("s", "message"), PARSE_ERR)
def test_parse_invalid(s: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse(s)


# ----------------------------------------------------------------- WithName / Domain / Path

@pytest.mark.parametrize("s", ["", ":justtag", f"@sha256:{F64}",
                               f"validname@invaliddigest:{F64}", "a/" * 128 + "a:tag",
                               "aa/asdf$$^/aa"])
def test_with_name_failure(s: str) -> None:
    with pytest.raises(InvalidArgument):
        with_name(s)


@pytest.mark.parametrize(("s", "domain", "path"), [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "", "test_com/foo"),
    ("test:8080/foo", "test:8080", "foo"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
])
def test_domain_and_path(s: str, domain: str, path: str) -> None:
    ref = with_name(s)
    assert (ref.domain, ref.path) == (domain, path)


# ----------------------------------------------------------------- WithTag / WithDigest

DGST = parse_digest("sha256:" + "1234567890098765432112345667890098765432112345667890098765432112")


@pytest.mark.parametrize(("name", "digest", "tag", "combined"), [
    ("test.com/foo", None, "tag", "test.com/foo:tag"),
    ("foo", None, "tag2", "foo:tag2"),
    ("test.com:8000/foo", None, "tag4", "test.com:8000/foo:tag4"),
    ("test.com:8000/foo", None, "TAG5", "test.com:8000/foo:TAG5"),
    ("test.com:8000/foo", DGST, "TAG5", f"test.com:8000/foo:TAG5@{DGST}"),
])
def test_with_tag(name: str, digest: Digest | None, tag: str, combined: str) -> None:
    ref = with_name(name)
    if digest is not None:
        ref = with_digest(ref, digest)
    assert str(with_tag(ref, tag)) == combined


@pytest.mark.parametrize(("name", "tag", "combined"), [
    ("test.com/foo", "", f"test.com/foo@{DGST}"),
    ("foo", "", f"foo@{DGST}"),
    ("test.com:8000/foo", "", f"test.com:8000/foo@{DGST}"),
    ("test.com:8000/foo", "latest", f"test.com:8000/foo:latest@{DGST}"),
])
def test_with_digest(name: str, tag: str, combined: str) -> None:
    ref = with_name(name)
    if tag:
        ref = with_tag(ref, tag)
    assert str(with_digest(ref, DGST)) == combined
    assert str(with_digest(ref, str(DGST))) == combined


def test_invalid_components() -> None:
    with pytest.raises(InvalidArgument):
        parse_normalized_named("-foo")
    ref = parse_normalized_named("busybox")
    with pytest.raises(InvalidArgument, match="invalid tag format"):
        with_tag(ref, "-foo")
    with pytest.raises(InvalidArgument, match="invalid digest"):
        with_digest(ref, "foo")


# ----------------------------------------------------------------- ParseNamed

@pytest.mark.parametrize(("s", "domain", "path"), [
    ("test.com/foo", "test.com", "foo"),
    ("test:8080/foo", "test:8080", "foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
])
def test_parse_named(s: str, domain: str, path: str) -> None:
    ref = parse_named(s)
    assert (ref.domain, ref.path) == (domain, path)


@pytest.mark.parametrize("s", ["test_com/foo", "test.com", "foo", "library/foo", "docker.io/foo"])
def test_parse_named_not_canonical(s: str) -> None:
    with pytest.raises(InvalidArgument, match="must be canonical"):
        parse_named(s)


# ----------------------------------------------------------------- normalize_test.go

VALID_REPO_NAMES = [
    "docker/docker", "library/debian", "debian", "docker.io/docker/docker",
    "docker.io/library/debian", "docker.io/debian", "index.docker.io/docker/docker",
    "index.docker.io/library/debian", "index.docker.io/debian", "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian", "127.0.0.1:5000/debian", "192.168.0.1", "192.168.0.1:80",
    "192.168.0.1:8/debian", "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker", "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker", "DOCKER/docker",
    # TestValidateRemoteName
    "docker-rules/docker", "docker---rules/docker", "doc/docker", "d/docker", "jess/t",
    "dock__er/docker",
]
INVALID_REPO_NAMES = [
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker",
    "-docker.io/docker/docker", "docker///docker", "docker.io/docker/Docker",
    "docker.io/docker///docker", "[fc00::1]", "[fc00::1]:5000", "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    # TestValidateRemoteName
    "docker-/docker", "-docker-/docker", "____/____", "_docker/_docker", "dock..er/docker",
    "dock_.er/docker", "dock-.er/docker", "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
]


@pytest.mark.parametrize("s", VALID_REPO_NAMES)
def test_valid_repo_names(s: str) -> None:
    parse_normalized_named(s)


@pytest.mark.parametrize("s", INVALID_REPO_NAMES)
def test_invalid_repo_names(s: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_normalized_named(s)


def test_hex_identifier_message() -> None:
    with pytest.raises(InvalidArgument, match="cannot specify 64-byte hexadecimal strings"):
        parse_normalized_named("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a")


def test_uppercase_message() -> None:
    with pytest.raises(InvalidArgument, match=r"repository name \(library/Busybox\) must be "
                                              "lowercase"):
        parse_normalized_named("Busybox")


# TestParseRepositoryInfo: (remote name, familiar name, full name, ambiguous name, domain)
REPO_INFO = [
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", "", "docker.io"),
    ("private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase",
     "", "127.0.0.1:8000"),
    ("privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "",
     "127.0.0.1:8000"),
    ("private/moonbase", "example.com/private/moonbase", "example.com/private/moonbase", "",
     "example.com"),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", "", "example.com"),
    ("private/moonbase", "example.com:8000/private/moonbase",
     "example.com:8000/private/moonbase", "", "example.com:8000"),
    ("privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", "",
     "example.com:8000"),
    ("library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base",
     "index.docker.io/library/ubuntu-12.04-base", "docker.io"),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", "", "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", "", "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", "", "Foo"),
    ("bar", "FOO/bar", "FOO/bar", "", "FOO"),
]


@pytest.mark.parametrize(("remote", "familiar", "full", "ambiguous", "domain"), REPO_INFO)
def test_parse_repository_info(remote: str, familiar: str, full: str, ambiguous: str,
                               domain: str) -> None:
    for s in filter(None, (familiar, full, ambiguous)):
        ref = parse_normalized_named(s)
        assert familiar_name(ref) == familiar, s
        assert str(ref) == full, s
        assert ref.domain == domain, s
        assert ref.path == remote, s


def test_reference_with_tag_and_digest() -> None:
    short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    ref = parse_normalized_named(short)
    assert str(ref) == "docker.io/library/" + short
    assert ref.tag == "latest" and ref.digest is not None
    assert familiar_string(ref) == short


REDIS_D = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"


@pytest.mark.parametrize(("s", "equivalent"), [
    ("redis", "docker.io/library/redis"),
    ("redis:latest", "docker.io/library/redis:latest"),
    ("docker.io/library/redis:latest", "docker.io/library/redis:latest"),
    (f"redis@{REDIS_D}", f"docker.io/library/redis@{REDIS_D}"),
    (f"docker.io/library/redis@{REDIS_D}", f"docker.io/library/redis@{REDIS_D}"),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp"),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
    ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
    (f"dmcgowan/myapp@{REDIS_D}", f"docker.io/dmcgowan/myapp@{REDIS_D}"),
    (f"docker.io/dmcgowan/myapp@{REDIS_D}", f"docker.io/dmcgowan/myapp@{REDIS_D}"),
    (REDIS_D[7:], REDIS_D),
    (REDIS_D, REDIS_D),
    (REDIS_D[7:-1], "docker.io/library/" + REDIS_D[7:-1]),
    ("dbcc1", "docker.io/library/dbcc1"),
])
def test_parse_any_reference(s: str, equivalent: str) -> None:
    ref = parse_any_reference(s)
    assert str(ref) == equivalent
    if equivalent.startswith("sha256:"):
        assert isinstance(ref, Digest)
    else:
        assert isinstance(ref, Reference)
        assert ref == parse(equivalent)


@pytest.mark.parametrize(("s", "domain", "path"), [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
    ("localhost/foo", "localhost", "foo"),
    ("localhost:5000/a/b", "localhost:5000", "a/b"),
])
def test_normalized_split_hostname(s: str, domain: str, path: str) -> None:
    ref = parse_normalized_named(s)
    assert (ref.domain, ref.path) == (domain, path)
    assert split_docker_domain(s) == (domain, path)


# ----------------------------------------------------------------- Docker's user-facing forms

@pytest.mark.parametrize(("s", "full", "familiar"), [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    (f"host:5000/repo@sha256:{F64}", f"host:5000/repo@sha256:{F64}",
     f"host:5000/repo@sha256:{F64}"),
    (f"busybox:1@sha256:{F64}", f"docker.io/library/busybox@sha256:{F64}",
     f"busybox@sha256:{F64}"),
    ("index.docker.io/user/app", "docker.io/user/app:latest", "user/app:latest"),
])
def test_docker_pull_forms(s: str, full: str, familiar: str) -> None:
    ref = parse_docker_ref(s)
    assert str(ref) == full
    assert ref.familiar_string == familiar


def test_name_tag_digest_helpers() -> None:
    ref = parse_normalized_named(f"busybox:1@sha256:{F64}")
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"
    assert str(trim_named(ref)) == "docker.io/library/busybox"
    assert with_default_tag(trim_named(ref)).tag == "latest"
    assert with_default_tag(ref) == ref


def test_domains() -> None:
    assert is_valid_domain("localhost:5000")
    assert is_valid_domain("[::1]:5000")
    assert not is_valid_domain("a_b.com")
