"""Approval-flow onboarding shared by the shop plugins: one-time states, whether the platforms can reach this
deployment, and the [onboarding] settings. The flows themselves (Shopify OAuth, WooCommerce's wc-auth, Shopware's
app registration) live in their plugins."""
