"""ShipStream's own PHP client (the middleware's Middleware_JsonClient) driven through the
official OpenMage plugin's sequence against the real server: the import lock with state.get /
state.set, order.search by order_ref, product.search with ``sku in``, order.create with a real
Magento address array, order.comment, a warehouse packing the shipment, the shipment:packed
webhook read as the plugin reads it, shipment.update with the plugin's ``source``, a canceled
packed shipment's shipment:reverted, inventory.list with null and with one SKU, and unlock.

The client is ShipStream's code and stays out of this repository: the test takes it from
RPCF_SHIPSTREAM_JSON_CLIENT, from a ``shared/reference/clients/middleware`` folder beside or
above the checkout, or downloads it (pinned commit) into ~/.cache/rpc-fulfillment; its
Zend_Http_Client base class is our small curl stand-in (tests/php/zend_http_client.php).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from rpc_fulfillment.client import Client
from tests.api.live_server import *  # noqa: F403 (the fixtures live, serve_in_thread...)
from tests.api.test_examples import cannot_run_php, php_problem, products

PHP = Path(__file__).resolve().parent.parent / "php"
REPO = PHP.parent.parent
MIDDLEWARE_COMMIT = "4aa13eb9318b63f5ef00f9153c9ba0b0616df790"
JSON_CLIENT_URL = (f"https://raw.githubusercontent.com/ShipStream/middleware/{MIDDLEWARE_COMMIT}"
                   "/lib/Middleware/JsonClient.php")
TIMEOUT = 60
# Magento 1's order.info shipping_address, as the plugin passes it on (every value a string).
MAGENTO_ADDRESS = {
    "parent_id": "145", "customer_address_id": "31", "quote_address_id": None, "region_id": "12",
    "customer_id": "7", "fax": None, "region": "California", "postcode": "90210", "lastname": "Lovelace",
    "street": "1 Analytical Way\nSuite 200", "city": "Beverly Hills", "email": "ada@example.com",
    "telephone": "310-555-0100", "country_id": "US", "firstname": "Ada", "address_type": "shipping",
    "prefix": None, "middlename": "King", "suffix": None, "company": "Engines Ltd", "vat_id": None,
    "vat_is_valid": None, "vat_request_id": None, "vat_request_date": None, "vat_request_success": None,
    "giftregistry_item_id": None, "address_id": "290",
}
MAGENTO_ORDER = {
    "increment_id": "100000145",
    "shipping_address": MAGENTO_ADDRESS,
    "items": [
        {"item_id": "501", "sku": "MAGE-MUG", "qty_ordered": "2.0000", "qty_canceled": "0.0000",
         "qty_refunded": "0.0000", "qty_shipped": "0.0000"},
        {"item_id": "502", "sku": "MAGE-CUP", "qty_ordered": "1.0000", "qty_canceled": "0.0000",
         "qty_refunded": "0.0000", "qty_shipped": "0.0000"},
    ],
}


def _json_client() -> Path | str:
    """The path of JsonClient.php, or why there is none."""
    given = os.environ.get("RPCF_SHIPSTREAM_JSON_CLIENT")
    if given:
        return Path(given)
    for folder in [REPO, *REPO.parents]:
        candidate = folder / "shared" / "reference" / "clients" / "middleware" / "JsonClient.php"
        if candidate.is_file():
            return candidate
    cached = Path.home() / ".cache" / "rpc-fulfillment" / f"JsonClient-{MIDDLEWARE_COMMIT[:12]}.php"
    if not cached.is_file():
        try:
            with urllib.request.urlopen(JSON_CLIENT_URL, timeout=20) as answer:
                text = answer.read()
        except OSError as exc:
            return f"ShipStream's JsonClient.php is not here and could not be downloaded ({exc}); " \
                   "set RPCF_SHIPSTREAM_JSON_CLIENT to its path"
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(text)
    return cached


@pytest.fixture
def json_client() -> Path:
    problem = php_problem()
    if problem:
        cannot_run_php(problem)
    found = _json_client()
    if isinstance(found, str):
        cannot_run_php(found)
    return found


class Plugin:
    """The plugin's steps (tests/php/openmage_sequence.php) as the merchant's API user."""

    def __init__(self, live: Any, json_client: Path) -> None:
        user = live.users["merchant"]
        self.env = {**os.environ, "RPCF_URL": live.url, "RPCF_USER": user.username, "RPCF_KEY": user.api_key,
                    "SHIPSTREAM_JSON_CLIENT": str(json_client)}

    def step(self, name: str, **given: Any) -> dict[str, Any]:
        done = subprocess.run(["php", str(PHP / "openmage_sequence.php"), name], input=orjson.dumps(given),
                              env=self.env, capture_output=True, timeout=TIMEOUT)
        assert done.returncode == 0, (done.stdout + done.stderr).decode()
        return orjson.loads(done.stdout)


class Receiver:
    """Webhook deliveries by topic, as the plugin's endpoint gets them."""

    def __init__(self) -> None:
        self.messages: dict[str, list[dict[str, Any]]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.messages.setdefault(body["topic"], []).append(body["message"])
        return web.Response(text="ok")

    def wait_for(self, topic: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while not self.messages.get(topic):
            assert time.monotonic() < deadline, f"no {topic} delivered; got {sorted(self.messages)}"
            time.sleep(0.1)
        return self.messages[topic][-1]


def test_the_openmage_plugin_sequence_through_shipstreams_client(live, serve_in_thread, json_client):
    products(live, "MAGE-MUG", "MAGE-CUP", qty=10)
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    hook_url = serve_in_thread(app).base + "/hook"
    merchant, warehouse = live.users["merchant"], live.users["warehouse"]
    with Client(live.url, merchant.username, merchant.api_key) as client:
        client.call("webhook.create", [{"url": hook_url, "is_active": 1, "secret_key": "s3cret",
                                        "topics": "shipment:packed,shipment:shipped,shipment:reverted,"
                                                  "shipment:labels_voided"}])
    plugin = Plugin(live, json_client)

    # The lock: free at first (no value), taken, then seen as taken with its date.
    first = plugin.step("lock")
    assert first["locked"] is True and first["state"] in (None, [], {}) or first["state"]["value"] is None
    second = plugin.step("lock")
    assert second["locked"] is False and second["state"]["value"] == "locked"
    assert second["updated_at"] == second["state"]["updated_at"]
    unlocked = plugin.step("unlock")
    [detail] = unlocked["state"].values()
    # Inserted as "locked" (update_count 0, state.md), changed once to "unlocked".
    assert detail["value"] == "unlocked" and detail["update_count"] == 1

    # Import: searched by order_ref, created from the Magento address array, commented.
    imported = plugin.step("import", magento_order=MAGENTO_ORDER, shipping_method="ups_03")
    assert imported["lock"]["locked"] is True
    assert sorted(imported["product_skus"]) == ["MAGE-CUP", "MAGE-MUG"]
    unique_id = imported["created"]["unique_id"]
    [order] = live.query("SELECT order_id, order_ref, source, status FROM orders WHERE unique_id = $1", unique_id)
    assert (order["order_ref"], order["source"]) == ("100000145", "magento:100000145")
    with Client(live.url, merchant.username, merchant.api_key) as client:
        info = client.call("order.info", [unique_id, ["shipping_address", "items"]])
    address = info["shipping_address"]
    assert address["street"] == "1 Analytical Way\nSuite 200" and address["country"] == "US"
    assert (address["firstname"], address["lastname"], address["region"], address["postcode"]) == (
        "Ada", "Lovelace", "California", "90210")
    assert "customer_address_id" not in address and "vat_id" not in address
    assert {item["sku"]: item["order_item_ref"] for item in info["items"]} == {"MAGE-MUG": "501", "MAGE-CUP": "502"}
    assert live.value("SELECT count(*) FROM order_status_history WHERE order_id = $1 AND comment LIKE "
                      "'Script output%'", order["order_id"]) == 1
    again = plugin.step("import", magento_order=MAGENTO_ORDER, shipping_method="ups_03")
    assert again["existing"] == unique_id

    # The warehouse packs it; the plugin completes the Magento order from shipment:packed.
    with Client(live.url, warehouse.username, warehouse.api_key) as client:
        shipment = client.call("shipment.create", [unique_id])
        client.call("shipment.pack", [shipment["shipment_id"], [{"weight": 1.5, "tracking_numbers": ["1Z999AA10123456784"]}]])
    packed = plugin.step("packed", payload=receiver.wait_for("shipment:packed"), magento_shipment_id="300000077")
    assert packed["unique_id"] == shipment["shipment_id"]
    assert packed["magento_order_id"] == "100000145" and packed["tracker_added"] is True
    assert packed["warehouse_id"] == "1" and packed["update"] in (True, 1)  # the docs' payload: a string
    assert live.value("SELECT source FROM shipments WHERE increment_id = $1", shipment["shipment_id"]) == \
        "magento:300000077#:t"

    # Canceled after packing: shipment:reverted, read for the rollback. The plugin finds its
    # Magento shipment in the payload's external_id: what it stored with shipment.update's source.
    with Client(live.url, warehouse.username, warehouse.api_key) as client:
        client.call("shipment.cancel", [shipment["shipment_id"]])
    reverted = plugin.step("reverted", payload=receiver.wait_for("shipment:reverted"))
    assert reverted["magento_order_id"] == "100000145" and reverted["magento_shipment_id"] == "300000077"
    assert reverted["warehouse_id"] == "1"

    # Inventory, all and one SKU: the order, its shipment canceled, still holds its units
    # (10 on hand less 2 and 1 reserved). Then the plugin's deactivation deletes its state.
    everything = plugin.step("inventory", sku=None)["skus"]
    assert everything == {"MAGE-MUG": 8, "MAGE-CUP": 9}
    assert plugin.step("inventory", sku="MAGE-CUP")["skus"] == {"MAGE-CUP": 9}
    gone = plugin.step("deactivate")
    assert gone["set"] in (True, 1) and gone["state"] is None
