"""An ASGI wrapper for a local dashboard server: it answers only requests addressed to it by a loopback name
(`Host: 127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`) and never a cross-origin one.

The ZenML server runs without auth on the user's machine (NO_AUTH, like the MLflow UI). Left alone it answers any web
page the user visits: it reflects the caller's Origin with credentials allowed, and takes a foreign Host, so a page on
evil.example (directly, or through DNS rebinding to 127.0.0.1) could read report artifacts and mint download tokens.
The MLflow UI refuses a foreign Host itself; this gives the ZenML server the same, and refuses foreign origins.

    uvicorn ops.loopback_guard:zenml_app --factory   (RADREPORT_GUARD_PORT: the port it serves on)
"""

import os

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(port: int) -> set[str]:
    return {f"{name}:{port}" for name in LOOPBACK_NAMES}


class LoopbackOnly:
    """Refuses (403, no body from the app) a request whose Host is not a loopback name at `port`, or which carries
    an Origin other than the server's own; strips any CORS header the app would send."""

    def __init__(self, app, port: int):
        self.app, self.hosts = app, allowed_hosts(port)
        self.origins = {f"http://{host}" for host in self.hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if headers.get("host", "").lower() not in self.hosts:
            return await refuse(send, "host not allowed")
        if origin is not None and origin.lower() not in self.origins:
            return await refuse(send, "cross-origin requests are not allowed")

        async def send_without_cors(message):
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message.get("headers", [])
                                      if not k.lower().startswith(b"access-control-")]
            await send(message)

        await self.app(scope, receive, send_without_cors)


async def refuse(send, reason: str) -> None:
    body = reason.encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def zenml_app():
    """The ZenML server's app behind the guard (a uvicorn factory)."""
    from zenml.zen_server.zen_server_api import app

    return LoopbackOnly(app, int(os.environ["RADREPORT_GUARD_PORT"]))
