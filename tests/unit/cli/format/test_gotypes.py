"""docker's two-pass inspect templates (format.gotypes) without a daemon: the expectations
are what the docker CLI 28.2 printed for the same JSON (tests/compat re-checks them live)."""

from __future__ import annotations

import pytest

from dockyard.cli.format.gotypes import GoStruct, execute_inspect, go_time_string, kind_of
from dockyard.cli.format.template import TemplateError, compile

CONTAINER = {
    "Id": "b536bab5b7ed",
    "Name": "/sbs",
    "Args": ["-c", "echo"],
    "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
              "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
              "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
    "ExecIDs": None,
    "HostConfig": {"Binds": ["/tmp:/mnt:ro"], "CapAdd": None, "CpuShares": 0, "Dns": [],
                   "Tmpfs": None, "PidsLimit": None, "ConsoleSize": [0, 0],
                   "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
    "Mounts": [{"Type": "bind", "Source": "/tmp", "Destination": "/mnt", "Mode": "ro", "RW": False,
                "Propagation": "rprivate"}],
    "Config": {"Labels": {"a": "b"}, "Entrypoint": None, "Volumes": None, "Env": ["X=1"]},
}  # fmt: skip
IMAGE = {
    "Id": "sha256:7738",
    "RepoTags": ["busybox:latest"],
    "RepoDigests": [],
    "Config": {
        "Hostname": "",
        "Env": ["PATH=/bin"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "Labels": None,
    },
    "RootFS": {"Type": "layers", "Layers": ["sha256:6415"]},
    "Metadata": {"LastTagTime": "2026-11-28T00:40:47.207642368Z"},
}


@pytest.mark.parametrize(
    ("tmpl", "want"),
    [
        ("{{.State.Health}}", "<nil>"),
        (
            "{{.Config.Entrypoint}} {{json .Config.Entrypoint}} {{len .Config.Entrypoint}}",
            "[] null 0",
        ),
        ("{{.Config.StopSignal}}|", "|"),
        ("{{.Config.Volumes}} {{json .Config.Volumes}}", "map[] null"),
        ("{{.ExecIDs}} {{.HostConfig.CapAdd}} {{.HostConfig.Tmpfs}}", "[] [] map[]"),
        ("{{.ID}} {{.HostConfig.CPUShares}} {{.HostConfig.DNS}}", "b536bab5b7ed 0 []"),
        ("{{.HostConfig.PidsLimit}} {{.HostConfig.ConsoleSize}}", "<nil> [0 0]"),
        ('{{index .Config.Labels "zz"}}|{{.Config.Labels.zz}}', "|<no value>"),
        (
            "{{.State}}",
            "{created false false false false false 0 0  0001-01-01T00:00:00Z 0001-01-01T00:00:00Z <nil>}",
        ),
        ("{{.Mounts}}", "[{bind  /tmp /mnt  ro false rprivate}]"),
        ("{{.HostConfig.RestartPolicy}}", "{no 0}"),
        ("{{range .Mounts}}{{.RW}}{{.Mode}}{{end}}", "falsero"),
        # Go names that are not JSON keys fail over the structs: the JSON pass prints them
        ("{{.Id}} {{.HostConfig.CpuShares}} {{.HostConfig.Dns}}", "b536bab5b7ed 0 []"),
    ],
)
def test_container_templates_as_docker(tmpl: str, want: str) -> None:
    assert execute_inspect(compile(tmpl), CONTAINER) == want


@pytest.mark.parametrize(
    ("tmpl", "message"),
    [
        # the struct pass fails (a nil pointer, an unknown field, a JSON-only name), so the
        # JSON pass runs with missingkey=error, and its error is reported
        ("{{.State.Health.Status}}", 'template: :1:8: executing "" at <.State.Health.Status>: map has no entry for key "Health"'),
        ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
        ("{{.Id}} {{.Config.Labels.missing}}",
         'template: :1:17: executing "" at <.Config.Labels.missing>: map has no entry for key "missing"'),
    ],
)  # fmt: skip
def test_container_template_errors_as_docker(tmpl: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        execute_inspect(compile(tmpl), CONTAINER)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("tmpl", "want"),
    [
        ("{{.ID}}", "sha256:7738"),
        ("{{.Id}}", "sha256:7738"),
        (
            "{{.Config.Entrypoint}} {{.Config.Labels}} {{.Parent}}| {{.Descriptor}} {{.RepoDigests}}",
            "[] map[] | <nil> []",
        ),
        ("{{.Metadata.LastTagTime}}", "2026-11-28 00:40:47.207642368 +0000 UTC"),
        ("{{json .Config}}", '{"Env":["PATH=/bin"],"Cmd":["sh"]}'),
        ("{{.Config.Hostname}}|", "|"),  # not an OCI config field: the JSON pass has it
        ("{{.RootFS}}", "{layers [sha256:6415]}"),
    ],
)
def test_image_templates_as_docker(tmpl: str, want: str) -> None:
    assert execute_inspect(compile(tmpl), IMAGE) == want


def test_kinds_and_times() -> None:
    assert (
        kind_of(CONTAINER) == "container" and kind_of(IMAGE) == "image" and kind_of({"x": 1}) == ""
    )
    assert execute_inspect(compile("{{.x}}"), {"x": None}) == "<nil>"
    assert go_time_string("2024-01-02T03:04:05.500Z") == "2024-01-02 03:04:05.5 +0000 UTC"
    assert go_time_string("2024-01-02T03:04:05+02:00") == "2024-01-02 03:04:05 +0200 +0200"
    with pytest.raises(AttributeError):
        GoStruct(CONTAINER, "container").Id  # noqa: B018 - the JSON name is not the Go field
