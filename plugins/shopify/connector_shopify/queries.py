"""The GraphQL documents the adapter sends.

Every document validates against the Admin API 2026-10 schema and uses no deprecated field, argument, input field
or enum value (tests/plugins/shopify/test_documents.py checks both).
"""

from __future__ import annotations

PRODUCT_FIELDS = """
  id title handle status description vendor productType onlineStoreUrl hasOnlyDefaultVariant updatedAt
  featuredMedia { preview { image { url } } }
"""
VARIANT_FIELDS = """
  id title sku barcode price compareAtPrice inventoryQuantity inventoryPolicy updatedAt
  selectedOptions { name value }
  media(first: 1) { nodes { preview { image { url } } } }
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

DEFAULT_VARIANTS = """
query DefaultVariants($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Product { id hasOnlyDefaultVariant variants(first: 1) { nodes { id } } } }
}
"""

# Bulk: every variant with its product, flattened to JSONL. Rooted at variants because bulk queries allow
# connections two deep only (products > variants > media would be three); each variant's media lines carry
# its id as __parentId and, with groupObjects, come right after it.
BULK_CATALOG = f"""
{{ productVariants {{ edges {{ node {{ {VARIANT_FIELDS} product {{ {PRODUCT_FIELDS} }} }} }} }} }}
"""

RUN_BULK = """
mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

BULK_STATUS = """
query BulkStatus($id: ID!) {
  node(id: $id) { ... on BulkOperation { id status errorCode objectCount url partialDataUrl } }
}
"""

# currentBulkOperation is deprecated in 2026-10 ("Use `bulkOperations` with status filter instead"); newest first.
RUNNING_BULK = """
query RunningBulk {
  bulkOperations(first: 5, query: "operation_type:query") { nodes { id status } }
}
"""

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
query Webhooks($uri: String!) {
  webhookSubscriptions(first: 100, uri: $uri) { nodes { id topic } }
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

# Incremental reads (connector_shopify.delta): products changed since a moment, with how many variants each has;
# and variants of products whose product fields we already hold (so only `product { id }`).
CHANGED_PRODUCTS = """
query ChangedProducts($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id variantsCount { count } }
  }
}
"""

SIBLING_VARIANTS = f"""
query SiblingVariants($first: Int!, $after: String, $query: String) {{
  productVariants(first: $first, after: $after, query: $query) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {VARIANT_FIELDS} product {{ id }} }}
  }}
}}
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
