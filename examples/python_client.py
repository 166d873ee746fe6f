"""The Python client (rpc_fulfillment.client) in a few steps: products with stock, an order,
info and search, edit, comment, hold and unhold, a fault handled, cancel.

    RPCF_URL=http://127.0.0.1:8080/api/jsonrpc RPCF_USER=demo RPCF_KEY=YOUR_API_KEY \
        python examples/python_client.py

The user needs the admin role (the demo user of `rpc-fulfillment serve` has it): creating
products is the merchant's job and stock the warehouse's. Run it as often as you like: the
products are created once, each run makes a new order.
"""

from __future__ import annotations

import os
import sys
import time

from rpc_fulfillment.client import AlreadyExists, Client, NotFound, RpcError

URL = os.environ.get("RPCF_URL", "http://127.0.0.1:8080/api/jsonrpc")
USERNAME = os.environ.get("RPCF_USER", "demo")
API_KEY = os.environ.get("RPCF_KEY", "")

ADDRESS = {
    "firstname": "Ada", "lastname": "Lovelace", "street1": "1 Main St", "city": "Boston",
    "region": "MA", "postcode": "02134", "country": "US", "email": "ada@example.com",
}


def main() -> int:
    if not API_KEY:
        print("set RPCF_KEY (and RPCF_URL, RPCF_USER) first", file=sys.stderr)
        return 2
    # One client: it logs in on the first call, keeps the session, and logs in again by
    # itself if the session expires. The context manager closes its connections.
    with Client(URL, USERNAME, API_KEY, timeout=30) as client:
        for sku, name in (("EXAMPLE-MUG", "Example mug"), ("EXAMPLE-TEE", "Example T-shirt")):
            try:
                client.call("product.create", [sku, {"name": name}])
                print(f"created product {sku}")
            except AlreadyExists:
                print(f"product {sku} exists already")
            stock = client.call("inventory.adjust", [sku, 1, 10, "examples/python_client.py"])
            print(f"{sku}: {stock['qty_available']} available")

        unique_id = f"PY-{int(time.time() * 1000)}"
        order = client.order.create(
            [{"sku": "EXAMPLE-MUG", "qty": 1}, {"sku": "EXAMPLE-TEE", "qty": 2}],
            ADDRESS,
            {"unique_id": unique_id, "order_ref": unique_id, "shipping_method": "ups_03"},
        )
        print(f"order {order['unique_id']}: {order['status']}")

        info = client.order.info(unique_id, ["status", "order_ref", "items"])
        print(f"order.info: status {info['status']}, {len(info['items'])} lines")
        found = client.order.search({"order_ref": unique_id}, {"limit": 5}, ["status"])
        print(f"order.search: {found['totalCount']} found")

        client.order.edit(unique_id, info={"note": "Leave at the front desk"})
        client.order.comment(unique_id, "Customer called: gift wrap")
        client.order.hold(unique_id)
        print(f"held: {client.order.info(unique_id, ['status'])['status']}")
        client.order.unhold(unique_id)

        try:
            client.order.hold("NO-SUCH-ORDER")
        except NotFound as fault:  # an RpcFault: fault number, message, data
            print(f"expected fault {fault.fault}: {fault.message}")

        result = client.order.cancel(unique_id, {"all_items": True}, ["status"])
        print(f"canceled: {result['success']}, status {result['order']['status']}")
        client.end_session()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RpcError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
