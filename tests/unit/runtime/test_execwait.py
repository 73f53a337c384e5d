"""The init's waiting program (``dockyard.runtime.execwait``): its ELF image, and the
way back when it cannot be exec'd (the init then waits in Python, nothing leaked)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.runtime import execwait


def test_image_is_one_loadable_segment_entered_at_the_code() -> None:
    img = execwait.image()
    assert img[:4] == b"\x7fELF" and img[4:7] == bytes((2, 1, 1))  # 64-bit LE, v1
    (e_type, e_machine, _version, entry, phoff, shoff, _flags, ehsize, phentsize, phnum,
     ) = struct.unpack_from("<HHIQQQIHHH", img, 16)
    assert (e_type, e_machine) == (2, 0x3E)  # ET_EXEC, x86-64
    assert (phoff, shoff, ehsize, phentsize, phnum) == (64, 0, 64, 56, 1)
    p_type, p_flags, offset, vaddr, _paddr, filesz, memsz, align = struct.unpack_from(
        "<IIQQQQQQ", img, 64)
    assert (p_type, p_flags, offset, vaddr) == (1, 5, 0, execwait.BASE)  # PT_LOAD, R+X
    assert filesz == memsz == len(img) and align == 0x1000
    assert entry == execwait.BASE + 120 and img[120:] == execwait.CODE
    assert b"/proc/self/fd/3\0" in execwait.CODE


@pytest.mark.skipif(not execwait.supported(), reason="x86-64 only")
def test_the_program_waits_for_the_fifo_then_execs(tmp_path: Path) -> None:
    # Outside any container: fd 3 is a fifo opened O_PATH, as the init's; the program
    # blocks until the fifo's reader opens it, writes "0", and execs argv[0].
    fifo = tmp_path / "exec.fifo"
    os.mkfifo(fifo, 0o600)
    script = (
        "import os, sys\n"
        "from dockyard.runtime import execwait\n"
        f"fd = os.open({str(fifo)!r}, os.O_PATH | os.O_CLOEXEC)\n"
        "execwait.exec_waiting(fd, '/bin/sh', ['sh', '-c', 'echo $0 $X; ls /proc/self/fd',"
        " 'went'], {'X': 'on'})\n"
        "sys.exit('not exec\\'d')\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        r = os.open(fifo, os.O_RDONLY)  # blocks until the program opens the write end
        try:
            assert os.read(r, 1) == b"0"
        finally:
            os.close(r)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    lines = out.decode().split()
    assert lines[:2] == ["went", "on"]
    assert sorted(lines[2:]) == ["0", "1", "2", "3"]  # 3: ls's own directory


# Run in a fresh interpreter: the test moves descriptor 3 around, which pytest's own
# output capture uses.
_FALLBACK = """
import os, sys
from dockyard.runtime import execwait
fifo_on_3 = sys.argv[1] == "yes"
calls = []
def refuse(path, args, env):
    calls.append(path)
    assert isinstance(path, int) and os.get_inheritable(3)  # the fifo, as fd 3
    raise PermissionError(13, "refused by the test")
execwait.os.execve = refuse
execwait.supported = lambda: True
for fd in range(3, 64):
    try:
        os.close(fd)
    except OSError:
        pass
if not fifo_on_3:  # something else (close-on-exec) holds 3, as in the init
    assert os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) == 3
target = os.open(sys.argv[2], os.O_PATH | os.O_CLOEXEC)
assert (target == 3) == fifo_on_3
execwait.exec_waiting(target, "/bin/true", ["true"], {})
assert calls, "execve was not tried"
links = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
         if os.path.exists(f"/proc/self/fd/{fd}")]
assert not any(link.startswith("/memfd:") for link in links), links  # memfd closed
if fifo_on_3:  # fd 3 is the fifo again, close-on-exec again
    assert not os.get_inheritable(3)
else:  # fd 3, the copy of the fifo, closed
    try:
        os.fstat(3)
    except OSError:
        pass
    else:
        raise AssertionError("fd 3 left open")
assert not os.get_inheritable(target)
print("ok")
"""


@pytest.mark.parametrize("fifo_on_3", [True, False])
def test_when_it_cannot_exec_the_descriptors_are_as_before(tmp_path: Path,
                                                          fifo_on_3: bool) -> None:
    r = subprocess.run([sys.executable, "-c", _FALLBACK, "yes" if fifo_on_3 else "no",
                        str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
