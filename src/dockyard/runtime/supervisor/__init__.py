"""The supervisor: the one long-lived, single-threaded parent of every container.

One process per state directory (``python -m dockyard.runtime.supervisor --state DIR``)
holds each container's stdio (pipes, or the pty master received over a console socket),
writes its output to a json-file log and to attached clients, reaps it and records its exit
durably, and keeps doing all of that while the daemon is down: the daemon only talks to it
over ``<state>/supervisor.sock``. It is also the zygote: created containers are forked from
it (``InProcessDriver``) or by an OCI runtime it runs (``OciCliDriver``), never from the
threaded daemon. One shared process rather than one per container, because the idle cost
per container is a tracked goal (< 0.5 MiB; see ``bench/supervisor_memory.py``).

Modules, by noun: ``server`` (event loop, reaping), ``connection`` and ``protocol`` (the
wire), ``handlers`` (the operations), ``tasks`` (containers and execs, their stdio and
exits), ``attach`` (attached streams), ``logs`` (json-file writer), ``records`` (the state
directory's layout and durable records), ``drivers`` (how containers are created),
``console`` (ptys), ``startup`` (lock, daemonizing), ``client`` (what the daemon uses).

This package's ``__init__`` imports nothing, so the daemon importing the client does not
load the server, and the supervisor does not load the client.
"""
