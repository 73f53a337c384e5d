"""Endpoints of features not built yet, answered as a dockerd with the feature off does.

``docker inspect X`` tries containers, images, networks, volumes... in turn and needs a
JSON 404 from each; ``docker info`` and docker-py read ``/swarm`` and ``/plugins``;
``docker system prune`` prunes networks and the build cache too: nothing to prune yet.
"""

from __future__ import annotations

from aiohttp import web

from dockyard.api.http import json_response
from dockyard.api.routing import Routes
from dockyard.errors import NotFound, Unavailable

NOT_A_SWARM = ("This node is not part of a swarm. To initialize a swarm, use `docker swarm "
               "init`; to join one, use `docker swarm join`.")
NOT_A_SWARM_SHORT = "This node is not part of a swarm"


class StubRouter:
    def register(self, routes: Routes) -> None:
        for prefix in ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs"):
            routes.add("*", prefix, self.swarm)
            routes.add("*", prefix + "/{rest:.*}", self.swarm)
        routes.add("GET", "/plugins", self.plugins)
        routes.add("GET", "/networks/{name}", self.network)
        routes.add("GET", "/volumes/{name}", self.volume)
        routes.add("POST", "/networks/prune", self.networks_prune)
        routes.add("POST", "/build/prune", self.build_prune)

    async def swarm(self, request: web.Request) -> web.Response:
        raise Unavailable(NOT_A_SWARM_SHORT if request.method == "GET" else NOT_A_SWARM)

    async def plugins(self, request: web.Request) -> web.Response:
        return json_response([])

    async def network(self, request: web.Request) -> web.Response:
        raise NotFound(f"network {request.match_info['name']} not found")

    async def volume(self, request: web.Request) -> web.Response:
        raise NotFound(f"get {request.match_info['name']}: no such volume")

    async def networks_prune(self, request: web.Request) -> web.Response:
        return json_response({"NetworksDeleted": None})

    async def build_prune(self, request: web.Request) -> web.Response:
        return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})
