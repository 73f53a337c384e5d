"""The Go text/template evaluator (dockyard.cli.format.template) with no daemon: docker's
documented examples, Go's printing and semantics, and Go's error messages."""

from __future__ import annotations

import pytest

from dockyard.cli.format.template import TemplateError, compile, render
from dockyard.errors import InvalidArgument

INSPECT = {
    "Id": "4f66ad9a0b2e9a6dc2f1b1a8f9e4ad0f2f1c4d6e8a0b2c4d6e8f0a1b2c3d4e5f",
    "Name": "/web",
    "Args": ["-c", "echo hi"],
    "Image": "sha256:9c4c7f1a2b3d",
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0, "Health": None},
    "Config": {
        "Labels": {"com.example.vendor": "ACME", "version": "1.0"},
        "Env": ["PATH=/usr/bin", "A=1"],
        "Cmd": ["sh", "-c", "echo hi"],
        "StopTimeout": None,
    },
    "HostConfig": {"Memory": 0, "NanoCpus": 1500000000, "Binds": None},
    "Mounts": [
        {"Type": "bind", "Source": "/src", "Destination": "/dst", "RW": True},
        {"Type": "bind", "Source": "/etc", "Destination": "/host-etc", "RW": False},
    ],
    "NetworkSettings": {
        "Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "x": {"IPAddress": ""}}
    },
    "Float": 0.25,
    "Big": 1234567.0,
}


class Row:
    """A formatter context as docker's ps rows are: methods are the fields."""

    def __init__(self) -> None:
        self.Status = "Up 3 seconds"

    def ID(self) -> str:
        return "4f66ad9a0b2e"

    def Names(self) -> str:
        return "web"

    def Label(self, name: str) -> str:
        return {"com.example.vendor": "ACME"}.get(name, "")

    def to_json(self) -> dict[str, str]:
        return {"ID": self.ID(), "Names": self.Names()}


@pytest.mark.parametrize(
    ("tmpl", "want"),
    [
        # docker's documented examples (docs.docker.com/engine/cli/formatting/)
        ('{{join .Args " , "}}', "-c , echo hi"),
        (
            "{{json .Mounts}}",
            '[{"Type":"bind","Source":"/src","Destination":"/dst","RW":true},'
            '{"Type":"bind","Source":"/etc","Destination":"/host-etc","RW":false}]',
        ),
        ("{{lower .Name}}", "/web"),
        ('{{split .Image ":"}}', "[sha256 9c4c7f1a2b3d]"),
        ("{{title .Name}}", "/Web"),
        ("{{upper .Name}}", "/WEB"),
        ("{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}", "172.17.0.2\n\n"),
        ("{{.State.Pid}}", "4242"),
        ('{{index .Config.Labels "com.example.vendor"}}', "ACME"),
        ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/src:/dst /etc:/host-etc "),
        # Go's printing of values
        ("{{.Config.Labels}}", "map[com.example.vendor:ACME version:1.0]"),
        ("{{.Config.Cmd}}", "[sh -c echo hi]"),
        ("{{.State.Running}} {{.State.ExitCode}}", "true 0"),
        ("{{.State.Health}}", "<nil>"),
        ("{{.HostConfig.Binds}}", "<nil>"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Config.Missing}}", "<no value>"),
        ("{{.Missing.Deeper}}", "<no value>"),
        ("{{.State.Health.Status}} {{.HostConfig.Binds.x}}", "<no value> <no value>"),
        (
            '{{printf "%q" .Missing}} {{print .Missing}} {{.Missing | printf "%v"}}',
            "%!q(<nil>) <nil> <nil>",
        ),
        ("{{.Float}} {{.Big}} {{.HostConfig.NanoCpus}}", "0.25 1.234567e+06 1500000000"),
        (
            "{{.Mounts}}",
            "[map[Destination:/dst RW:true Source:/src Type:bind] "
            "map[Destination:/host-etc RW:false Source:/etc Type:bind]]",
        ),
        ('{{index .Config.Labels "absent"}}|', "|"),
        ("{{index .Config.Env 1}}", "A=1"),
        ("{{(index .Mounts 1).Destination}}", "/host-etc"),
        ('{{index .NetworkSettings.Networks "bridge" "IPAddress"}}', "172.17.0.2"),
        # control structures
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .HostConfig.Memory}}limited{{else}}unlimited{{end}}", "unlimited"),
        (
            '{{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}r{{else}}?{{end}}',
            "r",
        ),
        ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/4242"),
        ("{{with .State.Health}}{{.Status}}{{else}}no health{{end}}", "no health"),
        (
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
            "com.example.vendor=ACME;version=1.0;",
        ),
        ("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Destination}} {{end}}", "0:/dst 1:/host-etc "),
        ("{{range $m := .Mounts}}{{$m.Type}}{{end}}", "bindbind"),
        ('{{range .Config.Env}}{{if eq . "A=1"}}{{break}}{{end}}[{{.}}]{{end}}', "[PATH=/usr/bin]"),
        (
            '{{range .Config.Env}}{{if eq . "PATH=/usr/bin"}}{{continue}}{{end}}[{{.}}]{{end}}',
            "[A=1]",
        ),
        ("{{range .HostConfig.Binds}}x{{else}}none{{end}}", "none"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{range .Mounts}}{{$.Name}}{{end}}", "/web/web"),
        ("{{$n := .Name}}{{range .Mounts}}{{$n}}{{end}}", "/web/web"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        # pipelines, whitespace trimming, comments, literals
        ("{{.Name | upper | lower}}", "/web"),
        ("{{.Name | }}", "/web"),
        ('{{.State.Pid | printf "pid=%d"}}', "pid=4242"),
        ("a  {{- .Name -}}  b", "a/webb"),
        ("a {{- /* gone */ -}} b", "ab"),
        ("{{/* a comment */}}x", "x"),
        ('{{"}}"}}{{`raw\\n`}}', "}}raw\\n"),
        ("{{'a'}} {{0x10}} {{1e3}} {{-2}} {{true}} {{print nil}}", "97 16 1000 -2 true <nil>"),
        ('{{print 1 2 "a" 3 "b"}}', "1 2a3b"),
        ('{{println 1 "a"}}', "1 a\n"),
        (
            '{{printf "%s|%5s|%-5s|%d|%05d|%x|%q|%v|%t|%.2f|%%" "a" "b" "c" 7 42 255 "q" .Args true 3.14159}}',
            'a|    b|c    |7|00042|ff|"q"|[-c echo hi]|true|3.14|%',
        ),
        ('{{printf "%d %s"  1}}', "1 %!s(MISSING)"),
        ('{{printf "%d" "x"}}', "%!d(string=x)"),
        # comparisons and logic
        (
            '{{eq 1 1}} {{eq 1 2 3 1}} {{ne "a" "b"}} {{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge "b" "a"}}',
            "true true true true true false true",
        ),
        ('{{and 1 0 2}} {{and 1 2}} {{or 0 "" "x"}} {{or 0 ""}} {{not 0}}', "0 2 x  true"),
        ("{{and .State.Health .State.Health.Status}}", "<nil>"),
        ("{{len .Config.Env}} {{len .Name}} {{len .Config.Labels}}", "2 4 2"),
        ("{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}", "ok"),
        ("{{eq .State.Health nil}}", "true"),
        # docker's functions
        ('{{pad .Name 2 1}}|{{pad "" 2 1}}|', "  /web ||"),
        ("{{truncate .Id 12}}", "4f66ad9a0b2e"),
        ('{{truncate "ab" 5}}', "ab"),
        ('{{join (split "a,b,c" ",") "-"}}', "a-b-c"),
        ('{{title "hello wORLD foo_bar x-y"}}', "Hello WORLD Foo_bar X-Y"),
        ("{{json .Config.Labels}}", '{"com.example.vendor":"ACME","version":"1.0"}'),
        (
            '{{json .Missing}} {{json .State.Health}} {{json "<&>"}} {{json 1.0}}',
            'null null "<&>" 1',
        ),
        ("{{slice .Name 1 3}} {{slice .Config.Env 1}}", "we [A=1]"),
        ('{{html "<a&b>"}} {{urlquery "a b&c"}}', "&lt;a&amp;b&gt; a+b%26c"),
    ],
)
def test_render(tmpl: str, want: str) -> None:
    assert render(tmpl, INSPECT) == want


def test_objects_methods_are_fields_and_take_arguments() -> None:
    row = Row()
    assert render("{{.ID}} {{.Names}} {{.Status}}", row) == "4f66ad9a0b2e web Up 3 seconds"
    assert render('{{.Label "com.example.vendor"}}|{{.Label "x"}}|', row) == "ACME||"
    assert render("{{json .}}", row) == '{"ID":"4f66ad9a0b2e","Names":"web"}'
    assert render("{{.Names | upper}}", row) == "WEB"


def test_compiled_template_is_reused_over_rows() -> None:
    tmpl = compile("{{.A}}-{{len .B}}")
    assert [tmpl.execute({"A": i, "B": "x" * i}) for i in range(3)] == ["0-0", "1-1", "2-2"]
    assert compile("{{.A}}-{{len .B}}") is tmpl


def test_missing_key_error_mode_as_docker_inspect_fallback() -> None:
    with pytest.raises(TemplateError) as err:
        render("{{.Nope}}", INSPECT, missing_key="error")
    assert (
        str(err.value) == 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'
    )
    with pytest.raises(TemplateError) as err:
        render("{{.State.Health.Status}}", INSPECT, missing_key="error")
    assert str(err.value) == (
        'template: :1:8: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status'
    )


@pytest.mark.parametrize(
    ("tmpl", "message"),
    [
        ("{{foo .}}", 'template: :1: function "foo" not defined'),
        ("{{.Name", "template: :1: unclosed action"),
        ("x\n{{end}}", "template: :2: unexpected {{end}}"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{if .Name}}x", "template: :1: unexpected EOF"),
        ("{{range .Mounts}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
        ("{{if}}{{end}}", "template: :1: missing value for if"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{$x}}", 'template: :1: undefined variable "$x"'),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{| .Name}}", 'template: :1: unexpected "|" in command'),
        ("{{(.Name}}", "template: :1: unclosed left paren"),
        ("{{/* open }}", "template: :1: unclosed comment"),
        ('{{"abc}}', "template: :1: unterminated quoted string"),
        ("{{json.}}", "template: :1: unexpected <.> in operand"),
        (
            '{{define "x"}}a{{end}}\n{{define "x"}}b{{end}}',
            'template: :2: template: multiple definition of template "x"',
        ),
    ],
)
def test_parse_errors_read_as_go(tmpl: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        compile(tmpl)
    assert str(err.value) == message
    assert isinstance(err.value, InvalidArgument)


@pytest.mark.parametrize(
    ("tmpl", "message"),
    [
        (
            "{{.Args.Foo}}",
            'template: :1:7: executing "" at <.Args.Foo>: can\'t evaluate field Foo in type []string',
        ),
        (
            "x\n {{index .Args 5}}",
            'template: :2:3: executing "" at <index .Args 5>: error calling index: index out of range: 5',
        ),
        (
            '{{eq 1 "a"}}',
            'template: :1:2: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison',
        ),
        (
            "{{lt .Mounts 1}}",
            'template: :1:2: executing "" at <lt .Mounts 1>: error calling lt: invalid type for comparison',
        ),
        (
            '{{join .Mounts ","}}',
            'template: :1:2: executing "" at <join .Mounts ",">: wrong type for value; expected []string; got []interface {}',
        ),
        (
            "{{upper .State.Pid}}",
            'template: :1:2: executing "" at <upper .State.Pid>: wrong type for value; expected string; got int',
        ),
        (
            "{{truncate .Name}}",
            'template: :1:2: executing "" at <truncate>: wrong number of args for truncate: want 2 got 1',
        ),
        (
            "{{len .State.Pid}}",
            'template: :1:2: executing "" at <len .State.Pid>: error calling len: len of type int',
        ),
        (
            "{{range .Name}}{{end}}",
            'template: :1:8: executing "" at <.Name>: range can\'t iterate over /web',
        ),
        (
            "{{.Name 1}}",
            'template: :1:2: executing "" at <.Name>: Name is not a method but has arguments',
        ),
        ("{{1 2}}", 'template: :1:2: executing "" at <1>: can\'t give argument to non-function 1'),
    ],
)
def test_execution_errors_read_as_go(tmpl: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        render(tmpl, INSPECT)
    assert str(err.value) == message


def test_header_mode_keeps_titles_but_pads() -> None:
    tmpl = compile("{{upper .Names}}|{{truncate .ID 3}}|{{pad .Names 1 1}}|{{json .ID}}")
    headers = {"Names": "NAMES", "ID": "CONTAINER ID"}
    assert tmpl.execute(headers, header=True) == "NAMES|CONTAINER ID| NAMES |CONTAINER ID"
