"""The deterministic demo catalog that every shop sandbox starts with.

The same seed gives the same products on every platform, so the demo, the contract tests and the
benchmarks can compare shops. Sandboxes translate these neutral records into their platform's own
representation (Shopify GIDs, WooCommerce ids, Shopware UUIDs).

``generate(n_products)`` builds a small catalog (the demo has 60 products and about 150 variants);
``iter_products(n_variants=...)`` streams a large one for benchmarks without holding it in memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

CURRENCY = "EUR"

_COLLECTIONS = {
    "Shirts": ("Linen shirt", "Oxford shirt", "Flannel shirt", "Denim shirt", "Polo shirt"),
    "Trousers": ("Chinos", "Cargo trousers", "Linen trousers", "Corduroys", "Jeans"),
    "Shoes": ("Canvas sneakers", "Leather boots", "Running shoes", "Loafers", "Sandals"),
    "Accessories": ("Wool scarf", "Leather belt", "Beanie", "Canvas tote", "Sunglasses"),
    "Home": ("Ceramic mug", "Linen napkins", "Scented candle", "Cotton throw", "Espresso cups"),
    "Coffee": ("House espresso", "Single origin Ethiopia", "Decaf Colombia", "Cold brew pack", "Filter blend"),
}
_ADJECTIVES = ("Classic", "Organic", "Everyday", "Premium", "Vintage", "Light", "Heavy", "Slim", "Relaxed", "Travel")
_BRANDS = ("Nordkind", "Halden & Co", "Ostwerk", "Lumen", "Kaffeewerk")
_SIZES = ("S", "M", "L", "XL")
_COLORS = ("black", "navy", "olive", "sand", "white")


@dataclass(slots=True)
class SeedVariant:
    key: int  # unique across the catalog; sandboxes derive their platform ids from it
    sku: str
    price: Decimal
    stock: int
    options: dict[str, str] = field(default_factory=dict)
    sale_price: Decimal | None = None


@dataclass(slots=True)
class SeedProduct:
    key: int
    title: str
    handle: str
    description: str
    brand: str
    collection: str
    variants: list[SeedVariant]
    published: bool = True

    @property
    def image_file(self) -> str:
        """The product photo's file name; each shop sandbox serves it under its own media path."""
        return f"{self.handle}.png"


def _product(rng: random.Random, key: int, variant_key: int, n_variants: int) -> SeedProduct:
    collection = rng.choice(list(_COLLECTIONS))
    noun = rng.choice(_COLLECTIONS[collection])
    title = f"{rng.choice(_ADJECTIVES)} {noun.lower() if key % 2 else noun}".strip()
    title = title[0].upper() + title[1:]
    handle = f"{title.lower().replace(' ', '-').replace('&', 'and')}-{key}"
    base = Decimal(rng.randrange(900, 12900)) / 100
    sizes = list(_SIZES)
    colors = list(_COLORS)
    variants = []
    for i in range(n_variants):
        options: dict[str, str] = {}
        if n_variants > 1:
            options = {"size": sizes[i % len(sizes)], "color": colors[(i // len(sizes)) % len(colors)]}
        # About one variant in eight is sold out and one in six is on sale: the demo shows both.
        stock = 0 if rng.random() < 0.125 else rng.randrange(1, 60)
        sale = (base * Decimal("0.8")).quantize(Decimal("0.01")) if rng.random() < 0.16 else None
        sku = f"CS-{key:05d}-{i + 1:02d}"
        variants.append(
            SeedVariant(key=variant_key + i, sku=sku, price=base, stock=stock, options=options, sale_price=sale)
        )
    brand = rng.choice(_BRANDS)
    description = f"{title} by {brand}. Part of our {collection.lower()} range, made to last and easy to care for."
    return SeedProduct(
        key=key,
        title=title,
        handle=handle,
        description=description,
        brand=brand,
        collection=collection,
        variants=variants,
    )


def iter_products(
    *, n_variants: int | None = None, n_products: int | None = None, seed: int = 42
) -> Iterator[SeedProduct]:
    """Stream products until ``n_products`` products or ``n_variants`` variants have been produced."""
    if (n_variants is None) == (n_products is None):
        raise ValueError("give exactly one of n_variants or n_products")
    rng = random.Random(seed)
    produced_variants = 0
    key = 1
    while True:
        if n_products is not None and key > n_products:
            return
        remaining = None if n_variants is None else n_variants - produced_variants
        if remaining is not None and remaining <= 0:
            return
        count = rng.choice((1, 1, 2, 3, 4))
        if remaining is not None:
            count = min(count, remaining)
        yield _product(rng, key, produced_variants + 1, count)
        produced_variants += count
        key += 1


def generate(n_products: int = 60, seed: int = 42) -> list[SeedProduct]:
    """The demo catalog: ``n_products`` products (default 60), with one to four variants each."""
    return list(iter_products(n_products=n_products, seed=seed))
