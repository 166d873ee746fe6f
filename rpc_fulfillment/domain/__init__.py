"""The order domain: pure Python, no I/O."""
