"""Faults switched on and off while the reference service runs, for watches and walkthroughs.

Faults chosen with `--fault` hold for the life of the process. A watch needs a service that breaks
partway through, so three faults can also be switched at run time over a demo-only route:

    curl -X PUT    $BASE_URL/_demo/faults/unhealthy    # /health answers 500 from now on
    curl -X DELETE $BASE_URL/_demo/faults/unhealthy    # and 200 again
    curl           $BASE_URL/_demo/faults              # {"active": [...], "switchable": [...]}

Switchable: `unhealthy`, `not_ready` and `slow` (each behaves exactly as its `--fault` form). A fault
given with `--fault` stays on: DELETE cannot switch it off (409). The route is left out of
/openapi.json and needs no key: the service listens on loopback only and exists to be broken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

SWITCHABLE: dict[str, str] = {
    "unhealthy": "/health answers 500",
    "not_ready": "/health/ready answers 503 and names the database as down",
    "slow": "every answer is delayed by slow_ms",
}
ROUTE = "/_demo/faults"


class FaultSwitch:
    """The active faults: those given at start (`base`, fixed) and those switched on since.

    Supports `name in switch`, as the frozenset the routes were given before, so a route that reads
    its fault per request sees a switch at once. One event loop per app: no lock needed.
    """

    def __init__(self, base: Collection[str]) -> None:
        self.base = frozenset(base)
        self.switched: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self.base or name in self.switched

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.base | self.switched))

    def active(self) -> list[str]:
        return sorted(self.base | self.switched)

    def switch(self, name: str, on: bool) -> None:
        """Switch `name` on or off. KeyError for a fault that cannot be switched; ValueError for
        switching off a fault given at start."""
        if name not in SWITCHABLE:
            raise KeyError(name)
        if on:
            self.switched.add(name)
        elif name in self.base:
            raise ValueError(name)
        else:
            self.switched.discard(name)


class SwitchedSlowMiddleware:
    """`slow` switched on at run time: hold every request (but the switch's own) for `delay_s`."""

    def __init__(self, app: ASGIApp, switch: FaultSwitch, delay_s: float) -> None:
        self.app = app
        self.switch = switch
        self.delay_s = delay_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and "slow" in self.switch.switched and "slow" not in self.switch.base
                and not scope["path"].startswith(ROUTE)):
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


def add_switch_routes(app: FastAPI, switch: FaultSwitch) -> None:
    """GET /_demo/faults, PUT and DELETE /_demo/faults/{name} (see the module docstring)."""
    from fastapi.responses import JSONResponse

    def state(status: int = 200) -> JSONResponse:
        return JSONResponse({"active": switch.active(), "switchable": sorted(SWITCHABLE)}, status_code=status)

    @app.get(ROUTE, include_in_schema=False)
    async def faults() -> JSONResponse:
        return state()

    async def change(name: str, on: bool) -> JSONResponse:
        try:
            switch.switch(name, on)
        except KeyError:
            return JSONResponse({"error": "NOT_SWITCHABLE", "switchable": sorted(SWITCHABLE)}, status_code=404)
        except ValueError:
            return JSONResponse({"error": "FIXED_AT_START", "detail": "given with --fault: stays on"}, status_code=409)
        return state()

    @app.put(ROUTE + "/{name}", include_in_schema=False)
    async def switch_on(name: str) -> JSONResponse:
        return await change(name, True)

    @app.delete(ROUTE + "/{name}", include_in_schema=False)
    async def switch_off(name: str) -> JSONResponse:
        return await change(name, False)
