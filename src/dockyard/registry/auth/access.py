"""Who may do what: scopes as clients ask for them, and the decisions on them.

A scope is Docker's token-auth scope string, ``<type>:<name>:<actions>`` with actions
comma-separated (``repository:library/busybox:pull,push``; ``registry:catalog:*``).
``Permissions.allowed`` answers from the ``[[access]]`` rules of the config: the union
of every rule whose repository pattern (``fnmatch``) and user list match. With no rule
at all, every authenticated user may do everything and anonymous users nothing.

A request needs one action on one resource (``required_access``); ``*`` in a granted
token scope means every action.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.registry.config import AccessRule, Action

ANONYMOUS = "anonymous"
_SCOPE = re.compile(r"([a-z0-9]+)(?:\(([a-z0-9]+)\))?:(.+):([a-z*,]*)", re.ASCII)


@dataclass(frozen=True, slots=True)
class Scope:
    """One resource and the actions asked for (or granted) on it."""

    type: str  # "repository" or "registry"
    name: str  # a repository name, or "catalog"
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scope(s: str) -> Scope:
    """Parse one scope; the name may contain ':' (a registry host), actions may not."""
    m = _SCOPE.fullmatch(s)
    if m is None:
        raise InvalidArgument(f"invalid scope {s[:200]!r}")
    actions = frozenset(a for a in m.group(4).split(",") if a)
    return Scope(m.group(1), m.group(3), actions)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every ``scope`` parameter of a token request (each may hold several, space
    separated, as OAuth2 has them)."""
    out: list[Scope] = []
    for v in values:
        out.extend(parse_scope(part) for part in v.split() if part)
    return out


class Permissions:
    """The ``[[access]]`` rules of the configuration."""

    def __init__(self, rules: tuple[AccessRule, ...]) -> None:
        self.rules = rules

    def allowed(self, user: str | None, repository: str) -> frozenset[str]:
        """The actions ``user`` (None: anonymous) may take on ``repository``."""
        if not self.rules:
            return frozenset(a.value for a in Action) if user else frozenset()
        who = user or ANONYMOUS
        out: set[str] = set()
        for rule in self.rules:
            if not fnmatch.fnmatchcase(repository, rule.repository):
                continue
            if who in rule.users or (user and "*" in rule.users):
                out.update(a.value for a in rule.actions)
        return frozenset(out)

    def may_list_catalog(self, user: str | None) -> bool:
        """The catalog lists every repository: only for users who may pull from all."""
        if not self.rules:
            return bool(user)
        return "pull" in self.allowed(user, "*")

    def grant(self, user: str | None, scope: Scope) -> Scope:
        """``scope`` narrowed to what ``user`` may do (possibly no action)."""
        if scope.type == "repository":
            allowed = self.allowed(user, scope.name)
            asked = frozenset(allowed) if "*" in scope.actions else scope.actions
            return Scope(scope.type, scope.name, asked & allowed)
        if scope.type == "registry" and scope.name == "catalog":
            ok = self.may_list_catalog(user)
            return Scope(scope.type, scope.name, scope.actions & {"*"} if ok else frozenset())
        return Scope(scope.type, scope.name, frozenset())


def satisfies(granted: list[Scope], needed: Scope) -> bool:
    """True when the granted scopes cover every action of ``needed``."""
    have: set[str] = set()
    for g in granted:
        if g.type == needed.type and g.name == needed.name:
            have |= g.actions
    return "*" in have or needed.actions <= have
