"""The registry commands: ``pull``, ``push``, ``login``, ``logout`` (and ``image pull``,
``image push``), as the docker CLI runs them.

- ``pull NAME[:TAG|@DIGEST]`` sends ``POST /images/create?fromImage=&tag=`` (``tag`` may
  be a digest; none with ``-a``: every tag) and shows the progress stream
  (:mod:`dockyard.cli.jsonmessage`), then prints the full reference; ``-q`` prints only
  that.
- ``push NAME[:TAG]`` sends ``POST /images/{name}/push?tag=`` (no tag with ``-a``: every
  local tag of the repository).
- Both send the credentials stored for the reference's registry in ``X-Registry-Auth``
  (:mod:`dockyard.cli.credentials`); the daemon keeps none.
- ``login [SERVER]`` asks the daemon to check the credentials (``POST /auth``), then
  stores them in ``~/.docker/config.json`` (or a credential helper) as docker does;
  ``logout [SERVER]`` forgets them.
"""

from __future__ import annotations

from dockyard.cli.args import BOOL, STRING, Flag, Spec
from dockyard.cli.context import PROG, Context, StatusError
from dockyard.client.http import quote

TYPE_CHECKING = False  # not `typing`'s: importing typing costs milliseconds of start-up
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.credentials import ConfigFile, Credentials
    from dockyard.client.http import Response
    from dockyard.oci.reference import Reference

P = PROG
STORE_WARNING = """
WARNING! Your credentials are stored unencrypted in '{path}'.
Configure a credential helper to remove this warning. See
https://docs.docker.com/go/credential-store/

"""

PULL = Spec(f"{P} pull", f"{P} pull [OPTIONS] NAME[:TAG|@DIGEST]",
            "Download an image from a registry", [
                Flag("all-tags", BOOL, "Download all tagged images in the repository",
                     short="a"),
                Flag("disable-content-trust", BOOL, "Skip image verification", default=True),
                Flag("platform", STRING, "Set platform if server is multi-platform capable"),
                Flag("quiet", BOOL, "Suppress verbose output", short="q"),
            ], min_args=1, max_args=1, aliases=[f"{P} image pull", f"{P} pull"])

PUSH = Spec(f"{P} push", f"{P} push [OPTIONS] NAME[:TAG]",
            "Upload an image to a registry", [
                Flag("all-tags", BOOL, "Push all tags of an image to the repository",
                     short="a"),
                Flag("disable-content-trust", BOOL, "Skip image signing", default=True),
                Flag("platform", STRING, "Push a platform-specific manifest as a "
                     "single-platform image to the registry"),
                Flag("quiet", BOOL, "Suppress verbose output", short="q"),
            ], min_args=1, max_args=1, aliases=[f"{P} image push", f"{P} push"])

LOGIN = Spec(f"{P} login", f"{P} login [OPTIONS] [SERVER]",
             "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
             [
                 Flag("password", STRING, "Password or Personal Access Token (PAT)",
                      short="p"),
                 Flag("password-stdin", BOOL, "Take the Password or Personal Access Token "
                      "(PAT) from stdin"),
                 Flag("username", STRING, "Username", short="u"),
             ], max_args=1)

LOGOUT = Spec(f"{P} logout", f"{P} logout [SERVER]",
              "Log out from a registry.\nIf no server is specified, the default is defined "
              "by the daemon.", [], max_args=1)


# ---------------------------------------------------------------------- references


def _reference(name: str, *, all_tags: bool) -> tuple[Reference, bool]:
    """``name`` normalised as the docker CLI does (``busybox`` → ``…/busybox:latest``),
    and whether the tag was defaulted."""
    from dockyard.errors import InvalidArgument
    from dockyard.oci import reference

    try:
        ref = reference.parse_normalized_named(name)
    except InvalidArgument as exc:
        text = str(exc)
        if not text.startswith("invalid reference format"):
            text = f"invalid reference format: {text}"
        raise StatusError(text, 1) from None
    if all_tags:
        if not ref.is_name_only:
            raise StatusError("tag can't be used with --all-tags/-a", 1)
        return ref, False
    return reference.with_default_tag(ref), ref.is_name_only


def _config(ctx: Context) -> ConfigFile:
    from dockyard.cli.credentials import ConfigFile, CredentialsError, config_dir

    try:
        return ConfigFile(config_dir(ctx.environ))
    except CredentialsError as exc:
        raise StatusError(str(exc), 1) from None


def _auth_header(ctx: Context, ref: Reference) -> dict[str, str]:
    """``X-Registry-Auth`` with the stored credentials of the reference's registry."""
    from dockyard.cli.credentials import CredentialsError

    try:
        creds = _config(ctx).get(ref.domain)
    except CredentialsError as exc:
        ctx.warn(f"WARNING: {exc}")
        from dockyard.cli.credentials import Credentials as Creds

        creds = Creds(ref.domain)
    return {"X-Registry-Auth": creds.header()}


def _show(ctx: Context, resp: Response, *, quiet: bool) -> list[Any]:
    """Show the progress stream (nothing when ``quiet``); its ``aux`` values."""
    import io

    from dockyard.cli.jsonmessage import StreamError, display

    auxes: list[Any] = []
    out = io.StringIO() if quiet else ctx.out
    tty = not quiet and _isatty(ctx.out)
    try:
        display(resp.iter_json(), out, tty=tty, aux=auxes.append)
    except StreamError as exc:
        raise StatusError(exc.message, 1) from None
    finally:
        resp.close()
    return auxes


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:
        return False


# ---------------------------------------------------------------------- pull, push


def pull(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(PULL, argv)
    quiet = opts.flag("quiet")
    ref, defaulted = _reference(opts.args[0], all_tags=opts.flag("all-tags"))
    if defaulted and not quiet:
        ctx.write(f"Using default tag: {ref.tag}\n")
    _pull(ctx, ref, quiet=quiet, platform=opts.text("platform"))
    ctx.write(f"{ref}\n")
    return 0


def pull_image(ctx: Context, image: str, *, quiet: bool = False, platform: str = "") -> None:
    """The pull ``run`` and ``create`` do for a missing image: the progress (as ``docker
    run`` shows it: no "Using default tag", no reference line after it)."""
    ref, _ = _reference(image, all_tags=False)
    _pull(ctx, ref, quiet=quiet, platform=platform)


def _pull(ctx: Context, ref: Reference, *, quiet: bool, platform: str) -> None:
    from dockyard.oci import reference

    query: dict[str, str | None] = {
        "fromImage": reference.familiar_name(ref),
        "tag": str(ref.digest) if ref.digest is not None else (ref.tag or None),
        "platform": platform or None,
    }
    resp = ctx.client().post("/images/create", query, headers=_auth_header(ctx, ref))
    _show(ctx, resp, quiet=quiet)


def push(ctx: Context, argv: list[str]) -> int:
    from dockyard.oci import reference

    opts = ctx.parse(PUSH, argv)
    quiet = opts.flag("quiet")
    ref, defaulted = _reference(opts.args[0], all_tags=opts.flag("all-tags"))
    if ref.digest is not None:
        raise StatusError(f"cannot push a digest reference: {opts.args[0]}", 1)
    if defaulted and not quiet:
        ctx.write(f"Using default tag: {ref.tag}\n")
    path = f"/images/{quote(reference.familiar_name(ref), safe='/:')}/push"
    resp = ctx.client().post(path, {"tag": ref.tag or None},
                             headers=_auth_header(ctx, ref))
    _show(ctx, resp, quiet=quiet)
    if quiet:
        ctx.write(f"{ref}\n")
    return 0


# ---------------------------------------------------------------------- login, logout


def _read_stdin(ctx: Context) -> str:
    data = ctx.stdin.read()
    return data.rstrip("\n").rstrip("\r")


def _prompt(ctx: Context, label: str, default: str = "", *, secret: bool = False) -> str:
    if not _isatty(ctx.stdin):
        raise StatusError("Error: Cannot perform an interactive login from a non TTY "
                          "device", 1)
    if secret:
        import getpass

        return getpass.getpass(f"{label}: ")
    shown = f"{label} ({default}): " if default else f"{label}: "
    ctx.out.write(shown)
    ctx.out.flush()
    value = ctx.stdin.readline().strip()
    return value or default


def _check(ctx: Context, creds: Credentials) -> str:
    """``POST /auth``; the identity token the daemon answered."""
    resp = ctx.client().post("/auth", body={"username": creds.username,
                                            "password": creds.password,
                                            "identitytoken": creds.identity_token,
                                            "serveraddress": creds.server})
    doc = resp.json()
    return str(doc.get("IdentityToken") or "") if isinstance(doc, dict) else ""


def login(ctx: Context, argv: list[str]) -> int:
    from dockyard.cli.credentials import Credentials, CredentialsError, server_key
    from dockyard.client.errors import APIError

    opts = ctx.parse(LOGIN, argv)
    server = server_key(opts.args[0] if opts.args else "")
    username = opts.text("username").strip()
    password = opts.text("password")
    if opts.given("password"):
        ctx.warn("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    if opts.flag("password-stdin"):
        if opts.given("password"):
            raise StatusError("--password and --password-stdin are mutually exclusive", 1)
        if not username:
            raise StatusError("Must provide --username with --password-stdin", 1)
        password = _read_stdin(ctx)
    config = _config(ctx)
    try:
        stored = config.get(server)
    except CredentialsError:
        stored = Credentials(server)
    if not username and not password and (stored.password or stored.identity_token):
        # docker: try what is stored first, ask only if the registry refuses it.
        # docker 28: these lines go to stderr, "Login Succeeded" to stdout
        ctx.err.write(f"Authenticating with existing credentials... [Username: "
                      f"{stored.username}]\n")
        ctx.err.write(OTHER_ACCOUNT_TTY if ctx.err.isatty() else OTHER_ACCOUNT)
        try:
            token = _check(ctx, stored)
        except APIError as exc:
            if exc.status != 401:
                ctx.warn(f"Login did not succeed, error: Error response from daemon: "
                         f"{exc.message}")
                raise
            ctx.warn("Stored credentials invalid or expired")
        else:
            if token:
                stored.identity_token, stored.password = token, ""
                _store(ctx, config, stored)
            ctx.write("Login Succeeded\n")
            return 0
    if not username:
        username = _prompt(ctx, "Username", stored.username)
    if not username:
        raise StatusError("Error: Non-null Username Required", 1)
    if not password:
        password = _prompt(ctx, "Password", secret=True)
    if not password:
        raise StatusError("Error: Password Required", 1)
    creds = Credentials(server, username, password)
    token = _check(ctx, creds)
    if token:
        creds.identity_token, creds.password = token, ""
    _store(ctx, config, creds)
    ctx.write("Login Succeeded\n")
    return 0


def _store(ctx: Context, config: ConfigFile, creds: Credentials) -> None:
    from dockyard.cli.credentials import CredentialsError, server_key

    helper = config.helper(server_key(creds.server))
    try:
        where = config.store(creds)
    except (CredentialsError, OSError) as exc:
        raise StatusError(f"Error saving credentials: {exc}", 1) from None
    if helper and not where:
        ctx.warn(f"WARNING! docker-credential-{helper} is not installed: the credentials "
                 "are kept in the config file instead.")
    if not where:
        ctx.err.write(STORE_WARNING.format(path=config.path))


_OTHER_ACCOUNT = "To login with a different account, run 'docker logout' followed by 'docker login'"
OTHER_ACCOUNT = f"\n Info -> {_OTHER_ACCOUNT}\n\n\n"
"""What the docker CLI says after a login with stored credentials (off a terminal)."""
OTHER_ACCOUNT_TTY = ("\n\x1b[1m\x1b[106m\x1b[30mi\x1b[0m\x1b[0m \x1b[96mInfo \u2192 \x1b[0m\x1b[0m"
                     f"\x1b[3m{_OTHER_ACCOUNT}\x1b[0m\n\n\n")
"""The same on a terminal (its badge and colours, byte for byte)."""


def logout(ctx: Context, argv: list[str]) -> int:
    from dockyard.cli.credentials import CredentialsError, server_key

    opts = ctx.parse(LOGOUT, argv)
    server = server_key(opts.args[0] if opts.args else "")
    config = _config(ctx)
    # docker 28: said first and whether or not there were credentials; a failure to
    # erase them is a warning, exit 0
    ctx.write(f"Removing login credentials for {server}\n")
    try:
        config.erase(server)
    except (CredentialsError, OSError) as exc:
        ctx.err.write(f"WARNING: could not erase credentials:\n{server}: {exc}\n")
    return 0
