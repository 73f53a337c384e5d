"""htpasswd files with bcrypt hashes (``htpasswd -B``), as distribution's htpasswd auth.

One ``user:hash`` per line; blank lines and ``#`` comments are skipped. Only bcrypt
(``$2a$``, ``$2b$``, ``$2y$``) is accepted: the other htpasswd formats (crypt, MD5, SHA1)
are too weak to guard pushes, and a line using one is refused when the file is read.
"""

from __future__ import annotations

import bcrypt

from dockyard.errors import InvalidArgument

_BCRYPT = ("$2a$", "$2b$", "$2y$")


class Htpasswd:
    """The users of one htpasswd file (read once; restart to reload)."""

    def __init__(self, entries: dict[str, bytes]) -> None:
        self._entries = entries
        # Checking an unknown user costs a bcrypt round too, so timing does not tell
        # which user names exist.
        self._dummy = bcrypt.hashpw(b"dummy", bcrypt.gensalt(rounds=4))

    @classmethod
    def parse(cls, text: str, where: str = "htpasswd") -> Htpasswd:
        entries: dict[str, bytes] = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user:
                raise InvalidArgument(f"{where}:{n}: want user:hash")
            if not hashed.startswith(_BCRYPT):
                raise InvalidArgument(f"{where}:{n}: user {user!r}: only bcrypt hashes "
                                      "(htpasswd -B) are accepted")
            entries[user] = hashed.encode()
        return cls(entries)

    @classmethod
    def load(cls, path: str) -> Htpasswd:
        try:
            with open(path, encoding="utf-8") as f:
                return cls.parse(f.read(), path)
        except OSError as e:
            raise InvalidArgument(f"htpasswd {path}: {e.strerror}") from e

    def check(self, user: str, password: str) -> bool:
        """True when ``password`` is ``user``'s."""
        hashed = self._entries.get(user)
        pw = password.encode()
        if hashed is None:
            bcrypt.checkpw(pw, self._dummy)
            return False
        try:
            return bcrypt.checkpw(pw, hashed)
        except ValueError:
            return False

    def __contains__(self, user: str) -> bool:
        return user in self._entries


def hash_password(password: str, rounds: int = 10) -> str:
    """A bcrypt hash for an htpasswd line (tests, and ``dockyard-registry htpasswd``)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
