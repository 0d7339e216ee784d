"""The GraphQL documents the adapter sends (all valid against the 2025-01 Admin schema, without deprecated fields)."""

from __future__ import annotations

PRODUCT_FIELDS = """
  id title handle status description vendor productType onlineStoreUrl hasOnlyDefaultVariant updatedAt
  featuredMedia { preview { image { url } } }
"""
VARIANT_FIELDS = """
  id title sku barcode price compareAtPrice inventoryQuantity inventoryPolicy updatedAt
  selectedOptions { name value }
  image { url }
  inventoryItem { id tracked }
"""

# The connection test reads the granted access scopes in the same round trip (currentAppInstallation needs no scope).
SHOP = """
query Shop {
  shop { name currencyCode myshopifyDomain primaryDomain { url } }
  currentAppInstallation { accessScopes { handle } }
}
"""

VARIANTS_PAGE = f"""
query VariantsPage($first: Int!, $after: String, $query: String) {{
  productVariants(first: $first, after: $after, query: $query) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {VARIANT_FIELDS} product {{ {PRODUCT_FIELDS} }} }}
  }}
}}
"""

PRODUCT_IDS_PAGE = """
query ProductIdsPage($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id }
  }
}
"""

DEFAULT_VARIANTS = """
query DefaultVariants($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Product { id hasOnlyDefaultVariant variants(first: 1) { nodes { id } } } }
}
"""

# Bulk: products with their variants, flattened to JSONL (variants carry __parentId).
BULK_CATALOG = f"""
{{ products {{ edges {{ node {{ {PRODUCT_FIELDS}
  variants {{ edges {{ node {{ {VARIANT_FIELDS} }} }} }} }} }} }} }}
"""

RUN_BULK = """
mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } }
}
"""

BULK_STATUS = """
query BulkStatus($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } }
}
"""

CURRENT_BULK = "query CurrentBulk { currentBulkOperation(type: QUERY) { id status } }"

MONEY = "shopMoney { amount currencyCode }"
ORDER_FIELDS = f"""
  id name email phone createdAt updatedAt cancelledAt closed displayFinancialStatus displayFulfillmentStatus
  tags note sourceIdentifier statusPageUrl
  customAttributes {{ key value }}
  totalPriceSet {{ {MONEY} }}
  subtotalPriceSet {{ {MONEY} }}
  totalShippingPriceSet {{ {MONEY} }}
  paymentCollectionDetails {{ additionalPaymentCollectionUrl }}
  shippingAddress {{ firstName lastName company address1 address2 zip city provinceCode countryCodeV2 phone }}
  lineItems(first: 20) {{ nodes {{
    title quantity sku originalUnitPriceSet {{ {MONEY} }}
    variant {{ id product {{ id hasOnlyDefaultVariant }} }}
  }} }}
  fulfillments(first: 5) {{ id status displayStatus updatedAt trackingInfo(first: 5) {{ company number url }} }}
"""

ORDERS = f"""
query Orders($first: Int!, $query: String) {{
  orders(first: $first, query: $query, sortKey: CREATED_AT, reverse: true) {{ nodes {{ {ORDER_FIELDS} }} }}
}}
"""

ORDER = f"query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"

ORDER_CREATE = f"""
mutation OrderCreate($order: OrderCreateOrderInput!) {{
  orderCreate(order: $order) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field message }} }}
}}
"""

ORDER_UPDATE = f"""
mutation OrderUpdate($input: OrderInput!) {{
  orderUpdate(input: $input) {{ order {{ {ORDER_FIELDS} }} userErrors {{ field message }} }}
}}
"""

WEBHOOKS = """
query Webhooks($callbackUrl: URL!) {
  webhookSubscriptions(first: 100, callbackUrl: $callbackUrl) { nodes { id topic } }
}
"""

WEBHOOK_CREATE = """
mutation WebhookCreate($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}
"""

# Abandoned checkouts (since 2024-10; replaces REST checkouts.json): the source of checkout recovery besides the
# checkouts/* webhooks. Name and phone come from the addresses (``customer`` is null for app checkouts).
ABANDONED_CHECKOUTS = """
query AbandonedCheckouts($first: Int!, $after: String, $query: String) {
  abandonedCheckouts(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name abandonedCheckoutUrl completedAt createdAt updatedAt
      totalPriceSet { shopMoney { amount currencyCode } }
      billingAddress { firstName lastName phone countryCodeV2 }
      shippingAddress { firstName lastName phone countryCodeV2 }
      lineItems(first: 25) {
        nodes { title quantity variant { id } originalUnitPriceSet { shopMoney { amount currencyCode } } }
      }
    }
  }
}
"""
