"""What the WooCommerce sandbox stores: products and variations as WordPress posts, and their REST v3 JSON."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def now() -> datetime:
    """WordPress keeps post times to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def wp_date(moment: datetime) -> str:
    """WooCommerce dates: ISO 8601 without an offset (the site runs on UTC, so local == GMT)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def wc_money(value: Decimal | None) -> str:
    """Money as WooCommerce serialises it: a string, "" when unset."""
    return "" if value is None else f"{value:.2f}"


@dataclass(slots=True)
class Post:
    """A product (``simple``/``variable``) or a ``variation``, as WooCommerce stores it."""

    id: int
    type: str
    name: str
    slug: str
    created: datetime
    modified: datetime
    parent_id: int = 0
    status: str = "publish"
    description: str = ""
    sku: str = ""
    regular_price: Decimal | None = None
    sale_price: Decimal | None = None
    manage_stock: bool | str = False
    stock_quantity: int | None = None
    stock_status: str = "instock"
    image: str | None = None
    categories: list[tuple[int, str]] = field(default_factory=list)
    brand: str | None = None
    attributes: list[dict[str, Any]] = field(default_factory=list)  # variable: name+options; variation: name+option
    variations: list[int] = field(default_factory=list)

    @property
    def on_sale(self) -> bool:
        return self.sale_price is not None and self.regular_price is not None and self.sale_price < self.regular_price

    @property
    def price(self) -> Decimal | None:
        return self.sale_price if self.on_sale else self.regular_price


def _dates(post: Post) -> dict[str, Any]:
    created, modified = wp_date(post.created), wp_date(post.modified)
    return {
        "date_created": created,
        "date_created_gmt": created,
        "date_modified": modified,
        "date_modified_gmt": modified,
    }


def _image(post: Post, image_id: int) -> dict[str, Any] | None:
    if not post.image:
        return None
    created = wp_date(post.created)
    name = post.image.rsplit("/", 1)[-1]
    return {
        "id": image_id,
        "date_created": created,
        "date_created_gmt": created,
        "date_modified": created,
        "date_modified_gmt": created,
        "src": post.image,
        "name": name,
        "alt": "",
    }


def _stock(post: Post) -> dict[str, Any]:
    return {
        "price": wc_money(post.price),
        "regular_price": wc_money(post.regular_price),
        "sale_price": wc_money(post.sale_price) if post.on_sale else "",
        "date_on_sale_from": None,
        "date_on_sale_from_gmt": None,
        "date_on_sale_to": None,
        "date_on_sale_to_gmt": None,
        "on_sale": post.on_sale,
        "purchasable": post.price is not None,
        "virtual": False,
        "downloadable": False,
        "tax_status": "taxable",
        "tax_class": "",
        "manage_stock": post.manage_stock,
        "stock_quantity": post.stock_quantity,
        "stock_status": post.stock_status,
        "backorders": "no",
        "backorders_allowed": False,
        "backordered": False,
        "low_stock_amount": None,
        "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""},
        "shipping_class": "",
        "shipping_class_id": 0,
        "menu_order": 0,
        "meta_data": [],
    }


def permalink(base_url: str, product: Post) -> str:
    return f"{base_url}/product/{product.slug}/"


def variation_permalink(base_url: str, parent: Post, variation: Post) -> str:
    query = "&".join(f"attribute_{a['name']}={a['option']}" for a in variation.attributes)
    return f"{permalink(base_url, parent)}?{query}" if query else permalink(base_url, parent)


def _links(base_url: str, path: str, collection: str, up: str | None = None) -> dict[str, Any]:
    links: dict[str, Any] = {
        "self": [{"href": f"{base_url}/wp-json/wc/v3/{path}"}],
        "collection": [{"href": f"{base_url}/wp-json/wc/v3/{collection}"}],
    }
    if up:
        links["up"] = [{"href": f"{base_url}/wp-json/wc/v3/{up}"}]
    return links


def product_json(base_url: str, post: Post, variations: list[Post] | None = None) -> dict[str, Any]:
    """``GET /products/<id>`` for a simple or variable product."""
    body: dict[str, Any] = {
        "id": post.id,
        "name": post.name,
        "slug": post.slug,
        "permalink": permalink(base_url, post),
        **_dates(post),
        "type": post.type,
        "status": post.status,
        "featured": False,
        "catalog_visibility": "visible",
        "description": f"<p>{post.description}</p>" if post.description else "",
        "short_description": "",
        "sku": post.sku,
        **_stock(post),
        "total_sales": 0,
        "external_url": "",
        "button_text": "",
        "sold_individually": False,
        "shipping_required": True,
        "shipping_taxable": True,
        "reviews_allowed": True,
        "average_rating": "0.00",
        "rating_count": 0,
        "upsell_ids": [],
        "cross_sell_ids": [],
        "parent_id": 0,
        "purchase_note": "",
        "categories": [{"id": cid, "name": name, "slug": name.lower()} for cid, name in post.categories],
        "brands": [
            {"id": 1000 + zlib.crc32(post.brand.encode()) % 1000, "name": post.brand, "slug": post.brand.lower()}
        ]
        if post.brand
        else [],
        "tags": [],
        "images": [img] if (img := _image(post, post.id + 500_000_000)) else [],
        "attributes": [
            {
                "id": 0,
                "name": a["name"],
                "slug": a["name"],
                "position": i,
                "visible": True,
                "variation": True,
                "options": a["options"],
            }
            for i, a in enumerate(post.attributes)
        ],
        "default_attributes": [],
        "variations": list(post.variations),
        "grouped_products": [],
        "related_ids": [],
        "has_options": post.type == "variable",
        "_links": _links(base_url, f"products/{post.id}", "products"),
    }
    if post.type == "variable":
        # A variable product's price is its cheapest variation's and its stock status summarises theirs;
        # stock itself is kept per variation.
        prices = [p for v in variations or () if (p := v.price) is not None]
        statuses = {v.stock_status for v in variations or ()}
        stock_status = next((s for s in ("instock", "onbackorder") if s in statuses), "outofstock")
        body.update(
            {
                "price": wc_money(min(prices) if prices else None),
                "regular_price": "",
                "sale_price": "",
                "on_sale": any(v.on_sale for v in variations or ()),
                "purchasable": bool(prices),
                "stock_status": stock_status,
            }
        )
    return body


def variation_json(base_url: str, parent: Post, post: Post) -> dict[str, Any]:
    """``GET /products/<parent>/variations/<id>``."""
    return {
        "id": post.id,
        **_dates(post),
        "description": "",
        "permalink": variation_permalink(base_url, parent, post),
        "sku": post.sku,
        **_stock(post),
        "status": post.status,
        "image": _image(parent if not post.image else post, post.id + 500_000_000),
        "attributes": [{"id": 0, "name": a["name"], "option": a["option"]} for a in post.attributes],
        "_links": _links(
            base_url,
            f"products/{parent.id}/variations/{post.id}",
            f"products/{parent.id}/variations",
            f"products/{parent.id}",
        ),
    }


def variation_as_product_json(base_url: str, parent: Post, post: Post) -> dict[str, Any]:
    """``GET /products/<variation id>``: the products endpoint answers variations in the product shape."""
    suffix = ", ".join(a["option"] for a in post.attributes)
    parent_like = Post(
        id=post.id,
        type="variation",
        name=f"{parent.name} - {suffix}" if suffix else parent.name,
        slug=f"{parent.slug}-{post.id}",
        created=post.created,
        modified=post.modified,
        status=post.status,
        sku=post.sku,
        regular_price=post.regular_price,
        sale_price=post.sale_price,
        manage_stock=post.manage_stock,
        stock_quantity=post.stock_quantity,
        stock_status=post.stock_status,
        image=post.image or parent.image,
        categories=parent.categories,
        brand=parent.brand,
    )
    body = product_json(base_url, parent_like)
    body.update(
        {
            "parent_id": parent.id,
            "permalink": variation_permalink(base_url, parent, post),
            "attributes": [{"id": 0, "name": a["name"], "option": a["option"]} for a in post.attributes],
            "_links": _links(base_url, f"products/{post.id}", "products", f"products/{parent.id}"),
        }
    )
    return body
