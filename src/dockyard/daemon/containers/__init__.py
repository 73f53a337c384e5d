"""Containers: records, names, creation with the image merged in, the OCI spec, the rootfs,
running them through the supervisor, logs, and ``ContainerService`` over all of it.

Modules by noun: ``config`` and ``model`` (values), ``create`` (merge and checks),
``names``, ``table`` (in-memory entries), ``store`` (records on disk), ``rootfs``
(snapshots and mounts), ``users`` (passwd/group inside the rootfs), ``etcfiles``
(hostname, hosts, resolv.conf), ``spec`` (config.json), ``netns`` (loopback), ``runner``
(start, exit, stop, kill), ``logs`` (json-file reading), ``filters`` (``ps`` filters),
``service`` (the facade the API calls).
"""
