"""Auth decisions: scopes, permissions, Basic and token authorizers, htpasswd, JWTs."""

from __future__ import annotations

import base64
import time

import jwt
import pytest

from dockyard.errors import InvalidArgument
from dockyard.registry.auth import (
    BasicAuthorizer,
    CredentialChecker,
    Htpasswd,
    Permissions,
    TokenAuthorizer,
    TokenIssuer,
    parse_basic,
)
from dockyard.registry.auth.access import Scope, parse_scope, parse_scopes, satisfies
from dockyard.registry.auth.htpasswd import hash_password
from dockyard.registry.auth.token import TokenError
from dockyard.registry.config import AccessRule, Action
from dockyard.registry.errors import Denied, Unauthorized

PULL = frozenset({"pull"})
ALL = frozenset({Action.PULL, Action.PUSH, Action.DELETE})
RULES = (
    AccessRule("public/*", ("anonymous", "*"), frozenset({Action.PULL})),
    AccessRule("team/*", ("alice",), ALL),
    AccessRule("team/*", ("bob",), frozenset({Action.PULL})),
    AccessRule("*", ("admin",), ALL),
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def htpasswd() -> Htpasswd:
    lines = [f"alice:{hash_password('wonderland', rounds=4)}",
             f"bob:{hash_password('builder', rounds=4)}",
             f"admin:{hash_password('root', rounds=4)}"]
    return Htpasswd.parse("# users\n\n" + "\n".join(lines) + "\n")


def test_parse_scope() -> None:
    assert parse_scope("repository:a/b:pull,push") == Scope("repository", "a/b",
                                                             frozenset({"pull", "push"}))
    assert parse_scope("repository:localhost:5000/x:pull").name == "localhost:5000/x"
    assert parse_scope("registry:catalog:*").actions == frozenset({"*"})
    assert parse_scope("repository(plugin):a:pull").type == "repository"
    assert len(parse_scopes(["repository:a:pull repository:b:push", "registry:catalog:*"])) == 3
    with pytest.raises(InvalidArgument):
        parse_scope("nonsense")


def test_permissions_union_of_matching_rules() -> None:
    p = Permissions(RULES)
    assert p.allowed("alice", "team/x") == {"pull", "push", "delete"}
    assert p.allowed("bob", "team/x") == {"pull"}
    assert p.allowed("bob", "public/x") == {"pull"}
    assert p.allowed(None, "public/x") == {"pull"}
    assert p.allowed(None, "team/x") == frozenset()
    assert p.allowed("carol", "team/x") == frozenset()
    assert p.allowed("admin", "anything/at/all") == {"pull", "push", "delete"}
    assert p.may_list_catalog("admin") and not p.may_list_catalog("alice")


def test_no_rules_means_authenticated_users_do_everything() -> None:
    p = Permissions(())
    assert p.allowed("anyone", "x") == {"pull", "push", "delete"}
    assert p.allowed(None, "x") == frozenset()


def test_grant_narrows_and_star_expands() -> None:
    p = Permissions(RULES)
    asked = Scope("repository", "team/x", frozenset({"pull", "push"}))
    assert p.grant("bob", asked).actions == {"pull"}
    assert p.grant("alice", Scope("repository", "team/x", frozenset({"*"}))).actions == {
        "pull", "push", "delete"}
    assert p.grant("bob", Scope("registry", "catalog", frozenset({"*"}))).actions == frozenset()


def test_satisfies() -> None:
    granted = [Scope("repository", "a", frozenset({"pull"}))]
    assert satisfies(granted, Scope("repository", "a", PULL))
    assert not satisfies(granted, Scope("repository", "a", frozenset({"push"})))
    assert not satisfies(granted, Scope("repository", "b", PULL))
    assert satisfies([Scope("registry", "catalog", frozenset({"*"}))],
                     Scope("registry", "catalog", frozenset({"*"})))


def test_parse_basic() -> None:
    assert parse_basic(basic("u", "p:w")) == ("u", "p:w")
    assert parse_basic(None) is None
    assert parse_basic("Bearer x") is None
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Basic " + base64.b64encode(b"nocolon").decode()) is None


def test_htpasswd(htpasswd: Htpasswd) -> None:
    assert htpasswd.check("alice", "wonderland")
    assert not htpasswd.check("alice", "wrong")
    assert not htpasswd.check("nobody", "wonderland")
    assert "bob" in htpasswd


@pytest.mark.parametrize("line", ["alice:{SHA}abc", "alice:$apr1$x$y", "nocolon", ":$2y$x"])
def test_htpasswd_refuses_weak_or_broken_lines(line: str) -> None:
    with pytest.raises(InvalidArgument):
        Htpasswd.parse(line)


def test_basic_authorizer(htpasswd: Htpasswd) -> None:
    a = BasicAuthorizer(CredentialChecker(htpasswd), Permissions(RULES), "reg")
    team_push = Scope("repository", "team/x", frozenset({"push"}))
    # anonymous: /v2/ and private repositories need credentials; public pull does not
    with pytest.raises(Unauthorized) as info:
        a.authorize(None, None, "")
    assert info.value.challenge == 'Basic realm="reg"'
    assert a.authorize(None, Scope("repository", "public/x", PULL), "") is None
    with pytest.raises(Unauthorized):
        a.authorize(None, team_push, "")
    # wrong password: 401; right user without the right: 403
    with pytest.raises(Unauthorized):
        a.authorize(basic("alice", "nope"), team_push, "")
    assert a.authorize(basic("alice", "wonderland"), team_push, "") == "alice"
    with pytest.raises(Denied):
        a.authorize(basic("bob", "builder"), team_push, "")


def test_credential_cache_does_not_accept_other_passwords(htpasswd: Htpasswd) -> None:
    c = CredentialChecker(htpasswd)
    assert c.check("alice", "wonderland")
    assert c.check("alice", "wonderland")
    assert not c.check("alice", "wonderland2")


KEY = b"k" * 32


def test_token_round_trip() -> None:
    issuer = TokenIssuer(KEY, issuer="iss", service="svc", expiry=60)
    body = issuer.issue("alice", [Scope("repository", "a", frozenset({"pull", "push"}))])
    assert body["token"] == body["access_token"] and body["expires_in"] == 60
    claims = issuer.verify(str(body["token"]))
    assert claims.subject == "alice"
    assert claims.access == (Scope("repository", "a", frozenset({"pull", "push"})),)


@pytest.mark.parametrize("mutate", ["key", "audience", "issuer", "expired", "garbage"])
def test_bad_tokens_refused(mutate: str) -> None:
    issuer = TokenIssuer(KEY, issuer="iss", service="svc", expiry=60)
    now = time.time()
    if mutate == "key":
        token = str(TokenIssuer(b"o" * 32, issuer="iss", service="svc", expiry=60)
                    .issue("a", [])["token"])
    elif mutate == "audience":
        token = str(TokenIssuer(KEY, issuer="iss", service="other", expiry=60)
                    .issue("a", [])["token"])
    elif mutate == "issuer":
        token = str(TokenIssuer(KEY, issuer="evil", service="svc", expiry=60)
                    .issue("a", [])["token"])
    elif mutate == "expired":
        token = str(issuer.issue("a", [], now=now - 3600)["token"])
    else:
        token = "not.a.jwt"
    with pytest.raises(TokenError):
        issuer.verify(token)


def test_unsigned_token_refused() -> None:
    issuer = TokenIssuer(KEY, issuer="iss", service="svc", expiry=60)
    forged = jwt.encode({"iss": "iss", "aud": "svc", "exp": time.time() + 60, "sub": "x",
                         "access": [{"type": "repository", "name": "a", "actions": ["push"]}]},
                        key="", algorithm="none")
    with pytest.raises(TokenError):
        issuer.verify(forged)


def test_token_authorizer_flow(htpasswd: Htpasswd) -> None:
    issuer = TokenIssuer(KEY, issuer="iss", service="svc", expiry=60)
    a = TokenAuthorizer(CredentialChecker(htpasswd), Permissions(RULES), issuer, "")
    team_push = Scope("repository", "team/x", frozenset({"push"}))
    # no token: challenge naming realm, service and scope
    with pytest.raises(Unauthorized) as info:
        a.authorize(None, team_push, "http://h/token")
    assert info.value.challenge == ('Bearer realm="http://h/token",service="svc",'
                                    'scope="repository:team/x:push"')
    # alice gets a token with push; bob asks for push and gets pull only
    good = a.token_response(basic("alice", "wonderland"), ["repository:team/x:pull,push"], "svc")
    assert a.authorize(f"Bearer {good['token']}", team_push, "") == "alice"
    narrow = a.token_response(basic("bob", "builder"), ["repository:team/x:pull,push"], "svc")
    with pytest.raises(Unauthorized) as info:
        a.authorize(f"Bearer {narrow['token']}", team_push, "http://h/token")
    assert 'error="insufficient_scope"' in info.value.challenge
    # a token for one repository is not one for another
    with pytest.raises(Unauthorized):
        a.authorize(f"Bearer {good['token']}",
                    Scope("repository", "team/y", frozenset({"push"})), "")
    # anonymous tokens carry only what anonymous may do
    anon = a.token_response(None, ["repository:public/x:pull,push"], "svc")
    assert a.authorize(f"Bearer {anon['token']}", Scope("repository", "public/x", PULL),
                       "") is None
    with pytest.raises(Unauthorized):
        a.token_response(basic("alice", "bad"), [], "svc")
    with pytest.raises(Denied):
        a.token_response(None, [], "other-service")
