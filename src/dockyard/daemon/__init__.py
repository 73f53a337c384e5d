"""The daemon's services: containers, images, system, and the daemon's own state.

Asynchronous at the edge (the API awaits them), synchronous below (stores, mounts, the
supervisor client run in worker threads). Values the API renders live in modules of
their own (``containers.model``, ``containers.config``, ``system``), which
``dockyard.apitypes`` imports; nothing here knows Docker's JSON field names.
"""
