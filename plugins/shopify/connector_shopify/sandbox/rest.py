"""REST-shaped JSON of sandbox records: the bodies of Shopify's webhooks (they keep the REST shapes)."""

from __future__ import annotations

from typing import Any

from connector_shopify.sandbox.store import LOCATION_ID, gid_num, iso, now


def _num(value: str | None) -> int | None:
    return gid_num(value) if value else None


def variant_json(variant: dict[str, Any]) -> dict[str, Any]:
    options = [o["value"] for o in variant["selectedOptions"]] + [None, None, None]
    return {
        "id": variant["_num"],
        "product_id": variant["_product"]["_num"],
        "title": variant["title"],
        "price": variant["price"],
        "compare_at_price": variant["compareAtPrice"],
        "sku": variant["sku"],
        "position": variant["position"],
        "inventory_policy": variant["inventoryPolicy"].lower(),
        "option1": options[0],
        "option2": options[1],
        "option3": options[2],
        "barcode": variant["barcode"],
        "created_at": variant["createdAt"],
        "updated_at": variant["updatedAt"],
        "taxable": True,
        "inventory_item_id": variant["inventoryItem"]["_num"],
        "inventory_quantity": variant["inventoryQuantity"],
        "old_inventory_quantity": variant["inventoryQuantity"],
        "image_id": None,
        "admin_graphql_api_id": variant["id"],
    }


def product_json(product: dict[str, Any]) -> dict[str, Any]:
    image = product["featuredMedia"]["image"]
    image_json = {
        "id": product["_num"],
        "product_id": product["_num"],
        "position": 1,
        "alt": image["altText"],
        "src": image["url"],
        "variant_ids": [],
        "admin_graphql_api_id": f"gid://shopify/ProductImage/{product['_num']}",
    }
    variants = product["_variants"]
    return {
        "id": product["_num"],
        "title": product["title"],
        "body_html": product["descriptionHtml"],
        "vendor": product["vendor"],
        "product_type": product["productType"],
        "created_at": product["createdAt"],
        "handle": product["handle"],
        "updated_at": product["updatedAt"],
        "published_at": product["createdAt"] if product["status"] == "ACTIVE" else None,
        "template_suffix": None,
        "published_scope": "web",
        "tags": ", ".join(product["tags"]),
        "status": product["status"].lower(),
        "admin_graphql_api_id": product["id"],
        "variants": [variant_json(v) for v in variants],
        "options": [
            {
                "id": product["_num"] * 10 + i,
                "product_id": product["_num"],
                "name": option["name"],
                "position": i + 1,
                "values": sorted({v["selectedOptions"][i]["value"] for v in variants}),
            }
            for i, option in enumerate(product["options"])
        ],
        "images": [image_json],
        "image": image_json,
    }


def inventory_level_json(variant: dict[str, Any]) -> dict[str, Any]:
    item = variant["inventoryItem"]
    return {
        "inventory_item_id": item["_num"],
        "location_id": LOCATION_ID,
        "available": variant["inventoryQuantity"] if item["tracked"] else None,
        "updated_at": variant["updatedAt"],
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{LOCATION_ID}?inventory_item_id={item['_num']}",
    }


def address_json(address: dict[str, Any] | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {
        "first_name": address.get("firstName"),
        "last_name": address.get("lastName"),
        "name": address.get("name"),
        "company": address.get("company"),
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "zip": address.get("zip"),
        "province": address.get("province"),
        "province_code": address.get("provinceCode"),
        "country": address.get("country"),
        "country_code": address.get("countryCodeV2"),
        "phone": address.get("phone"),
        "latitude": None,
        "longitude": None,
    }


def fulfillment_json(order: dict[str, Any], fulfillment: dict[str, Any]) -> dict[str, Any]:
    tracking = fulfillment["_trackingInfo"]
    return {
        "id": fulfillment["_num"],
        "order_id": order["_num"],
        "status": fulfillment["status"].lower(),
        "created_at": fulfillment["createdAt"],
        "updated_at": fulfillment["updatedAt"],
        "service": "manual",
        "location_id": LOCATION_ID,
        "shipment_status": fulfillment["_shipment_status"],
        "tracking_company": tracking[0]["company"] if tracking else None,
        "tracking_number": tracking[0]["number"] if tracking else None,
        "tracking_numbers": [t["number"] for t in tracking],
        "tracking_url": tracking[0]["url"] if tracking else None,
        "tracking_urls": [t["url"] for t in tracking if t["url"]],
        "name": fulfillment["name"],
        "admin_graphql_api_id": fulfillment["id"],
        "line_items": [line_item_json(line) for line in order["_lines"]],
    }


def fulfillment_event_json(order: dict[str, Any], fulfillment: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event["_num"],
        "fulfillment_id": fulfillment["_num"],
        "order_id": order["_num"],
        "status": event["status"].lower(),
        "message": event.get("message"),
        "happened_at": event["happenedAt"],
        "city": None,
        "province": None,
        "country": None,
        "zip": None,
        "address1": None,
        "latitude": None,
        "longitude": None,
        "shop_id": 1,
        "created_at": event["happenedAt"],
        "updated_at": event["happenedAt"],
        "estimated_delivery_at": None,
        "admin_graphql_api_id": event["id"],
    }


def line_item_json(line: dict[str, Any]) -> dict[str, Any]:
    variant = line["variant"]
    return {
        "id": line["_num"],
        "admin_graphql_api_id": line["id"],
        "variant_id": variant["_num"] if variant else None,
        "product_id": variant["_product"]["_num"] if variant else None,
        "product_exists": variant is not None,
        "title": line["title"],
        "name": line["name"],
        "variant_title": variant["title"] if variant else None,
        "sku": line["sku"],
        "quantity": line["quantity"],
        "price": line["originalUnitPriceSet"]["shopMoney"]["amount"],
        "price_set": line["originalUnitPriceSet"],
        "fulfillable_quantity": line["_fulfillable"],
        "fulfillment_status": None if line["_fulfillable"] else "fulfilled",
    }


def order_json(order: dict[str, Any]) -> dict[str, Any]:
    total = order["totalPriceSet"]["shopMoney"]["amount"]
    return {
        "id": order["_num"],
        "admin_graphql_api_id": order["id"],
        "name": order["name"],
        "order_number": int(order["name"].lstrip("#")),
        "number": int(order["name"].lstrip("#")) - 1000,
        "email": order["email"],
        "contact_email": order["email"],
        "phone": order["phone"],
        "created_at": order["createdAt"],
        "updated_at": order["updatedAt"],
        "processed_at": order["createdAt"],
        "cancelled_at": order["cancelledAt"],
        "closed_at": None,
        "currency": order["currencyCode"],
        "presentment_currency": order["currencyCode"],
        "total_price": total,
        "subtotal_price": order["subtotalPriceSet"]["shopMoney"]["amount"],
        "total_shipping_price_set": order["totalShippingPriceSet"],
        "total_price_set": order["totalPriceSet"],
        "total_outstanding": total if order["displayFinancialStatus"] == "PENDING" else "0.00",
        "financial_status": order["displayFinancialStatus"].lower(),
        "fulfillment_status": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(
            order["displayFulfillmentStatus"]
        ),
        "source_name": order["sourceName"],
        "source_identifier": order["sourceIdentifier"],
        "tags": ", ".join(order["tags"]),
        "note": order["note"],
        "note_attributes": [{"name": a["key"], "value": a["value"]} for a in order["customAttributes"]],
        "order_status_url": order["statusPageUrl"],
        "test": False,
        "line_items": [line_item_json(line) for line in order["_lines"]],
        "shipping_address": address_json(order["shippingAddress"]),
        "billing_address": address_json(order["shippingAddress"]),
        "fulfillments": [fulfillment_json(order, f) for f in order["_fulfillments"]],
        "customer": {
            "id": order["_num"] + 1,
            "email": order["email"],
            "phone": order["phone"],
            "first_name": (order["shippingAddress"] or {}).get("firstName"),
            "last_name": (order["shippingAddress"] or {}).get("lastName"),
        },
    }


def checkout_line_json(line: dict[str, Any]) -> dict[str, Any]:
    variant = line["variant"]
    return {
        "key": f"{line['_num']:x}",
        "product_id": variant["_product"]["_num"],
        "variant_id": variant["_num"],
        "title": line["title"],
        "variant_title": line["variantTitle"],
        "presentment_title": line["title"],
        "presentment_variant_title": line["variantTitle"],
        "sku": line["sku"],
        "quantity": line["quantity"],
        "price": line["originalUnitPriceSet"]["shopMoney"]["amount"],
        "line_price": line["originalTotalPriceSet"]["shopMoney"]["amount"],
        "variant_price": line["originalUnitPriceSet"]["shopMoney"]["amount"],
        "compare_at_price": None,
        "requires_shipping": True,
        "taxable": True,
        "gift_card": False,
        "grams": 0,
        "vendor": variant["_product"].get("vendor"),
        "properties": {},
        "tax_lines": [],
        "applied_discounts": [],
        "fulfillment_service": "manual",
        "destination_location_id": None,
        "origin_location_id": None,
    }


def checkout_json(checkout: dict[str, Any], currency: str) -> dict[str, Any]:
    """The REST ``checkout`` body of the ``checkouts/create`` and ``checkouts/update`` webhooks."""
    customer = checkout["customer"]
    address = address_json(checkout["shippingAddress"])
    return {
        "id": checkout["_num"],
        "token": checkout["_token"],
        "cart_token": None,
        "email": checkout["_email"],
        "phone": checkout["_phone"],
        "sms_marketing_phone": None,
        "buyer_accepts_marketing": False,
        "buyer_accepts_sms_marketing": False,
        "customer_locale": checkout["_locale"],
        "created_at": checkout["createdAt"],
        "updated_at": checkout["updatedAt"],
        "completed_at": checkout["completedAt"],
        "closed_at": None,
        "name": checkout["name"],
        "note": checkout["note"],
        "note_attributes": [],
        "currency": currency,
        "presentment_currency": currency,
        "source_name": "web",
        "source": None,
        "source_identifier": None,
        "source_url": None,
        "landing_site": None,
        "referring_site": None,
        "taxes_included": checkout["taxesIncluded"],
        "total_weight": 0,
        "subtotal_price": checkout["subtotalPriceSet"]["shopMoney"]["amount"],
        "total_line_items_price": checkout["totalLineItemsPriceSet"]["shopMoney"]["amount"],
        "total_price": checkout["totalPriceSet"]["shopMoney"]["amount"],
        "total_tax": checkout["totalTaxSet"]["shopMoney"]["amount"],
        "total_discounts": checkout["totalDiscountSet"]["shopMoney"]["amount"],
        "total_duties": None,
        "discount_codes": [],
        "tax_lines": [],
        "shipping_lines": [],
        "line_items": [checkout_line_json(line) for line in checkout["_lines"]],
        "abandoned_checkout_url": checkout["abandonedCheckoutUrl"],
        "billing_address": address,
        "shipping_address": address,
        "customer": {
            "id": int(customer["id"].rsplit("/", 1)[1]),
            "email": customer["email"],
            "phone": customer["phone"],
            "first_name": customer["firstName"],
            "last_name": customer["lastName"],
            "admin_graphql_api_id": customer["id"],
        }
        if customer
        else None,
    }


def shop_json(store: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "name": store.shop["name"],
        "email": store.shop["email"],
        "domain": store.shop_domain,
        "myshopify_domain": store.shop_domain,
        "currency": store.currency,
        "updated_at": iso(now()),
    }
