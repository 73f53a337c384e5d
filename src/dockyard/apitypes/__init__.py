"""The Docker Engine API's wire shapes: parsing request bodies and query strings into the
daemon's values, and rendering the daemon's values as Docker's JSON.

This package is the only place (with ``dockyard.api``) where Docker's JSON field names
appear. It imports the daemon's *value* modules (frozen dataclasses), never its services;
``dockyard.api`` imports this package and never the daemon.

Modules by noun: ``version`` (API versions), ``reader`` (typed access to decoded JSON with
errors naming the field), ``system`` (``/version``, ``/info``), ``create`` (the body of
``POST /containers/create``), ``containers`` (inspect, list, wait), ``times``.
"""
