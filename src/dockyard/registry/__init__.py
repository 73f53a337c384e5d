"""dockyard's registry: an OCI Distribution Spec v1.1 server (Docker Registry HTTP API v2).

It shares only ``dockyard.errors`` and ``dockyard.oci`` with the rest of dockyard (an
import-linter contract says so). Map of the package:

``names``      repository names, tags, references (the spec's grammar)
``storage/``   the ``StorageDriver`` seam: ``filesystem`` (default), ``memory`` (tests)
``store/``     blobs, uploads, manifests/tags/referrers over a driver; layout in paths.py
``gc``         online mark-and-sweep with a grace period and a file lock
``errors``     the OCI error-code table and the one exception-to-status function
``routes/``    thin aiohttp handlers per area; ``app`` wires them with auth and errors
``auth/``      htpasswd (bcrypt) Basic, the token server (scoped JWTs), permissions
``tls``, ``server``, ``config``, ``cli``   running it
"""
