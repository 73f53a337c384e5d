"""The Docker Engine API server (aiohttp): thin routers over narrow backends, as in moby.

Each router module declares, as a ``typing.Protocol``, the backend it needs and registers
its routes; a handler parses the request (with ``dockyard.apitypes``), calls one backend
method and writes the status. Errors become HTTP statuses in exactly one function,
``errors.http_status``. ``app.build_app`` puts the routers together; the composition root
(``dockyard.entrypoints.dockyardd``) hands it the daemon's services. This package never
imports ``dockyard.daemon``.
"""
