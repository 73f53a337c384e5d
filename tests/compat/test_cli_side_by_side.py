"""Side by side: ``dockyard`` and the real ``docker`` CLI (28.2) against the same dockyardd
print the same tables and templates.

- ``ps``, ``ps -a --no-trunc``, ``ps --format``: the same header line and the same cells
  (times such as "2 seconds ago" normalised, as they may tick between the two runs), each
  aligned under its header;
- ``images`` (rows of one image come in Go's random map order: compared as a set),
  ``images --digests``/``-a --no-trunc``/``--format json``, ``history`` (-H=false,
  --no-trunc, -q, --format), ``system df``, ``events`` over a closed time window: byte
  for byte;
- ``version``: the same labels at the same columns, and the Server section byte for byte;
  ``info``: the same lines but the client's version;
- ``inspect -f`` / ``image inspect -f`` over a battery of templates, and the template
  engine itself (``render(tmpl, inspect_json)`` in process) against ``docker inspect -f``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.cli.format.gotypes import execute_inspect
from dockyard.cli.format.template import compile, render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "daemon"))
import daemon_harness as harness

pytestmark = pytest.mark.root

TIME = re.compile(
    r"(Less than a second|About a minute|About an hour|1 second|\d+ (seconds|minutes|hours|days|weeks|months|years))"
)

# Templates over fields the JSON and Go's structs agree on: the plain engine
# (render over the JSON) prints what docker prints.
TEMPLATES = [
    "{{.Name}}", "{{.State.Status}}", "{{.State.Running}}", "{{.State.Pid}}",
    "{{.State.ExitCode}}", "{{.Config.Image}}", "{{.Config.Cmd}}", "{{json .Config.Cmd}}",
    '{{index .Config.Labels "a"}}', '[{{index .Config.Labels "missing"}}]', "{{.Config.Labels.a}}",
    "{{.Config.Labels.missing}}", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    "{{range .Config.Env}}{{println .}}{{end}}", '{{join .Config.Env ","}}', "{{len .Config.Env}}",
    "{{if .State.Running}}up{{else}}down{{end}}", "{{.HostConfig.Memory}}", "{{upper .Name}}",
    "{{title .State.Status}}", '{{split .Config.Image ":"}}',
    "{{pad .State.Status 1 1}}|", '{{printf "%s-%d" .Name .State.Pid}}',
    "{{with .Config}}{{.Image}}{{end}}", "{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}} {{end}}",
    "{{json .Config.Labels}}", "{{.Config.Labels}}", '{{eq .State.Status "created"}}',
    "{{and .State.Running .State.Pid}}", '{{or .Config.User "root"}}', '{{.Config.Labels.a | printf "%q"}}',
    "x {{- .Name -}} y", "{{$n := .Name}}{{$n}}{{$n}}", "{{json .Mounts}}", "{{.Created}}",
    "{{.State.StartedAt}}", "{{.RestartCount}}", "{{.HostConfig.Privileged}}", "{{.Config.Tty}} {{.Config.OpenStdin}}",
    "{{range $i, $e := .Config.Cmd}}{{$i}}:{{$e}} {{end}}", "{{len .Mounts}}",
    '{{if and (eq .State.Status "running") .State.Pid}}pid {{.State.Pid}}{{else}}no pid{{end}}',
    "{{.Config.Env}}", '{{lower (index .Config.Labels "com.x")}}', "{{.HostConfig.ShmSize}}",
    "{{.HostConfig.RestartPolicy.Name}}", "{{.Path}} {{.Args}}", "{{json .Args}}",
    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "{{json .State.Health}}",
    "{{with .Config.Labels}}{{.a}}{{end}}", "{{println .Name .State.Pid}}", "{{print .Name .State.Pid 1 2}}",
    "{{.HostConfig.LogConfig.Type}}", "{{json .HostConfig.LogConfig}}",
]  # fmt: skip
# docker runs a template over its Go struct first and, if that fails (a Go field name
# that is not the JSON key: .Id is ID there, .HostConfig.CpuShares CPUShares), over the
# JSON with missingkey=error; the engine has no Go structs: these run alone, where both
# ways agree.
RAW_TEMPLATES = [
    "{{.Id}}",
    "{{truncate .Id 12}}",
    "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}",
]
IMAGE_TEMPLATES = [
    "{{.RepoTags}}", "{{json .RepoTags}}", "{{.Os}}/{{.Architecture}}", "{{.Size}}",
    "{{.Config.Cmd}}", "{{json .Config.Env}}", "{{.Config.Labels.x}}", "{{len .RootFS.Layers}}",
    "{{range .RootFS.Layers}}{{truncate . 19}} {{end}}", "{{.Created}}",
]  # fmt: skip


def run(
    cmd: list[str], d: harness.Daemon, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = d.env()
    env["DOCKYARD_HOST"] = d.host
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        input=input.decode() if input else None,
    )


def both(d: harness.Daemon, *args: str) -> tuple[str, str]:
    """(dockyard's stdout, docker's stdout) for the same arguments; both must succeed."""
    ours = run([sys.executable, "-m", "dockyard.cli", *args], d)
    theirs = run(["docker", *args], d)
    assert ours.returncode == theirs.returncode == 0, (args, ours.stderr, theirs.stderr)
    return ours.stdout, theirs.stdout


def cells(line: str) -> list[str]:
    return [c for c in re.split(r" {2,}", TIME.sub("<T>", line).strip())]


def assert_same_table(ours: str, theirs: str) -> None:
    """The same header, the same cells once times are normalised, and every cell of our
    rows starting where its header starts (docker's tabwriter)."""
    o, t = ours.splitlines(), theirs.splitlines()
    assert len(o) == len(t), (ours, theirs)
    assert o[0].split("   ") and cells(o[0]) == cells(t[0]), (o[0], t[0])
    if TIME.findall(ours) == TIME.findall(theirs):  # no clock tick between the two runs
        assert ours == theirs
    heads = cells(o[0])
    starts = {o[0].index(h) for h in heads}
    for ol, tl in zip(o[1:], t[1:], strict=True):
        assert cells(ol) == cells(tl), (ol, tl)
        row_starts = {0} | {m.start() for m in re.finditer(r"(?<=   )\S", ol)}
        assert row_starts <= starts, (ol, o[0])


@pytest.fixture(scope="module")
def objects(d: harness.Daemon) -> Iterator[dict[str, str]]:
    """A created container (labels, env, a bind mount, a long command), a running one and
    a second tag of busybox; removed at the end."""
    made = {"created": "sbs-created", "running": "sbs-running"}
    try:
        out = run(
            [
                "docker",
                "create",
                "--name",
                made["created"],
                "-l",
                "a=b",
                "-l",
                "com.x=Y",
                "-e",
                "X=1",
                "-v",
                "/tmp:/mnt:ro",
                "busybox",
                "sh",
                "-c",
                "echo hello world from the side",
            ],
            d,
        )
        assert out.returncode == 0, out.stderr
        out = run(["docker", "run", "-d", "--name", made["running"], "busybox", "sleep", "300"], d)
        assert out.returncode == 0, out.stderr
        assert run(["docker", "tag", "busybox", "sbs/tagged:1"], d).returncode == 0
        yield made
    finally:
        run(["docker", "rm", "-f", *made.values()], d)
        run(["docker", "rmi", "sbs/tagged:1"], d)


def test_ps_tables(d: harness.Daemon, objects: dict[str, str]) -> None:
    for args in (
        ["ps"],
        ["ps", "-a"],
        ["ps", "-a", "--no-trunc"],
        ["container", "ls", "-a", "-s"],
        ["ps", "-a", "--format", "table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Command}}"],
    ):
        ours, theirs = both(d, *args)
        assert_same_table(ours, theirs)
    for args in (
        ["ps", "-aq"],
        ["ps", "-a", "--format", '{{.Names}} {{.Label "a"}} {{.Labels}}'],
        ["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}} {{.Mounts}} {{.State}}"],
    ):
        ours, theirs = both(d, *args)
        assert ours == theirs, args


def test_images_and_history_tables(d: harness.Daemon, objects: dict[str, str]) -> None:
    for args in (
        ["images"],
        ["images", "--digests"],
        ["images", "-a", "--no-trunc"],
        ["image", "ls", "busybox"],
        ["images", "--format", "json"],
        ["images", "--format", "table {{.ID}}\t{{.Size}}\t{{.CreatedAt}}"],
    ):
        ours, theirs = both(d, *args)
        o, t = ours.splitlines(), theirs.splitlines()
        if o and o[0].startswith("REPOSITORY"):
            assert o[0] == t[0]
            o, t = o[1:], t[1:]
        assert sorted(o) == sorted(t), args  # docker walks the repositories in Go's map order
    for args in (
        ["history", "busybox"],
        ["history", "--no-trunc", "-H=false", "busybox"],
        ["history", "-q", "busybox"],
        ["image", "history", "--format", "{{json .}}", "busybox"],
    ):
        ours, theirs = both(d, *args)
        assert ours == theirs, args


def test_system_tables_and_events(d: harness.Daemon, objects: dict[str, str]) -> None:
    ours, theirs = both(d, "system", "df")
    assert ours == theirs
    ours, theirs = both(d, "system", "df", "-v")
    for o, t in zip(ours.split("\n\n"), theirs.split("\n\n"), strict=True):
        if "   " in o:
            assert_same_table(o + "\n", t + "\n")
        else:
            assert o == t
    for fmt in ("{{json .}}", "{{range .Images}}{{.Repository}}:{{.Tag}} {{.Size}} {{end}}"):
        ours, theirs = both(d, "system", "df", "-v", "--format", fmt)
        assert TIME.sub("<T>", ours) == TIME.sub("<T>", theirs)
    until = str(int(time.time()))
    for args in (
        ["events", "--since", "0", "--until", until],
        ["events", "--since", "0", "--until", until, "--format", "{{json .}}"],
        [
            "events",
            "--since",
            "0",
            "--until",
            until,
            "--filter",
            "type=container",
            "--format",
            "{{.Time}} {{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Status}} {{.From}}",
        ],
    ):
        ours, theirs = both(d, *args)
        assert ours == theirs, args
        assert ours


def test_version_and_info(d: harness.Daemon) -> None:
    ours, theirs = both(d, "version")
    o, t = ours.splitlines(), theirs.splitlines()
    assert len(o) == len(t)

    def label(line: str) -> str:
        return line.partition(":")[0]

    assert [label(x) for x in o] == [label(x) for x in t]
    for line in o:  # values in docker's tabwriter column (minwidth 20, padding 1)
        head, _, rest = line.partition(":")
        if rest.strip() and line.startswith(" ") and not line.startswith(("Server", " Engine")):
            assert line.index(rest.strip()) == 20 or len(head) + 2 > 20, line
    server = o.index("Server: dockyard")
    assert o[server:] == t[server:]
    ours, theirs = both(d, "info")
    o, t = ours.splitlines(), theirs.splitlines()
    assert (
        o[0] == t[0] == "Client:" and o[1].startswith(" Version:") and t[1].startswith(" Version:")
    )
    assert o[2:] == t[2:]


SEP = "\n<<<8<>>>\n"


def test_inspect_templates(d: harness.Daemon, objects: dict[str, str]) -> None:
    """All the templates in one (``SEP``-joined) template: each CLI runs once per object,
    then the in-process engine renders each template alone."""
    joined = SEP.join(TEMPLATES)
    for name in objects.values():
        ours, theirs = both(d, "inspect", "-f", joined, name)
        assert ours == theirs
        raw = json.loads(run(["docker", "inspect", name], d).stdout)[0]
        for tmpl, text in zip(TEMPLATES, theirs[:-1].split(SEP), strict=True):
            assert render(tmpl, raw) == text, (name, tmpl)
        for tmpl in RAW_TEMPLATES:
            ours, theirs = both(d, "inspect", "-f", tmpl, name)
            assert ours == theirs == render(tmpl, raw) + "\n", tmpl
    joined = SEP.join(IMAGE_TEMPLATES)
    ours, theirs = both(d, "image", "inspect", "-f", joined, "busybox")
    assert ours == theirs
    raw = json.loads(run(["docker", "image", "inspect", "busybox"], d).stdout)[0]
    for tmpl, text in zip(IMAGE_TEMPLATES, theirs[:-1].split(SEP), strict=True):
        assert render(tmpl, raw) == text, tmpl


def test_template_errors_match(d: harness.Daemon, objects: dict[str, str]) -> None:
    for tmpl in ("{{.Name", "{{nope .Name}}", "{{end}}", "{{if .Name}}x"):
        ours = run(
            [sys.executable, "-m", "dockyard.cli", "image", "inspect", "-f", tmpl, "busybox"], d
        )
        theirs = run(["docker", "image", "inspect", "-f", tmpl, "busybox"], d)
        assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr), tmpl
    for args in (["tag", "busybox", "Bad:x"], ["rmi", "sbs/none:1"], ["image", "inspect", "sbs/none:1"],
                 ["history", "sbs/none"]):  # fmt: skip
        ours = run([sys.executable, "-m", "dockyard.cli", *args], d)
        theirs = run(["docker", *args], d)
        assert (ours.returncode, ours.stdout, ours.stderr) == (
            theirs.returncode,
            theirs.stdout,
            theirs.stderr,
        ), args
    ours = run([sys.executable, "-m", "dockyard.cli", "images", "--format", "{{.Nope}}"], d)
    theirs = run(["docker", "images", "--format", "{{.Nope}}"], d)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.split(":")[:4] == theirs.stderr.split(":")[:4]


def test_engine_matches_go_on_recorded_cases(d: harness.Daemon) -> None:
    """The unit tests' recorded Go outputs still are what the docker binary prints: the
    cases that succeed joined in one template, the errors one by one."""
    cases = json.loads(
        (
            Path(__file__).parents[1] / "unit" / "cli" / "format" / "go_template_cases.json"
        ).read_text()
    )
    good = [
        (t, w)
        for t, w in cases
        if not w.startswith("ERR ") and "define" not in t and "block" not in t
    ]
    joined = SEP.join(t for t, _ in good)
    theirs = run(["docker", "image", "inspect", "-f", joined, "busybox"], d)
    assert theirs.returncode == 0, theirs.stderr
    assert theirs.stdout[:-1] == render(joined, {})  # (trim markers eat some separators)
    for tmpl, want in cases:
        if want.startswith("ERR "):
            theirs = run(["docker", "image", "inspect", "-f", tmpl, "busybox"], d)
            assert theirs.stderr.strip().removeprefix("template parsing error: ") == want[4:], tmpl


# Where docker's Go structs and the JSON part ways (nil slices/maps/pointers, absent
# fields, Go names that are not JSON keys, struct printing, time.Time, an image config's
# omitempty): dockyard's inspect runs them as docker does (format.gotypes).
TYPED = [
    "{{.State.Health}}", "{{.Config.Entrypoint}}", "{{.Config.StopSignal}}", "{{.HostConfig.Binds}}", "{{.ID}}",
    "{{.HostConfig.CPUShares}}", "{{.Nope}}", "{{.State.Health.Status}}", "{{json .Config.Entrypoint}}",
    "{{len .Config.Entrypoint}}", "{{.Config.Volumes}}", "{{json .Config.Volumes}}", "{{.HostConfig.CapAdd}}",
    '{{index .Config.Labels "zz"}}|', "{{.HostConfig.Dns}}", "{{.HostConfig.DNS}}", "{{.Node}}",
    "{{.HostConfig.PidsLimit}}", "{{.ExecIDs}}", "{{.Config.Healthcheck}}", "{{.HostConfig.Tmpfs}}",
    "{{range .Mounts}}{{.RW}}{{.Mode}}|{{end}}", "{{.HostConfig.ConsoleSize}}", "{{.Config.Shell}}",
    "{{.Id}} {{.Config.Labels.missing}}", "{{.State}}", "{{.Mounts}}", "{{.HostConfig.RestartPolicy}}",
]  # fmt: skip
IMAGE_TYPED = [
    "{{.ID}}", "{{.Config.Entrypoint}}", "{{.Config.Labels}}", "{{.Config.Hostname}}", "{{.Parent}}",
    "{{.RepoDigests}}", "{{.Variant}}", "{{.Descriptor}}", "{{.Config.Volumes}}", "{{.Metadata.LastTagTime}}",
    "{{json .Config}}", "{{.GraphDriver.Data}}", "{{.RootFS}}", "{{.Nope}}",
]  # fmt: skip


def test_inspect_as_docker_over_its_go_structs(d: harness.Daemon, objects: dict[str, str]) -> None:
    """Every template through the engine in process (errors included), a few through
    ``dockyard inspect`` itself."""
    from dockyard.cli.format.template import TemplateError

    for args, tmpls in (
        (["inspect", objects["created"]], TYPED),
        (["image", "inspect", "busybox"], IMAGE_TYPED),
    ):
        raw = json.loads(run(["docker", *args], d).stdout)[0]
        for tmpl in tmpls:
            theirs = run(["docker", *args[:-1], "-f", tmpl, args[-1]], d)
            try:
                ours = execute_inspect(compile(tmpl), raw) + "\n", ""
            except TemplateError as err:
                ours = "\n", f"template parsing error: {err}\n"
            assert ours == (theirs.stdout, theirs.stderr), tmpl
        for tmpl in tmpls[:3] + tmpls[-3:]:
            theirs = run(["docker", *args[:-1], "-f", tmpl, args[-1]], d)
            cli = run([sys.executable, "-m", "dockyard.cli", *args[:-1], "-f", tmpl, args[-1]], d)
            assert (cli.returncode, cli.stdout, cli.stderr) == (
                theirs.returncode,
                theirs.stdout,
                theirs.stderr,
            ), tmpl
