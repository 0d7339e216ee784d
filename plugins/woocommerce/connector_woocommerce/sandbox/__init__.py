"""A local WooCommerce (REST API v3) for tests, the demo and benchmarks."""

from .sandbox import WooCommerceSandbox

__all__ = ["WooCommerceSandbox"]
