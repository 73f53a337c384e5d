"""The device allow-list (``linux.resources.devices``): validation, and its meaning as state.

The OCI rules are applied in order on top of what the cgroup starts with (a new cgroup
under the root allows every device). A ``type: a`` rule resets everything: deny-all turns
the cgroup into an allow-list with no entries, allow-all into a deny-list with none. Other
rules add or remove exceptions, the v1 devices controller's model.

``DeviceEmulator`` keeps that state, as runc's ``devices/devices_emulator.go`` does, for
two reasons:

* v1 updates: from the live ``devices.list`` and the wanted rules it computes the fewest
  writes that get there (``transition``), so a running container never passes through a
  moment where ``/dev/null`` is denied;
* v2: the eBPF program (``devices_bpf``) is compiled from the final state, so both versions
  mean exactly the same thing.

Like runc, removing an exception that lies inside a wider wildcard exception (denying
``c 1:3`` while ``c *:*`` is allowed) is refused: the v1 kernel would silently ignore it.
"""

from __future__ import annotations

from dockyard.errors import Internal, InvalidArgument
from dockyard.oci.runtime_spec import DeviceRule

# Not typing's TYPE_CHECKING/NamedTuple: the runtime CLI's start-up (dockyard.records).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import NamedTuple
else:
    from dockyard.records import NamedTuple

_ACCESS = "rwm"
_MAX_NUM = 0xFFFFFFFF
WILDCARD = -1


def _canon_access(access: str) -> str:
    return "".join(ch for ch in _ACCESS if ch in access)


def normalize_rule(rule: DeviceRule, where: str = "linux.resources.devices") -> DeviceRule:
    """Validate ``rule`` and return it in canonical form: access in ``rwm`` order, ``None``
    for a wildcard major/minor (``-1`` accepted as a wildcard too), and ``a`` rules as
    ``a *:* rwm`` (the kernel ignores the rest of an ``a`` rule)."""
    if rule.type not in ("a", "b", "c"):
        raise InvalidArgument(f"{where}: type must be a, b or c, not {rule.type!r}")
    if not rule.access or any(ch not in _ACCESS for ch in rule.access):
        raise InvalidArgument(f"{where}: access must be made of r, w and m, not {rule.access!r}")
    if rule.type == "a":
        return DeviceRule(allow=rule.allow, type="a", major=None, minor=None, access="rwm")
    nums: list[int | None] = []
    for label, n in (("major", rule.major), ("minor", rule.minor)):
        if n is None or n == WILDCARD:
            nums.append(None)
        elif 0 <= n <= _MAX_NUM:
            nums.append(n)
        else:
            raise InvalidArgument(f"{where}: {label} {n} out of range")
    return DeviceRule(allow=rule.allow, type=rule.type, major=nums[0], minor=nums[1],
                      access=_canon_access(rule.access))


def v1_line(rule: DeviceRule) -> str:
    """The line to write to ``devices.allow``/``devices.deny`` (``c 1:3 rwm``, ``b *:* m``)."""
    if rule.type == "a":
        return "a *:* rwm"
    major = "*" if rule.major is None else str(rule.major)
    minor = "*" if rule.minor is None else str(rule.minor)
    return f"{rule.type} {major}:{minor} {rule.access}"


class DeviceKey(NamedTuple):
    """What an exception matches: major, minor (``WILDCARD`` for any) and type (b or c).
    Ordered by (major, minor, type), so rule lists come out in a stable order."""

    major: int
    minor: int
    type: str


class DeviceEmulator:
    """The state of a devices cgroup: a default (allow or deny every device) and the
    exceptions to it, each with the access it covers."""

    __slots__ = ("default_allow", "exceptions")

    def __init__(self, default_allow: bool = True,
                 exceptions: dict[DeviceKey, str] | None = None) -> None:
        self.default_allow = default_allow
        self.exceptions: dict[DeviceKey, str] = dict(exceptions or {})

    def __repr__(self) -> str:
        mode = "deny-list" if self.default_allow else "allow-list"
        return f"DeviceEmulator({mode}, {len(self.exceptions)} exceptions)"

    @classmethod
    def from_rules(cls, rules: Iterable[DeviceRule], default_allow: bool = True,
                   where: str = "linux.resources.devices") -> DeviceEmulator:
        """The state after applying ``rules`` in order to a cgroup that starts with the
        ``default_allow`` policy and no exceptions (a new cgroup under the root allows
        everything). Each rule is validated; ``InvalidArgument`` names the bad one."""
        emu = cls(default_allow)
        for i, rule in enumerate(rules):
            emu.apply(normalize_rule(rule, f"{where}[{i}]"), f"{where}[{i}]")
        return emu

    @classmethod
    def from_list(cls, text: str, where: str = "devices.list") -> DeviceEmulator:
        """The state a v1 ``devices.list`` shows. A deny-list cgroup lists only
        ``a *:* rwm`` (its deny exceptions are invisible), so it reads as allow-all."""
        emu = cls(default_allow=False)
        for line in text.splitlines():
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3 or parts[0] not in ("a", "b", "c") or ":" not in parts[1]:
                raise Internal(f"{where}: malformed line {line!r}")
            if parts[0] == "a":
                emu = cls(default_allow=True)
                continue
            major_s, _, minor_s = parts[1].partition(":")
            try:
                major = WILDCARD if major_s == "*" else int(major_s)
                minor = WILDCARD if minor_s == "*" else int(minor_s)
            except ValueError:
                raise Internal(f"{where}: malformed line {line!r}") from None
            emu._add(DeviceKey(major, minor, parts[0]), _canon_access(parts[2]))
        return emu

    # -- applying rules

    def apply(self, rule: DeviceRule, where: str = "device rule") -> None:
        """Apply one normalised rule, as the v1 kernel would (with runc's refusal of
        hole-punching in wildcard exceptions)."""
        if rule.type == "a":
            self.default_allow = rule.allow
            self.exceptions = {}
            return
        key = DeviceKey(WILDCARD if rule.major is None else rule.major,
                        WILDCARD if rule.minor is None else rule.minor, rule.type)
        if rule.allow == self.default_allow:
            self._remove(key, rule.access, where)
        else:
            self._add(key, rule.access)

    def _add(self, key: DeviceKey, access: str) -> None:
        self.exceptions[key] = _canon_access(self.exceptions.get(key, "") + access)

    def _remove(self, key: DeviceKey, access: str, where: str) -> None:
        for wider in (DeviceKey(WILDCARD, key.minor, key.type),
                      DeviceKey(key.major, WILDCARD, key.type),
                      DeviceKey(WILDCARD, WILDCARD, key.type)):
            if wider == key:
                continue
            overlap = set(self.exceptions.get(wider, "")) & set(access)
            if overlap:
                raise InvalidArgument(
                    f"{where}: cannot {'allow' if self.default_allow else 'deny'} "
                    f"{_key_str(key)} {access}: it lies inside the wider exception "
                    f"{_key_str(wider)} {self.exceptions[wider]}, which the kernel would keep")
        left = _canon_access("".join(ch for ch in self.exceptions.get(key, "") if ch not in access))
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)

    # -- queries

    def allows(self, dev_type: str, major: int, minor: int, access: str) -> bool:
        """Whether an access of ``access`` to device ``dev_type major:minor`` is allowed."""
        for key, perms in self.exceptions.items():
            if (key.type == dev_type and key.major in (WILDCARD, major)
                    and key.minor in (WILDCARD, minor) and set(access) <= set(perms)):
                return not self.default_allow
        return self.default_allow

    def rules(self) -> list[DeviceRule]:
        """The state as a minimal rule list: the reset rule, then the exceptions sorted."""
        out = [DeviceRule(allow=self.default_allow, type="a", access="rwm")]
        for key in sorted(self.exceptions):
            out.append(_rule(key, self.exceptions[key], not self.default_allow))
        return out

    def transition(self, target: DeviceEmulator) -> list[DeviceRule]:
        """The rules to apply, in order, to go from this state to ``target`` with the least
        disruption. A reset rule is included only when the default changes or when this
        state is a deny-list (whose deny exceptions cannot be read back)."""
        out: list[DeviceRule] = []
        old = self.exceptions
        if self.default_allow or self.default_allow != target.default_allow:
            out.append(DeviceRule(allow=target.default_allow, type="a", access="rwm"))
            old = {}
        for key in sorted(old):
            dropped = "".join(ch for ch in old[key] if ch not in target.exceptions.get(key, ""))
            if dropped:
                out.append(_rule(key, dropped, target.default_allow))
        for key in sorted(target.exceptions):
            gained = "".join(ch for ch in target.exceptions[key] if ch not in old.get(key, ""))
            if gained:
                out.append(_rule(key, gained, not target.default_allow))
        return out


def _rule(key: DeviceKey, access: str, allow: bool) -> DeviceRule:
    return DeviceRule(allow=allow, type=key.type,
                      major=None if key.major == WILDCARD else key.major,
                      minor=None if key.minor == WILDCARD else key.minor,
                      access=_canon_access(access))


def _key_str(key: DeviceKey) -> str:
    major = "*" if key.major == WILDCARD else str(key.major)
    minor = "*" if key.minor == WILDCARD else str(key.minor)
    return f"{key.type} {major}:{minor}"
