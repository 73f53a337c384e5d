"""``dockyard completion bash|zsh``: shell completion scripts made from the command table.

The commands, the management groups and their verbs come from ``dockyard.cli.main``
(``COMMANDS``, ``GROUPS``); each command's flags from its :class:`Spec` (found in the
command's module). Container and image names are completed by asking the daemon
(``dockyard ps -a --format {{.Names}}``, ``dockyard images --format ...``) when the
command takes them. Load with ``source <(dockyard completion bash)`` or put the output
in ``/etc/bash_completion.d/dockyard``; for zsh, in a file named ``_dockyard`` on
``$fpath``.
"""

from __future__ import annotations

from dockyard.cli.args import Spec
from dockyard.cli.context import PROG, Context, StatusError

COMPLETION = Spec(
    f"{PROG} completion",
    f"{PROG} completion bash|zsh",
    "Print a shell completion script (bash or zsh)",
    [],
    min_args=1,
    max_args=1,
)

IMAGE_COMMANDS = frozenset(
    {"run", "create", "rmi", "tag", "history", "save", "push", "image rm", "image remove", "image tag",
     "image history", "image save", "image inspect", "image push"}
)  # fmt: skip
CONTAINER_COMMANDS = frozenset(
    {"start", "stop", "kill", "restart", "rm", "logs", "exec", "attach", "inspect", "top", "stats",
     "pause", "unpause", "rename", "wait", "port", "cp", "diff", "commit", "export", "update"}
)  # fmt: skip
GLOBAL_FLAGS = ["--debug", "-D", "--host", "-H", "--log-level", "-l", "--version", "-v", "--help"]


def _specs_of(module_name: str) -> dict[str, Spec]:
    """Every :class:`Spec` of a command module by its program name (``dockyard image
    inspect``); none when the module is not there (a command of a later issue)."""
    try:
        module = __import__(module_name, fromlist=["_"])
    except ImportError:
        return {}
    return {v.prog: v for v in vars(module).values() if isinstance(v, Spec)}


def command_flags() -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """``(top-level names, {group: verbs}, {"cmd" or "group verb": flags})``."""
    from dockyard.cli.main import COMMANDS, GROUPS

    specs: dict[str, Spec] = {}
    for module in sorted({ref.partition(":")[0] for ref, _ in COMMANDS.values()}):
        specs.update(_specs_of(module))
    for _, verbs in GROUPS.values():
        for target in verbs.values():
            if ":" in target:
                specs.update(_specs_of(target.partition(":")[0]))

    def flags(prog: str) -> list[str]:
        spec = specs.get(f"{PROG} {prog}")
        if spec is None:
            return ["--help"]
        names: list[str] = []
        for f in spec.flags:
            if f.hidden:
                continue
            names.append(f"--{f.long}")
            if f.short:
                names.append(f"-{f.short}")
        return names

    table: dict[str, list[str]] = {name: flags(name) for name in COMMANDS}
    groups: dict[str, list[str]] = {}
    for group, (_, verbs) in GROUPS.items():
        groups[group] = list(verbs)
        for verb, target in verbs.items():
            key = f"{group} {verb}"
            table[key] = table[target] if target in COMMANDS else flags(key)
    return list(COMMANDS), groups, table


def _kind(key: str) -> str:
    """What the arguments of a command (``rmi``, ``container stop``) name: ``image``,
    ``container`` or nothing to ask the daemon for."""
    if key in IMAGE_COMMANDS:
        return "image"
    if key in CONTAINER_COMMANDS or (
        key.startswith("container ") and key.split()[1] in CONTAINER_COMMANDS
    ):
        return "container"
    return ""


def _table_lines(groups: dict[str, list[str]], table: dict[str, list[str]]) -> list[str]:
    """The associative arrays both scripts fill (bash and zsh spell them alike): each
    group's verbs, each command's flags and the kind of name its arguments are."""
    lines = [f"    verbs[{group}]='{' '.join(verbs)}'" for group, verbs in groups.items()]
    for key, names in sorted(table.items()):
        lines.append(f"    flags[{key.replace(' ', '_')}]='{' '.join(names)}'")
        kind = _kind(key)
        if kind:
            lines.append(f"    kinds[{key.replace(' ', '_')}]={kind}")
    return lines


def _scan_lines(loop: str, word: str) -> list[str]:
    """The loop both scripts run over the words before the cursor (``loop`` is the
    shell's ``for ((...))`` header, ``word`` its i-th word): the command and a group's
    verb found, flags skipped (with the value of a global flag that takes one)."""
    return [
        f"    for (({loop})); do",
        f"        w={word}",
        "        case $w in",
        "            -H|--host|-l|--log-level|--config|--context) [[ -z $cmd ]] && ((i++)); continue ;;",
        "            -*) continue ;;",
        "        esac",
        "        if [[ -z $cmd ]]; then cmd=$w",
        "        elif [[ -z $sub && -n ${verbs[$cmd]} ]]; then sub=$w",
        "        fi",
        "    done",
    ]


def bash_script() -> str:
    commands, groups, table = command_flags()
    lines = [
        "# bash completion for dockyard (generated by `dockyard completion bash`)",
        "_dockyard_names() {",
        "    if [[ $1 == image ]]; then",
        "        dockyard images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>'",
        "    else",
        "        dockyard ps -a --format '{{.Names}}' 2>/dev/null",
        "    fi",
        "}",
        "_dockyard() {",
        "    local cur=${COMP_WORDS[COMP_CWORD]} cmd='' sub='' i w",
        "    local -A flags kinds",
        f"    local commands='{' '.join(commands + list(groups))}'",
        "    local -A verbs",
    ]
    lines += _table_lines(groups, table)
    lines += _scan_lines("i = 1; i < COMP_CWORD; i++", "${COMP_WORDS[i]}")
    lines += [
        "    if [[ -z $cmd ]]; then",
        "        if [[ $cur == -* ]]; then",
        f"            COMPREPLY=($(compgen -W '{' '.join(GLOBAL_FLAGS)}' -- \"$cur\"))",
        "        else",
        '            COMPREPLY=($(compgen -W "$commands" -- "$cur"))',
        "        fi",
        "        return",
        "    fi",
        "    if [[ -n ${verbs[$cmd]} && -z $sub ]]; then",
        '        COMPREPLY=($(compgen -W "${verbs[$cmd]} --help" -- "$cur"))',
        "        return",
        "    fi",
        "    local key=$cmd",
        "    [[ -n $sub ]] && key=${cmd}_$sub",
        "    if [[ $cur == -* ]]; then",
        '        COMPREPLY=($(compgen -W "${flags[$key]}" -- "$cur"))',
        "    elif [[ -n ${kinds[$key]} ]]; then",
        '        COMPREPLY=($(compgen -W "$(_dockyard_names "${kinds[$key]}")" -- "$cur"))',
        "    else",
        '        COMPREPLY=($(compgen -f -- "$cur"))',
        "    fi",
        "}",
        "complete -F _dockyard dockyard",
        "",
    ]
    return "\n".join(lines)


def zsh_script() -> str:
    commands, groups, table = command_flags()
    lines = [
        "#compdef dockyard",
        "# zsh completion for dockyard (generated by `dockyard completion zsh`)",
        "_dockyard() {",
        "    local -a commands args",
        "    local -A verbs flags kinds",
        f"    commands=({' '.join(commands + list(groups))})",
    ]
    lines += _table_lines(groups, table)
    lines += ["    local cmd='' sub='' i w"]
    lines += _scan_lines("i = 2; i < CURRENT; i++", "${words[i]}")
    lines += [
        "    if [[ -z $cmd ]]; then",
        f"        [[ $PREFIX == -* ]] && compadd -- {' '.join(GLOBAL_FLAGS)} || compadd -- $commands",
        "        return",
        "    fi",
        "    if [[ -n ${verbs[$cmd]} && -z $sub ]]; then",
        "        compadd -- ${=verbs[$cmd]}",
        "        return",
        "    fi",
        "    local key=$cmd",
        "    [[ -n $sub ]] && key=${cmd}_$sub",
        "    if [[ $PREFIX == -* ]]; then",
        "        compadd -- ${=flags[$key]}",
        "    elif [[ ${kinds[$key]} == image ]]; then",
        "        compadd -- ${(f)\"$(dockyard images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)\"}",
        "    elif [[ ${kinds[$key]} == container ]]; then",
        "        compadd -- ${(f)\"$(dockyard ps -a --format '{{.Names}}' 2>/dev/null)\"}",
        "    else",
        "        _files",
        "    fi",
        "}",
        'if [[ $funcstack[1] == _dockyard ]]; then _dockyard "$@"; else compdef _dockyard dockyard; fi',
        "",
    ]
    return "\n".join(lines)


def completion(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(COMPLETION, argv)
    shell = opts.args[0]
    if shell == "bash":
        ctx.write(bash_script())
    elif shell == "zsh":
        ctx.write(zsh_script())
    else:
        raise StatusError(f'{PROG}: unsupported shell "{shell}" (bash or zsh)', 1)
    return 0
