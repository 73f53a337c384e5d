"""The process: capabilities (all five sets), no_new_privs, user and groups, rlimits,
oom_score_adj, env and cwd.

Kernel rules to keep in mind when reading the capability tests: at execve a root process
gets permitted = effective = bounding | inheritable whatever the spec's permitted and
effective sets said; a non-root process without file capabilities gets
permitted = effective = ambient. So the spec's effective/permitted sets are observable
through the ambient set they bound, and both runtimes must agree with the kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from dockyard.linux.caps import CAPABILITIES, DOCKER_DEFAULT_CAPS

if TYPE_CHECKING:
    from conftest import Runtime

pytestmark = pytest.mark.root

DOCKER_CAPS_MASK = 0x00000000A80425FB
STATUS_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Uid", "Gid",
               "Groups")


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def mask(names: list[str] | tuple[str, ...]) -> int:
    result = 0
    for name in names:
        result |= 1 << CAPABILITIES[name]
    return result


def status_of(r_stdout: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in r_stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in STATUS_KEYS:
            out[key] = " ".join(value.split())
    return out


def run_status(rt: Runtime, edit: Any = None) -> dict[str, str]:
    r = rt.run(rt.bundle(["cat", "/proc/self/status"], edit))
    assert r.returncode == 0, r
    return status_of(r.stdout)


def caps(status: dict[str, str]) -> dict[str, int]:
    return {k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def set_caps(**sets: list[str]) -> Any:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["capabilities"].update(sets)
    return edit


# ---------------------------------------------------------------------------- capabilities


def test_default_capabilities_are_dockers(oci_runtime: Runtime) -> None:
    assert mask(DOCKER_DEFAULT_CAPS) == DOCKER_CAPS_MASK
    got = caps(run_status(oci_runtime))
    assert got == {"CapInh": 0, "CapPrm": DOCKER_CAPS_MASK, "CapEff": DOCKER_CAPS_MASK,
                   "CapBnd": DOCKER_CAPS_MASK, "CapAmb": 0}, {k: hex(v) for k, v in got.items()}


def test_capability_outside_default_set_is_denied(oci_runtime: Runtime) -> None:
    """No CAP_SYS_ADMIN: sethostname and mount fail; CAP_CHOWN is there: chown works."""
    script = "chown 1:1 /dev/shm && echo chowned; hostname evil; mount -t tmpfs none /mnt"
    r = oci_runtime.run(oci_runtime.bundle(sh(script)))
    assert r.stdout == "chowned\n", r
    assert r.stderr.splitlines() == ["hostname: sethostname: Operation not permitted",
                                     "mount: permission denied (are you root?)"], r.stderr


def test_removed_default_capability_is_enforced(oci_runtime: Runtime) -> None:
    docker_without_chown = [c for c in DOCKER_DEFAULT_CAPS if c != "CAP_CHOWN"]
    edit = set_caps(bounding=docker_without_chown, effective=docker_without_chown,
                    permitted=docker_without_chown)
    r = oci_runtime.run(oci_runtime.bundle(sh("chown 1:1 /dev/shm"), edit))
    assert r.returncode != 0, r
    assert "Operation not permitted" in r.stderr, r.stderr


def test_all_five_sets_for_non_root_user(oci_runtime: Runtime) -> None:
    bounding = [*DOCKER_DEFAULT_CAPS, "CAP_NET_ADMIN"]
    inheritable = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    ambient = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}
        spec["process"]["capabilities"] = {
            "bounding": bounding, "permitted": list(DOCKER_DEFAULT_CAPS),
            "effective": ["CAP_CHOWN"], "inheritable": inheritable, "ambient": ambient}

    got = caps(run_status(oci_runtime, edit))
    assert got == {"CapBnd": mask(bounding), "CapInh": mask(inheritable),
                   "CapPrm": mask(ambient), "CapEff": mask(ambient), "CapAmb": mask(ambient)}, \
        {k: hex(v) for k, v in got.items()}


def test_ambient_capability_outside_permitted_is_not_granted(oci_runtime: Runtime) -> None:
    """runc 1.1.5 ignores the failed ambient raise and runs the process anyway (exit 0)."""
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}
        spec["process"]["capabilities"] = {
            "bounding": [*DOCKER_DEFAULT_CAPS, "CAP_NET_ADMIN"],
            "permitted": list(DOCKER_DEFAULT_CAPS), "effective": list(DOCKER_DEFAULT_CAPS),
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_NET_ADMIN"]}

    box = oci_runtime.bundle(["cat", "/proc/self/status"], edit)
    r = oci_runtime.run(box)
    if r.returncode == 0:
        got = caps(status_of(r.stdout))
        assert (got["CapAmb"], got["CapEff"], got["CapPrm"]) == (0, 0, 0), r.stdout
    else:
        assert r.stderr.strip(), "a refusal must say why"


def test_root_permitted_set_follows_bounding(oci_runtime: Runtime) -> None:
    """For uid 0 the kernel sets permitted = effective = bounding | inheritable at execve."""
    bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"]
    edit = set_caps(bounding=bounding, permitted=["CAP_CHOWN"], effective=["CAP_CHOWN"],
                    inheritable=[], ambient=[])
    got = caps(run_status(oci_runtime, edit))
    want = mask(bounding)
    assert got == {"CapBnd": want, "CapPrm": want, "CapEff": want, "CapInh": 0, "CapAmb": 0}, \
        {k: hex(v) for k, v in got.items()}


def test_no_new_privileges(oci_runtime: Runtime) -> None:
    assert run_status(oci_runtime)["NoNewPrivs"] == "0"

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["noNewPrivileges"] = True

    assert run_status(oci_runtime, edit)["NoNewPrivs"] == "1"


# ---------------------------------------------------------------------------- user


def test_user_uid_gid_and_additional_gids(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 65534]}

    r = oci_runtime.run(oci_runtime.bundle(sh("id; grep -E '^(Uid|Gid|Groups)' "
                                              "/proc/self/status"), edit))
    assert r.returncode == 0, r
    first, *rest = r.stdout.splitlines()
    assert first == "uid=1000 gid=1001 groups=5(tty),65534(nogroup)"
    assert status_of("\n".join(rest)) == {"Uid": "1000 1000 1000 1000",
                                          "Gid": "1001 1001 1001 1001", "Groups": "5 65534"}


def test_root_has_no_supplementary_groups_by_default(oci_runtime: Runtime) -> None:
    status = run_status(oci_runtime)
    assert (status["Uid"], status["Gid"], status["Groups"]) == ("0 0 0 0", "0 0 0 0", ""), status


def test_non_root_user_cannot_write_root_files(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}

    r = oci_runtime.run(oci_runtime.bundle(sh("stat -c '%u %a' /dev; touch /dev/x"), edit))
    assert r.stdout == "0 755\n", r
    assert r.returncode != 0 and "Permission denied" in r.stderr, r


# ---------------------------------------------------------------------------- env, cwd, limits


def test_env_is_exactly_spec_plus_home(oci_runtime: Runtime) -> None:
    """runc adds HOME (from the rootfs's /etc/passwd, "/" if the user is not there)."""
    env = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY="]

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["env"] = env

    r = oci_runtime.run(oci_runtime.bundle(["env"], edit))
    assert r.returncode == 0, r
    assert sorted(r.stdout.splitlines()) == sorted([*env, "HOME=/root"])

    def edit_user(spec: dict[str, Any]) -> None:
        spec["process"]["env"] = env
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}

    r = oci_runtime.run(oci_runtime.bundle(["env"], edit_user))
    assert sorted(r.stdout.splitlines()) == sorted([*env, "HOME=/"]), r


def test_home_in_spec_is_kept(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["env"].append("HOME=/somewhere")

    r = oci_runtime.run(oci_runtime.bundle(sh('echo "$HOME"'), edit))
    assert (r.returncode, r.stdout) == (0, "/somewhere\n"), r


def test_cwd(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["cwd"] = "/etc"

    r = oci_runtime.run(oci_runtime.bundle(sh("pwd; cat hostname"), edit))
    assert (r.returncode, r.stdout) == (0, "/etc\ndockyard\n"), r


def test_rlimits(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "hard": 2000, "soft": 1000},
            {"type": "RLIMIT_NPROC", "hard": 300, "soft": 200},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
        ]

    r = oci_runtime.run(oci_runtime.bundle(sh("ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu; "
                                              "ulimit -c"), edit))
    assert (r.returncode, r.stdout.split()) == (0, ["1000", "2000", "200", "300", "0"]), r


def test_oom_score_adj(oci_runtime: Runtime) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["oomScoreAdj"] = 500

    r = oci_runtime.run(oci_runtime.bundle(["cat", "/proc/self/oom_score_adj"], edit))
    assert (r.returncode, r.stdout.strip()) == (0, "500"), r
