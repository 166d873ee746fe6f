"""A webhook receiver: checks each POST's X-Plugin-Hmac-Sha256 signature and prints the event.

    python examples/webhook_receiver.py --port 8081 --secret change-me     # or env WEBHOOK_SECRET

then register it (README, "Webhooks and events"), with the same secret_key:

    call(session, "webhook.create", [{"url": "http://127.0.0.1:8081/", "topics": ["order:created"],
                                      "secret_key": "change-me", "is_active": true}])

The signature is base64(HMAC-SHA256(secret_key, raw body)), computed over the bytes received,
before parsing. A request without a valid one gets 401 and is not printed. A good one gets 200
at once (the server waits at most 5 s and retries anything else) and one line on stdout:
``<topic> #<webhook_increment_id> <message as JSON>``. Increment ids count 1, 2, 3... per
webhook; deliveries may arrive out of order or twice, so the receiver notes gaps and skips
duplicates. Needs only aiohttp (a dependency of rpc-fulfillment).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import sys

from aiohttp import web

SIGNATURE_HEADER = "X-Plugin-Hmac-Sha256"


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verified(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(signature(secret, body), header)


def make_app(secret: str) -> web.Application:
    seen: set[tuple[str, int]] = set()  # (merchant, increment id) already printed
    highest: dict[str, int] = {}

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()  # the raw bytes: the signature is over exactly these
        if not verified(secret, body, request.headers.get(SIGNATURE_HEADER)):
            print(f"rejected: bad or missing {SIGNATURE_HEADER} ({len(body)} bytes)", flush=True)
            return web.Response(status=401, text="bad signature\n")
        try:
            event = json.loads(body)
            topic, message = event["topic"], event["message"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="not a webhook payload\n")
        merchant = str(event.get("merchant_code", ""))
        increment = message.get("webhook_increment_id", 0)
        if increment and (merchant, increment) in seen:
            print(f"duplicate: {topic} #{increment} (skipped)", flush=True)
            return web.Response(text="ok\n")
        if increment:
            seen.add((merchant, increment))
            if increment > highest.get(merchant, 0) + 1:
                print(f"gap: #{highest.get(merchant, 0) + 1} to #{increment - 1} not received yet", flush=True)
            highest[merchant] = max(highest.get(merchant, 0), increment)
        print(f"{topic} #{increment} {json.dumps(message, sort_keys=True)}", flush=True)
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port (printed)")
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"),
                        help="the webhook's secret_key (env WEBHOOK_SECRET)")
    args = parser.parse_args(argv)
    if not args.secret:
        print("give --secret (or env WEBHOOK_SECRET): the webhook's secret_key", file=sys.stderr)
        return 2

    async def serve() -> None:
        runner = web.AppRunner(make_app(args.secret), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        for host, port in (address[:2] for address in runner.addresses):
            print(f"listening on http://{host}:{port}/", flush=True)
        try:
            await asyncio.Event().wait()  # until Ctrl+C or SIGTERM
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    main_task = loop.create_task(serve())
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, main_task.cancel)
    try:
        loop.run_until_complete(main_task)
    except asyncio.CancelledError:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
