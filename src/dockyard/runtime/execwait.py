"""The init's last step before ``start``, as a 400-byte program instead of Python.

A created container's init waits in the open of ``exec.fifo`` until ``start`` opens the
other end, then execs the container's program. Done in Python, that final ``execve``
tears down the init's address space: a copy-on-write copy of the supervisor's (~13 MB of
anonymous memory here), about 2 ms between ``start`` and the program's first
instruction. So once the init has reported ready, it execs this static program from a
sealed memfd instead, and the teardown happens while the container is still only
created; the program's own ``execve`` at start has next to nothing to tear down.

What it does, with the init's state otherwise unchanged (namespaces, root, cgroups,
credentials, capabilities, rlimits, working directory, the descriptors 0-2, an empty
signal mask, default dispositions):

* SIGTERM, SIGINT, SIGHUP and SIGQUIT end it with status 128 + the signal (a PID 1
  with default dispositions would ignore them; ``execve`` resets these handlers);
* ``openat(AT_FDCWD, "/proc/self/fd/3", O_WRONLY | O_CLOEXEC)`` (the calls it makes are
  the C library's, for a seccomp filter that allows those): descriptor 3 is the fifo, opened
  ``O_PATH`` on the host before ``pivot_root``, as the init's own wait uses it; the open
  blocks until ``start``;
* ``close(3)``, so that no host descriptor reaches the container's program, and
  ``write(fd, "0", 1)``: the start's signal;
* ``execve(argv[0], &argv[1], envp)``: it is started as ``[path, *args]`` with the
  program's environment; if that fails, one line on stderr and exit status 127.

x86-64 only (elsewhere, and wherever the memfd cannot be made or executed, the init
does the same in Python). The machine code below is ``execwait.s``, assembled with
GNU as (``as execwait.s && ld -Ttext=0x400078``, bytes of ``.text``)::

    _start: mov r12, rsp                  ; r12 = &argc
            lea rax, [rip + handler]      ; struct sigaction on the stack:
            push 0                        ;   sa_mask
            push rax                      ;   sa_restorer (never used: it exits)
            push 0x04000000               ;   sa_flags = SA_RESTORER
            push rax                      ;   sa_handler
            mov r14, rsp
            lea rbx, [rip + sigs]
    1:      movzx edi, byte ptr [rbx]     ; for each signal in sigs:
            test edi, edi
            jz 2f
            mov rsi, r14
            xor edx, edx
            mov r10d, 8
            mov eax, 13                   ;   rt_sigaction(sig, &act, NULL, 8)
            syscall
            inc rbx
            jmp 1b
    2:      mov edi, -100                 ; AT_FDCWD
            lea rsi, [rip + fifo]
            mov edx, 0x80001              ; O_WRONLY | O_CLOEXEC
            xor r10d, r10d
            mov eax, 257                  ; openat: blocks until start
            syscall
            test rax, rax
            js fail
            mov r13, rax
            mov edi, 3
            mov eax, 3                    ; close(3)
            syscall
            mov rdi, r13
            lea rsi, [rip + zero]
            mov edx, 1
            mov eax, 1                    ; write(fd, "0", 1)
            syscall
            mov rcx, [r12]                ; argc
            mov rdi, [r12 + 8]            ; argv[0]
            lea rsi, [r12 + 16]           ; &argv[1]
            lea rdx, [r12 + rcx*8 + 16]   ; envp
            mov eax, 59                   ; execve
            syscall
    fail:   mov edi, 2
            lea rsi, [rip + msg]
            mov edx, msgend - msg
            mov eax, 1                    ; write(2, msg, len)
            syscall
            mov edi, 127
            mov eax, 231                  ; exit_group(127)
            syscall
    handler: add edi, 128
            mov eax, 231                  ; exit_group(128 + signal)
            syscall
    sigs:   .byte 15, 2, 1, 3, 0
    fifo:   .asciz "/proc/self/fd/3"
    zero:   .ascii "0"
    msg:    .ascii "dockyard-runtime: the container's process could not be started\\n"
    msgend:
"""

from __future__ import annotations

import fcntl
import os

CODE = bytes.fromhex(
    "4989e4488d05b40000006a00506800000004504989e6488d1dae0000000fb63b"
    "85ff74174c89f631d241ba08000000b80d0000000f0548ffc3ebe2bf9cffffff"
    "488d3589000000ba010008004531d2b8010100000f054885c0783f4989c5bf03"
    "000000b8030000000f054c89ef488d356c000000ba01000000b8010000000f05"
    "498b0c24498b7c2408498d742410498d54cc10b83b0000000f05bf0200000048"
    "8d353b000000ba3f000000b8010000000f05bf7f000000b8e70000000f0581c7"
    "80000000b8e70000000f050f020103002f70726f632f73656c662f66642f3300"
    "30646f636b796172642d72756e74696d653a2074686520636f6e7461696e6572"
    "27732070726f6365737320636f756c64206e6f7420626520737461727465640a"
)
BASE = 0x400000
"""Where the one segment is loaded (``ET_EXEC``; the code is position-independent)."""
FIFO_FD = 3
_HEADERS = 64 + 56  # the ELF header, one program header; the code follows


def _u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def image() -> bytes:
    """The static ELF executable: header, one ``PT_LOAD`` (read, execute) of the whole
    file at ``BASE``, entry at the code."""
    size = _HEADERS + len(CODE)
    ident = b"\x7fELF" + bytes((2, 1, 1, 0)) + bytes(8)  # 64-bit, little-endian, v1, SysV
    header = (ident + _u(2, 2) + _u(0x3E, 2) + _u(1, 4)  # ET_EXEC, EM_X86_64, EV_CURRENT
              + _u(BASE + _HEADERS, 8) + _u(64, 8) + _u(0, 8)  # entry, phoff, shoff
              + _u(0, 4) + _u(64, 2) + _u(56, 2) + _u(1, 2)  # flags, ehsize, phentsize, phnum
              + _u(0, 2) + _u(0, 2) + _u(0, 2))  # shentsize, shnum, shstrndx
    segment = (_u(1, 4) + _u(5, 4) + _u(0, 8)  # PT_LOAD, PF_R | PF_X, offset
               + _u(BASE, 8) + _u(BASE, 8)  # vaddr, paddr
               + _u(size, 8) + _u(size, 8) + _u(0x1000, 8))  # filesz, memsz, align
    return header + segment + CODE


def supported() -> bool:
    return os.uname().machine == "x86_64"


_MFD_EXEC = 0x10  # Linux 6.3+: an executable memfd where vm.memfd_noexec would refuse
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def _memfd() -> int:
    """A sealed, close-on-exec memfd holding ``image()``, never descriptor 3."""
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("dockyard-init", flags | _MFD_EXEC)
    except OSError:  # EINVAL before Linux 6.3
        fd = os.memfd_create("dockyard-init", flags)
    try:
        if fd <= FIFO_FD:
            low, fd = fd, fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FIFO_FD + 1)
            os.close(low)
        data = image()
        while data:
            data = data[os.write(fd, data):]
        # Sealed: nothing in the container can write the program through /proc/1/exe.
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def exec_waiting(fifo_fd: int, path: str, args: list[str], env: dict[str, str]) -> None:
    """Become the waiting program (never returns on success). Returns, with the
    descriptors as they were, if it cannot: the caller then waits and execs itself."""
    if not supported():
        return
    try:
        fd = _memfd()
    except OSError:
        return
    try:
        if fifo_fd == FIFO_FD:
            os.set_inheritable(FIFO_FD, True)
        else:
            os.dup2(fifo_fd, FIFO_FD)  # inheritable; what 3 held was close-on-exec
        try:
            os.execve(fd, [path, *args], env)
        except OSError:
            pass
        # Not exec'd: no host descriptor may survive into the caller's own execve.
        if fifo_fd == FIFO_FD:
            os.set_inheritable(FIFO_FD, False)
        else:
            os.close(FIFO_FD)
    finally:
        os.close(fd)
