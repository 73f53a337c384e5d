"""dockyard: a Docker-compatible container platform (client, daemon, runtime, registry)."""

__version__ = "0.1.0"
