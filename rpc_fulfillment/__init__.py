"""rpc-fulfillment: an order-management server speaking ShipStream's Merchant API."""

__version__ = "0.1.0"
