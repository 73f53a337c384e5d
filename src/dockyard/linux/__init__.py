"""Thin ctypes wrappers over the Linux system calls Python 3.11 lacks.

One function per system call, raising ``OSError`` with the errno on failure. Nothing here
knows about containers; the runtime composes these calls.
"""
